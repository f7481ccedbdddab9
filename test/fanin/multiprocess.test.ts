/**
 * Fan-in across real processes: producer children (test/fixtures/fanin-producer.js) ─▶ one ring each ─▶
 * one Selector in this process, found by discovery (a unique prefix per test).
 */
import { Selector } from '../../src/api/selector';
import { seededRandom } from '../support/random';
import { killAllProducers, newPrefix, ProducerChild, removeTrackedPrefixes, segmentsWithPrefix, startProducer, waitUntil } from './support';

const selectors: Selector[] = [];

afterEach(async () => {
  for (const s of selectors.splice(0)) s.close();
  await killAllProducers();
  removeTrackedPrefixes();
});

interface Received {
  perRing: Map<string, number[]>;
  removed: Map<string, string>;
  warnings: Error[];
}

/** A following selector that records every message's seq per ring, and every removal. */
function collect(prefix: string, options: ConstructorParameters<typeof Selector>[0] = {}): { selector: Selector; received: Received } {
  const selector = new Selector({ closeWhenEmpty: false, ...options });
  selectors.push(selector);
  const received: Received = { perRing: new Map(), removed: new Map(), warnings: [] };
  selector.on('message', (value: unknown, ring: string) => {
    const { id, seq } = value as { id: string; seq: number };
    expect(id).toBe(ring);
    let seqs = received.perRing.get(ring);
    if (seqs === undefined) received.perRing.set(ring, (seqs = []));
    seqs.push(seq);
  });
  selector.on('ring-removed', (ring: string, reason: string) => received.removed.set(ring, reason));
  selector.on('warning', (error: Error) => received.warnings.push(error));
  selector.follow(prefix);
  return { selector, received };
}

function expectExactlyOnceInOrder(received: Received, sent: Record<string, number>): void {
  for (const [ring, count] of Object.entries(sent)) {
    expect({ ring, seqs: received.perRing.get(ring) ?? [] }).toEqual({ ring, seqs: [...Array(count).keys()] });
  }
}

describe('Selector across processes', () => {
  it('receives every message of producers that start and stop at random times exactly once, in order per producer', async () => {
    const seed = Number(process.env.FANIN_SEED ?? Date.now() % 100000);
    console.log(`fan-in random start/stop seed: ${seed} (rerun with FANIN_SEED=${seed})`);
    const random = seededRandom(seed);
    const prefix = newPrefix('churn');
    const { received } = collect(prefix, { maxBatchPerRing: 32 });
    const producerCount = 10;
    const children: ProducerChild[] = [];
    const starts: Promise<void>[] = [];
    for (let i = 0; i < producerCount; i++) {
      const delay = Math.floor(random() * 1500);
      const spec = {
        names: [`${prefix}app${i}`],
        count: 50 + Math.floor(random() * 250),
        seed: Math.floor(random() * 2 ** 31),
        gapMs: 20,
        gapChance: 0.05,
        capacity: 4096 * (1 << Math.floor(random() * 3)),
      };
      starts.push(
        new Promise((resolve) =>
          setTimeout(() => {
            children.push(startProducer(spec));
            resolve();
          }, delay),
        ),
      );
    }
    await Promise.all(starts);
    const codes = await Promise.all(children.map((c) => c.exited));
    for (const c of children) expect(c.stderr()).toBe('');
    expect(codes).toEqual(new Array(producerCount).fill(0));
    const sent: Record<string, number> = Object.assign({}, ...children.map((c) => c.reports.find((r) => r.event === 'done')!.sent));
    expect(Object.keys(sent)).toHaveLength(producerCount);
    await waitUntil(() => received.removed.size === producerCount, 'every ring to be drained and dropped');
    expectExactlyOnceInOrder(received, sent);
    expect([...received.removed.values()]).toEqual(new Array(producerCount).fill('closed'));
    expect(received.warnings).toEqual([]);
    expect(segmentsWithPrefix(prefix)).toEqual([]);
  });

  it('serves a slow ring while another ring floods (the flood never stops meanwhile)', async () => {
    const prefix = newPrefix('fair');
    const { selector, received } = collect(prefix, { maxBatchPerRing: 64 });
    const floodName = `${prefix}flood`;
    const slowName = `${prefix}slow`;
    const flood = startProducer({ names: [floodName], mode: 'flood', capacity: 65536 });
    await flood.report('created');
    await waitUntil(() => (received.perRing.get(floodName)?.length ?? 0) > 5000, 'the flood to be flowing');
    let floodAtSlowEnd = -1;
    selector.on('ring-removed', (ring: string) => {
      if (ring === slowName) floodAtSlowEnd = received.perRing.get(floodName)!.length;
    });
    const slow = startProducer({ names: [slowName], count: 200, gapMs: 5, gapChance: 0.5, seed: 3 });
    expect(await slow.exited).toBe(0);
    await waitUntil(() => received.removed.has(slowName), 'the slow ring to be drained');
    // The flood ring was still there and still delivering when the slow ring had been served completely.
    expect(selector.has(floodName)).toBe(true);
    await waitUntil(() => received.perRing.get(floodName)!.length > floodAtSlowEnd + 1000, 'the flood to go on');
    flood.child.kill('SIGTERM');
    expect(await flood.exited).toBe(0);
    const floodSent = flood.reports.find((r) => r.event === 'done')!.sent;
    await waitUntil(() => received.removed.has(floodName), 'the flood ring to be drained');
    expectExactlyOnceInOrder(received, { ...floodSent, [slowName]: 200 });
    expect(segmentsWithPrefix(prefix)).toEqual([]);
  });

  it('drains a ring whose producer was killed (kill -9), then drops it as producer-died', async () => {
    const prefix = newPrefix('kill');
    const { received } = collect(prefix, { checkIntervalMs: 200 });
    const victim = startProducer({ names: [`${prefix}victim`], count: 300, mode: 'hang' });
    const survivor = startProducer({ names: [`${prefix}survivor`], count: 50, mode: 'hang' });
    const victimSent = (await victim.report('sent')).sent;
    await survivor.report('sent');
    await waitUntil(() => (received.perRing.get(`${prefix}victim`)?.length ?? 0) > 0, 'the victim ring to be read');
    victim.child.kill('SIGKILL');
    await victim.exited;
    await waitUntil(() => received.removed.has(`${prefix}victim`), 'the dead ring to be dropped');
    expect(received.removed.get(`${prefix}victim`)).toBe('producer-died');
    expectExactlyOnceInOrder(received, victimSent);
    // The survivor is untouched; closing it ends its ring normally.
    expect(received.removed.has(`${prefix}survivor`)).toBe(false);
    survivor.child.kill('SIGTERM');
    await survivor.exited;
    await waitUntil(() => received.removed.get(`${prefix}survivor`) === 'closed', 'the survivor ring to close');
    expectExactlyOnceInOrder(received, { [`${prefix}survivor`]: 50 });
    // The killed producer could not unlink its ring (afterEach does); a restarted one would take it over.
    expect(segmentsWithPrefix(prefix)).toEqual([`${prefix}victim`]);
  });

  it('delivers from 64 rings on one selector (4 processes x 16 rings)', async () => {
    const prefix = newPrefix('r64');
    const { selector, received } = collect(prefix, { maxBatchPerRing: 16 });
    // 'hang': every ring stays open after its messages, so all 64 are in the selector at once (with
    // 'close', a ring found early could be drained and dropped before the last one is found).
    const children = Array.from({ length: 4 }, (_, p) =>
      startProducer({
        names: Array.from({ length: 16 }, (_, r) => `${prefix}p${p}r${r}`),
        count: 100,
        capacity: 4096,
        mode: 'hang',
      }),
    );
    await waitUntil(() => children.every((c) => c.reports.some((r) => r.event === 'sent')), 'every ring to be sent to', 20000);
    await waitUntil(() => selector.size === 64, '64 rings in the selector', 20000);
    expect(received.removed.size).toBe(0);
    const sent: Record<string, number> = Object.assign({}, ...children.map((c) => c.reports.find((r) => r.event === 'sent')!.sent));
    expect(Object.keys(sent)).toHaveLength(64);
    await waitUntil(() => Object.entries(sent).every(([ring, n]) => (received.perRing.get(ring)?.length ?? 0) === n), 'every message', 20000);
    expectExactlyOnceInOrder(received, sent);
    // Closing the producers ends every ring normally: drained, then dropped as 'closed'.
    for (const c of children) c.child.kill('SIGTERM');
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0]);
    await waitUntil(() => received.removed.size === 64, 'all 64 rings to be drained and dropped');
    expect([...received.removed.values()].every((reason) => reason === 'closed')).toBe(true);
    expect(selector.stats.waiterThreads).toBeLessThanOrEqual(1); // 64 rings fit one futex_waitv
    expect(segmentsWithPrefix(prefix)).toEqual([]);
  });
});
