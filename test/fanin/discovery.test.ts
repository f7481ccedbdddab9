/**
 * Discovery: a selector following a prefix finds rings that exist and rings created later, skips what is
 * not a ring (once, with a warning), and never adds an instance again after it was dropped.
 * Each test uses its own prefix, so concurrent tests (and jest workers) never see each other's rings.
 */
import * as fs from 'fs';
import { probeRing } from '../../src/api/discovery';
import { Producer } from '../../src/api/producer';
import { Selector } from '../../src/api/selector';
import { uniqueName } from '../support/names';
import { killAllProducers, newPrefix, removeTrackedPrefixes, segmentsWithPrefix, startProducer, waitUntil } from './support';

const selectors: Selector[] = [];
const producers: Producer[] = [];

function produce(name: string): Producer {
  const producer = Producer.create(name, { capacity: 4096 });
  producers.push(producer);
  return producer;
}

interface Log {
  messages: [string, unknown][];
  added: string[];
  removed: [string, string][];
  warnings: { code?: string; segment?: string }[];
}

function following(prefix: string, options: Parameters<typeof Selector.follow>[1] = {}): { selector: Selector; log: Log } {
  const selector = Selector.follow(prefix, { closeWhenEmpty: false, ...options });
  selectors.push(selector);
  const log: Log = { messages: [], added: [], removed: [], warnings: [] };
  selector.on('message', (value: unknown, ring: string) => log.messages.push([ring, value]));
  selector.on('ring-added', (ring: string) => log.added.push(ring));
  selector.on('ring-removed', (ring: string, reason: string) => log.removed.push([ring, reason]));
  selector.on('warning', (error: { code?: string; segment?: string }) => log.warnings.push(error));
  return { selector, log };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(async () => {
  for (const s of selectors.splice(0)) s.close();
  for (const p of producers.splice(0)) p.close();
  await killAllProducers();
  removeTrackedPrefixes();
});

describe('Selector#follow (discovery)', () => {
  it('adds the rings that exist, then the ones created later, and reads each from its first message', async () => {
    const prefix = newPrefix('disc');
    const before = produce(`${prefix}before`);
    before.send('sent before following');
    produce(`${uniqueName('other')}`).send('another prefix: never followed');
    const { selector, log } = following(prefix);
    expect(selector.rings).toEqual([]); // the first scan runs on the next tick, after listeners are attached
    await new Promise((resolve) => process.nextTick(resolve));
    expect(selector.rings).toEqual([`${prefix}before`]);
    const later = produce(`${prefix}later`);
    later.send('sent before discovery');
    await waitUntil(() => log.messages.length === 2, 'both messages');
    expect(log.added).toEqual([`${prefix}before`, `${prefix}later`]);
    expect(new Map(log.messages)).toEqual(
      new Map([
        [`${prefix}before`, 'sent before following'],
        [`${prefix}later`, 'sent before discovery'],
      ]),
    );
  });

  it('finds new rings by rescanning alone (fs.watch off)', async () => {
    const prefix = newPrefix('rescan');
    const { log } = following(prefix, { watch: false, rescanIntervalMs: 50 });
    await sleep(20); // after the first scan
    produce(`${prefix}x`).send(1);
    await waitUntil(() => log.messages.length === 1, 'the message of a ring found by rescanning');
  });

  it('reports a file that is not a ring once and a segment that stays empty once, and keeps going', async () => {
    const prefix = newPrefix('junk');
    fs.writeFileSync(`/dev/shm${prefix}junk`, Buffer.alloc(8192, 0x41));
    fs.writeFileSync(`/dev/shm${prefix}empty`, '');
    fs.writeFileSync(`/dev/shm${prefix}tiny`, 'abc');
    expect(probeRing(`${prefix}junk`).kind).toBe('not-a-ring');
    expect(probeRing(`${prefix}empty`).kind).toBe('initialising');
    const { selector, log } = following(prefix, { rescanIntervalMs: 30, initTimeoutMs: 100 });
    produce(`${prefix}ring`).send('ok');
    await waitUntil(() => log.warnings.length === 3 && log.messages.length === 1, 'three warnings and the message');
    await sleep(200); // several rescans: no repeated warnings
    const bySegment = Object.fromEntries(log.warnings.map((w) => [w.segment, w.code]));
    expect(bySegment).toEqual({
      [`${prefix}junk`]: 'NOT_A_RING',
      [`${prefix}tiny`]: 'NOT_A_RING',
      [`${prefix}empty`]: 'INIT_TIMEOUT',
    });
    expect(log.warnings).toHaveLength(3);
    expect(selector.rings).toEqual([`${prefix}ring`]);
  });

  it('does not add a dropped ring again, but does add it once it is re-created', async () => {
    const prefix = newPrefix('again');
    const name = `${prefix}r`;
    const first = produce(name);
    first.send('first instance');
    const { selector, log } = following(prefix, { rescanIntervalMs: 30 });
    await waitUntil(() => log.messages.length === 1, 'the first message');
    expect(selector.remove(name)).toBe(true);
    first.send('not read: the ring was removed');
    await sleep(150); // several rescans
    expect(selector.has(name)).toBe(false);
    expect(log.added).toEqual([name]);
    first.close(); // unlinks the name
    produce(name).send('second instance');
    await waitUntil(() => log.messages.length === 2, 'the message of the re-created ring');
    expect(log.messages.map(([, value]) => value)).toEqual(['first instance', 'second instance']);
    expect(log.added).toEqual([name, name]);
  });

  it('unlinks a ring whose producer was killed once it was drained (unlinkDead)', async () => {
    const prefix = newPrefix('dead');
    const name = `${prefix}victim`;
    const { log } = following(prefix, { unlinkDead: true, checkIntervalMs: 200, rescanIntervalMs: 50 });
    const victim = startProducer({ names: [name], count: 20, mode: 'hang' });
    await victim.report('sent');
    victim.child.kill('SIGKILL');
    await victim.exited;
    await waitUntil(() => log.removed.length === 1, 'the dead ring to be dropped');
    expect(log.removed).toEqual([[name, 'producer-died']]);
    expect(log.messages.map(([, value]) => (value as { seq: number }).seq)).toEqual([...Array(20).keys()]);
    expect(segmentsWithPrefix(prefix)).toEqual([]);
    await sleep(150);
    expect(log.added).toEqual([name]);
  });

  it('rejects bad prefixes and misspelled options', () => {
    expect(() => Selector.follow('telemetry.')).toThrow(TypeError);
    expect(() => Selector.follow('/a/b')).toThrow(TypeError);
    expect(() => Selector.follow('/x.', { rescan: 5 } as never)).toThrow(TypeError);
    expect(() => Selector.follow('/x.', { rescanIntervalMs: -5 })).toThrow(RangeError);
  });
});
