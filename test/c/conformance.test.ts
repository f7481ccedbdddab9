/**
 * The C client (native/) against the TypeScript implementation across real processes, every pairing:
 * TS → C, C → TS, C → C (the C → C runs use the AddressSanitizer + UBSan build), tethered and untethered
 * consumers, wrap and padding, zero-length and maximum-length records, loss counted exactly, late joins,
 * kill -9 of a producer inside a write (a producer of the other language takes the ring over: nothing
 * committed lost, nothing duplicated) and of a consumer that holds the producer back.
 *
 * Every payload's bytes derive from its sequence number (test/fixtures/c-peer.js), so each receiver checks
 * every byte it gets, and the sequences tell loss and duplication.
 */
import { readSnapshot } from '../../src/ring/snapshot';
import { buildC, finished, killPeers, Language, runPeer } from '../support/c-client';
import { uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';

const { trackName } = trackRings();
afterEach(killPeers);

beforeAll(() => {
  buildC();
  buildC({ asan: true });
}, 120000);

const CAPACITY = 16384;
/** Largest payload a ring of CAPACITY can take (capacity/2 - 16): forces a padding record before most wraps. */
const MAX_MESSAGE = CAPACITY / 2 - 16;
const LENGTHS = '0,1,15,16,17,100,1000,max';

type Pairing = [producer: Language, consumer: Language];
const PAIRINGS: Pairing[] = [
  ['ts', 'c'],
  ['c', 'ts'],
  ['c-asan', 'c-asan'],
];

function ring(tag: string): string {
  return trackName(uniqueName(tag));
}

/** A producer that created the ring and waits for SIGUSR2 before sending. */
async function startProducer(language: Language, name: string, options: Record<string, string | number>) {
  const producer = runPeer(language, 'send', name, { capacity: CAPACITY, max_message: MAX_MESSAGE, start: 'signal', ...options });
  const ready = await producer.line((line) => line.ready || line.error);
  expect(ready.error).toBeUndefined();
  return producer;
}

async function join(language: Language, name: string, options: Record<string, string | number>) {
  const consumer = runPeer(language, 'recv', name, options);
  const ready = await consumer.line((line) => line.ready || line.error);
  if (ready.error) throw new Error(`join failed: ${consumer.output()}`);
  return consumer;
}

function expectExact(done: any, first: number, last: number): void {
  expect(done).toMatchObject({ received: last - first + 1, lost: 0, gaps: 0, dups: 0, bad: 0, first, last });
}

/**
 * An untethered consumer that joined at sequence 0 of `count` messages: whatever it missed (before its
 * first record, between records, and after its last one: a reader lapped again and again jumps to the
 * tail) is counted as lost, exactly, and nothing it got was damaged or repeated.
 */
function expectLossExact(done: any, count: number): void {
  expect(done).toMatchObject({ bad: 0, dups: 0 });
  expect(done.lost).toBe(done.received === 0 ? count : done.first + done.gaps + (count - 1 - done.last));
  expect(done.received + done.lost).toBe(count);
}

describe.each(PAIRINGS)('%s producer → %s consumers', (producerLanguage, consumerLanguage) => {
  it.each(['wait', 'claim', 'batch'])(
    'delivers every record (lengths 0..max, wraps, padding) to a tethered consumer and counts an untethered one exactly (mode %s)',
    async (mode) => {
      const name = ring('conform');
      const count = 6000;
      const producer = await startProducer(producerLanguage, name, { count, lengths: LENGTHS, mode, unlink: 1 });
      const tethered = await join(consumerLanguage, name, { tethered: 1 });
      const untethered = await join(consumerLanguage, name, { tethered: 0 });
      producer.process.kill('SIGUSR2');
      expect(await finished(producer)).toBeDefined();
      const all = await finished(tethered);
      expect(all.status).toBe('END');
      expectExact(all, 0, count - 1);
      const some = await finished(untethered);
      expect(some.status).toBe('END');
      expectLossExact(some, count);
    },
  );

  // A fast producer (a C producer laps this 16 KiB ring in about 2 µs) laps this reader at every step:
  // it must count its loss exactly and never take the repeated paddings for a corrupt ring (the issue 16
  // interop bug; test/c/lapped-reader.test.ts reproduces it deterministically).
  it('counts exactly what a lapped untethered consumer misses', async () => {
    const name = ring('lapped');
    const count = 20000;
    const producer = await startProducer(producerLanguage, name, { count, lengths: '100,200,max', mode: 'send', unlink: 1 });
    const slow = await join(consumerLanguage, name, { tethered: 0, slow_us: 200 });
    producer.process.kill('SIGUSR2');
    await finished(producer);
    const done = await finished(slow);
    expect(done.status).toBe('END');
    expectLossExact(done, count);
    expect(done.lost).toBeGreaterThan(0); // 20000 records of ~2.8 KB through a 16 KiB ring, 200 µs per record
  });

  it('hands an ABORT reason over: everything before it, then PRODUCER_ABORTED with the JSON payload', async () => {
    const name = ring('abort');
    const producer = await startProducer(producerLanguage, name, { count: 50, close: 'abort', unlink: 1 });
    const consumer = await join(consumerLanguage, name, { tethered: 1 });
    producer.process.kill('SIGUSR2');
    await finished(producer);
    const done = await finished(consumer);
    expect(done.status).toBe('PRODUCER_ABORTED');
    expectExact(done, 0, 49);
    const reason = typeof done.abort === 'string' ? done.abort : JSON.stringify(done.abort);
    expect(reason).toContain('source failed: \\"disk\\"'.replace(/\\/g, consumerLanguage === 'ts' ? '' : '\\'));
    expect(reason).toContain('E_DISK');
  });
});

const OTHER: Record<string, Language> = { ts: 'c', c: 'ts' };

describe.each(['ts', 'c'] as Language[])('a %s producer killed with -9 inside a write', (first) => {
  const second = OTHER[first];
  it(`is taken over by a ${second} producer: nothing committed lost, nothing duplicated, for C and TS consumers`, async () => {
    const name = ring(`takeover-${first}`);
    const before = 700;
    const after = 800;
    const dying = await startProducer(first, name, { count: before + 10, hang_after: before, lengths: LENGTHS, close: 'none' });
    const consumers = [
      await join('c', name, { tethered: 1, restart_ms: 30000 }),
      await join('ts', name, { tethered: 1, restart_ms: 30000 }),
      await join('c', name, { tethered: 0, restart_ms: 30000 }),
    ];
    dying.process.kill('SIGUSR2');
    const inClaim = await dying.line((line) => line.inClaim !== undefined);
    expect(inClaim.inClaim).toBe(before);
    dying.process.kill('SIGKILL');
    await dying.exited;
    const late = await join(first, name, { tethered: 1, from: 'oldest', restart_ms: 30000 });
    const successor = await startProducer(second, name, { count: after, lengths: LENGTHS, unlink: 1 });
    const ready = await successor.line((line) => line.ready);
    expect(ready).toMatchObject({ tookOver: true, next: before });
    successor.process.kill('SIGUSR2');
    await finished(successor);
    for (const consumer of consumers.slice(0, 2)) {
      const done = await finished(consumer);
      expect(done.status).toBe('END');
      expectExact(done, 0, before + after - 1);
    }
    const untethered = await finished(consumers[2]);
    expect(untethered).toMatchObject({ status: 'END', bad: 0, dups: 0 });
    expect(untethered.received + untethered.lost).toBe(before + after);
    // Joined late at the oldest record still in the ring: from there on, everything, once.
    const fromOldest = await finished(late);
    expect(fromOldest).toMatchObject({ status: 'END', lost: 0, gaps: 0, dups: 0, bad: 0, last: before + after - 1 });
    expect(fromOldest.received).toBe(before + after - fromOldest.first);
  });
});

describe.each([
  ['ts', 'c'],
  ['c', 'ts'],
  ['c', 'c'],
] as Pairing[])('a %s producer with a %s consumer killed with -9 while holding it back', (producerLanguage, victimLanguage) => {
  it('reclaims the dead slot and delivers everything to the surviving tethered consumer', async () => {
    const name = ring('victim');
    const count = 3000;
    const producer = await startProducer(producerLanguage, name, { count, lengths: '1000,2000', unlink: 1 });
    const victim = await join(victimLanguage, name, { tethered: 1, slow_us: 1000000 });
    const survivor = await join(producerLanguage === 'ts' ? 'c' : 'ts', name, { tethered: 1 });
    producer.process.kill('SIGUSR2');
    victim.process.kill('SIGKILL');
    await victim.exited;
    const sent = await finished(producer);
    expect(sent).toBeDefined();
    const done = await finished(survivor);
    expect(done.status).toBe('END');
    expectExact(done, 0, count - 1);
  });
});

describe("the TypeScript side's tools on a ring a C producer made", () => {
  it('read its header, identity, positions, counters and a C consumer slot like those of a Node ring', async () => {
    const name = ring('snapshot');
    const producer = await startProducer('c', name, { count: 50, lengths: '10', close: 'none' });
    const consumer = await join('c', name, { tethered: 1, restart_ms: 30000, timeout_ms: 30000 });
    producer.process.kill('SIGUSR2');
    await producer.exited;
    const snapshot = readSnapshot(name);
    expect(snapshot.kind).toBe('ring');
    expect(snapshot.problems.filter((problem) => !/producer|dead|abandon/i.test(problem))).toEqual([]);
    expect(snapshot.layoutVersion).toBe(2);
    expect(snapshot.geometry).toMatchObject({ capacity: CAPACITY, maxMessageLength: MAX_MESSAGE, maxConsumers: 8 });
    expect(snapshot.creator?.pid).toBe(producer.pid);
    expect(snapshot.creator?.startTime).toBeGreaterThan(0);
    expect(snapshot.creator?.pidNamespace).toBeGreaterThan(0);
    expect(snapshot.producer).toMatchObject({ pid: producer.pid, state: 'live', epoch: 0 });
    expect(snapshot.positions).toMatchObject({ publishedTail: 50 * 32, oldest: 0, nextSequence: 50 });
    expect(snapshot.counters).toMatchObject({ messagesSent: 50, bytesSent: 500, takeovers: 0 });
    expect(snapshot.counters?.lastSendAtMs).toBeGreaterThan(Date.now() - 60000);
    expect(snapshot.consumers).toHaveLength(1);
    expect(snapshot.consumers[0]).toMatchObject({ pid: consumer.pid, tethered: true, state: 'active', status: 'alive' });
  });
});

describe('a C consumer whose dead producer is replaced by a ring of another shape', () => {
  it('reads everything the dead producer committed, then fails with RING_REPLACED', async () => {
    const name = ring('replaced');
    const dying = await startProducer('ts', name, { count: 20, close: 'none', lengths: '10' });
    const consumer = await join('c', name, { tethered: 1, restart_ms: 60000, timeout_ms: 30000 });
    dying.process.kill('SIGUSR2');
    await dying.exited;
    // Another capacity: the restarted producer cannot continue the ring, so it unlinks it and makes a new one.
    const successor = await startProducer('ts', name, { capacity: CAPACITY * 2, count: 1, unlink: 1 });
    expect(await successor.line((line) => line.ready)).toMatchObject({ tookOver: false });
    const done = await finished(consumer);
    expect(done.status).toBe('RING_REPLACED');
    expectExact(done, 0, 19);
    successor.process.kill('SIGKILL');
  });
});
