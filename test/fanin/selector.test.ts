/**
 * Selector in one process: producers and the selector share the process (futex words are shared
 * mappings either way), so ordering, fairness and bookkeeping can be checked exactly.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { Consumer } from '../../src/api/consumer';
import { Producer } from '../../src/api/producer';
import { MAX_SELECTOR_RINGS, RINGS_PER_WAITER, Selector, SelectorMessage } from '../../src/api/selector';
import { removeSegment, uniqueName } from '../support/names';
import { waitUntil } from './support';
import { sleeperAnnounced } from '../support/waits';

const producers: Producer[] = [];
const selectors: Selector[] = [];
const names: string[] = [];

function ring(tag: string, capacity = 65536): { name: string; producer: Producer } {
  const name = uniqueName(tag);
  names.push(name);
  const producer = Producer.create(name, { capacity });
  producers.push(producer);
  return { name, producer };
}

function selector(options?: ConstructorParameters<typeof Selector>[0]): Selector {
  const s = new Selector(options);
  selectors.push(s);
  return s;
}

afterEach(() => {
  for (const s of selectors.splice(0)) s.close();
  for (const p of producers.splice(0)) p.close();
  for (const name of names.splice(0)) removeSegment(name);
});

/** Collects `count` messages from the iterator, bounded by `timeoutMs`. */
async function take(s: Selector, count: number, timeoutMs = 10000): Promise<SelectorMessage[]> {
  const got: SelectorMessage[] = [];
  if (count === 0) return got;
  const timer = setTimeout(() => s.close(), timeoutMs);
  try {
    for await (const message of s) {
      got.push(message);
      if (got.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return got;
}

describe('Selector (one process)', () => {
  it('delivers every message of several rings, tagged with its ring, in order per ring', async () => {
    const rings = [ring('a'), ring('b'), ring('c')];
    const s = selector();
    for (const r of rings) s.add(r.name);
    rings.forEach((r, i) => {
      for (let seq = 0; seq < 500; seq++) expect(r.producer.send({ i, seq })).toBe(true);
    });
    const got = await take(s, 1500);
    expect(got).toHaveLength(1500);
    rings.forEach((r, i) => {
      const mine = got.filter((m) => m.ring === r.name).map((m) => m.value as { i: number; seq: number });
      expect(mine.map((v) => v.i)).toEqual(new Array(500).fill(i));
      expect(mine.map((v) => v.seq)).toEqual([...Array(500).keys()]);
    });
  });

  it('wakes up for a ring that was idle when the wait began', async () => {
    const rings = [ring('idle1'), ring('idle2')];
    const s = selector({ checkIntervalMs: 60000 });
    for (const r of rings) s.add(r.name);
    const pending = take(s, 1);
    await waitUntil(() => rings.every((r) => sleeperAnnounced(r.name)), 'the selector to fall asleep on both rings');
    rings[1]!.producer.send('late');
    const [message] = await pending;
    expect(message).toEqual({ ring: rings[1]!.name, value: 'late' });
    expect(s.stats.wakeups).toBeGreaterThanOrEqual(1);
  });

  it('takes at most maxBatchPerRing from a flooded ring before serving the others (counts, not time)', async () => {
    const flood = ring('flood', 1 << 20);
    const slow = ring('slow');
    const s = selector({ maxBatchPerRing: 8 });
    s.add(flood.name);
    s.add(slow.name);
    for (let seq = 0; seq < 2000; seq++) flood.producer.send(seq);
    for (let seq = 0; seq < 3; seq++) slow.producer.send(seq);
    const got = await take(s, 2003);
    const slowAt = got.map((m, index) => (m.ring === slow.name ? index : -1)).filter((index) => index >= 0);
    expect(slowAt).toHaveLength(3);
    // Round-robin: whichever ring a round starts with, the slow ring's whole backlog is in round one or two.
    expect(Math.max(...slowAt)).toBeLessThan(2 * 8 + 3);
  });

  it("delivers batches through 'message' events and reports rings added and removed", async () => {
    const a = ring('ev-a');
    const b = ring('ev-b');
    const s = selector({ closeWhenEmpty: false });
    const added: string[] = [];
    const removed: [string, string][] = [];
    s.on('ring-added', (name: string) => added.push(name));
    s.on('ring-removed', (name: string, reason: string) => removed.push([name, reason]));
    s.add(a.name);
    s.add(b.name);
    const got: [unknown, string][] = [];
    s.on('message', (value: unknown, name: string) => got.push([value, name]));
    for (let seq = 0; seq < 100; seq++) a.producer.send(seq);
    b.producer.send('x');
    await waitUntil(() => got.length === 101, '101 messages');
    expect(added).toEqual([a.name, b.name]);
    a.producer.send(100);
    a.producer.close();
    await waitUntil(() => removed.length === 1, 'ring a removed');
    expect(removed[0]).toEqual([a.name, 'closed']);
    expect(got.filter(([, name]) => name === a.name).map(([v]) => v)).toEqual([...Array(101).keys()]);
    expect(s.remove(b.name)).toBe(true);
    expect(s.remove(b.name)).toBe(false);
    expect(removed[1]).toEqual([b.name, 'removed']);
    expect(s.size).toBe(0);
    expect(s.isClosed).toBe(false);
  });

  it('ends iteration once every ring has closed (closeWhenEmpty), after their last message', async () => {
    const rings = [ring('end1'), ring('end2')];
    const s = selector();
    for (const r of rings) s.add(r.name);
    rings.forEach((r) => {
      r.producer.send('last');
      r.producer.close();
    });
    const got: SelectorMessage[] = [];
    for await (const message of s) got.push(message);
    expect(got.map((m) => m.value)).toEqual(['last', 'last']);
    expect(s.isClosed).toBe(true);
  });

  it('keeps the rest of a batch for the next loop when a for-await loop breaks', async () => {
    const r = ring('brk');
    const s = selector();
    s.add(r.name);
    for (let seq = 0; seq < 10; seq++) r.producer.send(seq);
    const first = await take(s, 3);
    const rest = await take(s, 7);
    expect([...first, ...rest].map((m) => m.value)).toEqual([...Array(10).keys()]);
  });

  it('watches more rings than one futex_waitv can by sharding them over waiter threads', async () => {
    const count = RINGS_PER_WAITER + 13;
    const rings = Array.from({ length: count }, (_, i) => ring(`shard${i}`, 4096));
    const s = selector({ checkIntervalMs: 60000 });
    for (const r of rings) s.add(r.name);
    // First a wait on every ring, then one message per ring, the last ring (second shard) first.
    const first = take(s, 1);
    await waitUntil(() => rings.every((r) => sleeperAnnounced(r.name)), 'the selector to fall asleep on every ring');
    rings[count - 1]!.producer.send('from the second shard');
    expect((await first)[0]).toEqual({ ring: rings[count - 1]!.name, value: 'from the second shard' });
    expect(s.stats.waiterThreads).toBe(2);
    rings.forEach((r, i) => i < count - 1 && r.producer.send(i));
    const got = await take(s, count - 1);
    expect(new Set(got.map((m) => m.ring)).size).toBe(count - 1);
  });

  it('takes an open Consumer, and drops it if it is closed behind its back', async () => {
    const r = ring('own');
    const consumer = Consumer.open(r.name);
    const s = selector({ closeWhenEmpty: false });
    expect(s.add(consumer)).toBe(consumer);
    expect(s.consumer(r.name)).toBe(consumer);
    const removed: string[] = [];
    s.on('ring-removed', (_name: string, reason: string) => removed.push(reason));
    r.producer.send(1);
    expect(await take(s, 1)).toEqual([{ ring: r.name, value: 1 }]);
    consumer.close();
    r.producer.send(2);
    void take(s, 1, 2000);
    await waitUntil(() => removed.length === 1, 'the closed consumer to be dropped');
    expect(removed).toEqual(['removed']);
  });

  it('polls a ring its producer cannot wake (an untethered consumer left without a slot)', async () => {
    const name = uniqueName('slotless');
    names.push(name);
    const producer = Producer.create(name, { capacity: 4096, maxConsumers: 1 });
    producers.push(producer);
    const holder = Consumer.open(name, { tethered: false }); // takes the only slot
    try {
      const s = selector({ checkIntervalMs: 60000 });
      s.add(name, { tethered: false });
      const pending = take(s, 1);
      await waitUntil(() => sleeperAnnounced(name), 'the selector to fall asleep');
      producer.send('found by polling');
      expect(await pending).toEqual([{ ring: name, value: 'found by polling' }]);
    } finally {
      holder.close();
    }
  });

  it('rejects misuse before opening anything', () => {
    expect(() => new Selector({ maxBatch: 5 } as never)).toThrow(TypeError);
    expect(() => new Selector({ maxBatchPerRing: 0 })).toThrow(RangeError);
    expect(() => new Selector({ checkIntervalMs: -1 })).toThrow(RangeError);
    const r = ring('dup');
    const s = selector();
    s.add(r.name);
    expect(() => s.add(r.name)).toThrow(RangeError);
    expect(() => s.add('no-slash')).toThrow(TypeError);
    expect(() => s.add(42 as never)).toThrow(TypeError);
    expect(() => s.follow('telemetry.')).toThrow(TypeError);
    expect(MAX_SELECTOR_RINGS).toBeGreaterThanOrEqual(64);
    s.close();
    s.close();
    expect(() => s.add(r.name)).toThrow(/closed/);
  });

  it('lets the process exit while waiting when unref()ed', () => {
    const r = ring('unref');
    const dist = path.join(__dirname, '..', '..', 'dist');
    const script = `
      const { Selector } = require(${JSON.stringify(path.join(dist, 'api', 'selector'))});
      const s = new Selector().unref();
      s.add(${JSON.stringify(r.name)});
      s.on('message', () => {});
      setTimeout(() => console.log('still here'), 100);
    `;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15000 });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('still here\n');
    expect(result.status).toBe(0);
  });
});
