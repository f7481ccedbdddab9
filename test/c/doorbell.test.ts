/**
 * Doorbells across languages (docs/protocol.md, "Doorbells"): a C producer wakes a TypeScript consumer
 * that sleeps in its event loop on a doorbell (`wake: 'doorbell'`) exactly as the TypeScript producer
 * does: at most one write to the consumer's FIFO per sleep, counted in BELLS_RUNG; and a C producer that reclaims
 * the slot of such a consumer killed with -9 removes its FIFO. Real processes, real FIFOs in /dev/shm.
 *
 * The consumer's producer check runs once a minute, so within the bounded waits below only its doorbell
 * can wake it (a C producer that does not ring leaves it asleep: the wait for its message fails).
 */
import * as fs from 'fs';
import * as L from '../../src/ring/layout';
import { buildC, finished, killPeers, Language, Peer, runPeer, readRing } from '../support/c-client';
import { uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';

const { trackName, onTeardown } = trackRings();
afterEach(killPeers);

beforeAll(() => {
  buildC();
  buildC({ asan: true });
}, 120000);


/** The slot index and SLOT_DOORBELL word of the consumer `pid`. */
function slotOf(name: string, pid: number): { slot: number; doorbell: number } | undefined {
  const slots = readRing(name, L.MAX_CONSUMERS_OFFSET, 4).readUInt32LE(0);
  for (let index = 0; index < slots; index++) {
    const slot = readRing(name, L.slotOffset(index), L.SLOT_LENGTH);
    if (slot.readInt32LE(L.SLOT_PID_OFFSET) === pid) return { slot: index, doorbell: slot.readInt32LE(L.SLOT_DOORBELL_OFFSET) };
  }
  return undefined;
}

const bellsRung = (name: string): number => readRing(name, L.BELLS_RUNG_OFFSET, 8).readDoubleLE(0);
const dataWaiters = (name: string): number => readRing(name, L.DATA_WAITERS_OFFSET, 4).readInt32LE(0);
const bellPrefix = (name: string): string => `.shmring-bell-${readRing(name, L.RING_ID_OFFSET, L.RING_ID_LENGTH).toString('hex')}-`;
const bellsOf = (prefix: string): string[] => fs.readdirSync('/dev/shm').filter((file) => file.startsWith(prefix));

/** Polls `condition` until it holds (bounded): the event waited for happens in another process. */
async function until<T>(condition: () => T | undefined | false, what: string, peer: Peer, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; ${peer.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Waits until the consumer `pid` is committed to sleeping on its doorbell: SLEEPING set, then its
 * DATA_WAITERS announcement made (it sets them in that order), so the next publish must ring it.
 */
async function asleepOnBell(name: string, consumer: Peer): Promise<number> {
  const found = await until(() => {
    const slot = slotOf(name, consumer.pid);
    return slot && (slot.doorbell & L.SLOT_BELL_SLEEPING) !== 0 && dataWaiters(name) === 1 ? slot : undefined;
  }, 'the consumer asleep on its doorbell', consumer);
  expect(found.doorbell & L.SLOT_BELL_PRESENT).toBe(L.SLOT_BELL_PRESENT);
  return found.slot;
}

async function startProducer(language: Language, name: string): Promise<Peer> {
  const producer = runPeer(language, 'send', name, { capacity: 1 << 16, lengths: '0,1,100', mode: 'wait', start: 'stdin', unlink: 1 });
  const ready = await producer.line((line) => line.ready || line.error);
  expect(ready.error).toBeUndefined();
  return producer;
}

async function startDoorbellConsumer(name: string): Promise<Peer> {
  const consumer = runPeer('ts', 'recv', name, { tethered: 1, wake: 'doorbell', check_ms: 60000 });
  const ready = await consumer.line((line) => line.ready || line.error);
  if (ready.error) throw new Error(`join failed: ${consumer.output()}`);
  // The consumer's doorbells go in teardown too (a failing test may leave a consumer killed asleep).
  const prefix = bellPrefix(name);
  onTeardown(() => {
    for (const file of bellsOf(prefix)) fs.rmSync(`/dev/shm/${file}`, { force: true });
  });
  return consumer;
}

describe.each(['c', 'c-asan'] as Language[])('a %s producer', (language) => {
  it('wakes a TypeScript consumer asleep on its doorbell: at most one bell per sleep, every message in order, no FIFO left', async () => {
    const name = trackName(uniqueName('c-bell'));
    const producer = await startProducer(language, name);
    const consumer = await startDoorbellConsumer(name);
    const prefix = bellPrefix(name);
    for (let round = 1; round <= 3; round++) {
      await asleepOnBell(name, consumer);
      const before = bellsRung(name);
      producer.process.stdin!.write('1\n');
      await consumer.line((line) => line.received === round);
      // The first sleep can only end with a ring (no earlier byte in the FIFO, a producer check a minute
      // away). A later one may also end early, for a byte the previous ring left behind (protocol.md: the
      // consumer then finds the message itself, and nobody rings): at most one ring per publish.
      if (round === 1) expect(bellsRung(name)).toBe(1);
      else expect(bellsRung(name) - before).toBeLessThanOrEqual(1);
    }
    // Bursts: the consumer alternates between reading and sleeping; the tethered producer waits for it.
    producer.process.stdin!.write('3000\n');
    await producer.line((line) => line.sent === 3003, 60000);
    expect(bellsRung(name)).toBeGreaterThanOrEqual(1);
    producer.process.stdin!.end(); // closes the ring: the END record, and the last ring
    await finished(producer);
    const done = await finished(consumer);
    expect(done).toMatchObject({ status: 'END', received: 3003, lost: 0, gaps: 0, dups: 0, bad: 0, first: 0, last: 3002 });
    expect(bellsOf(prefix)).toEqual([]);
  });

  it('removes the FIFO of a doorbell consumer killed with -9 when it reclaims its slot', async () => {
    const name = trackName(uniqueName('c-bell-kill'));
    const producer = await startProducer(language, name);
    const consumer = await startDoorbellConsumer(name);
    // Rung once first: the producer keeps that FIFO open, so its next ring writes to a FIFO whose reader died.
    await asleepOnBell(name, consumer);
    producer.process.stdin!.write('1\n');
    await consumer.line((line) => line.received === 1);
    const slot = await asleepOnBell(name, consumer);
    const bell = `/dev/shm/${bellPrefix(name)}${slot}`;
    expect(fs.lstatSync(bell).isFIFO()).toBe(true);
    consumer.process.kill('SIGKILL');
    expect((await consumer.exited).signal).toBe('SIGKILL');
    // More than the ring holds (64 KiB, ≤ 128 B a record): the dead tethered consumer holds the producer
    // back until it reclaims the slot. Its SLEEPING bit is still set: the write to a FIFO nobody reads any
    // more (EPIPE, and a SIGPIPE that would kill a C program by default) must not hurt the producer.
    producer.process.stdin!.write('3000\n');
    await producer.line((line) => line.sent === 3001, 60000);
    expect(fs.existsSync(bell)).toBe(false);
    expect(slotOf(name, consumer.pid)).toBeUndefined();
    producer.process.stdin!.end();
    expect(await finished(producer)).toBeDefined();
  });
});
