/**
 * The producer's paths (src/api/producer.ts) and its writer (src/ring/writer.ts), in this process so that
 * mutation testing sees them: written against mutants of both that survived the suite (docs/testing.md,
 * "Mutation testing").
 * - a dead consumer reclaimed during close() (here: by the wipe's drain) is reported once close() is done,
 *   as 'consumer-reclaimed' with its count, before 'close';
 * - the send path checks /proc for dead consumers at most once per livenessIntervalMs, while the liveness
 *   timer's pass is forced (it reclaims even right after a send-path check);
 * - sendSync and sendBytesSync return true when the message was sent;
 * - sendBytesAsync rejects a payload that is not a Uint8Array with a message naming the call;
 * - a producer that takes over a ring wakes consumers at its first publish, announced or not (the one
 *   before it may have died owing that wake), and only then;
 * - a tethered consumer that joins at the oldest record after the producer last refreshed its limit holds
 *   the producer back at exactly one ring: the next record is refused, not written over the oldest.
 */
import { Consumer, Producer } from '../../src';
import { claimSlot } from '../../src/ring/slots';
import { currentProcess } from '../../src/core/liveness';
import { CAPACITY, PER_RING, deadPid, memoryOf, message } from './mutant-fixtures';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

afterEach(() => jest.restoreAllMocks());

/** Long enough that no liveness timer fires during a test: only the passes a test causes run. */
const LIVENESS_MS = 60_000;

/** Registers a consumer slot for a process that has exited (reclaimable by any liveness pass). */
async function plantDeadConsumer(p: Producer, tethered: boolean): Promise<number> {
  const identity = currentProcess();
  const index = claimSlot(memoryOf(p), { pid: await deadPid(), startTime: 0, pidNamespace: identity.pidNamespace }, tethered, 0, 0);
  expect(index).toBeGreaterThanOrEqual(0);
  return index;
}

/** A producer whose ring a live (in-process) tethered consumer holds full, after one refused send. */
function stalled(tag: string): Producer {
  const p = track(Producer.create(ringName(tag), { capacity: CAPACITY, livenessIntervalMs: LIVENESS_MS }));
  track(Consumer.open(p.name, { tethered: true }));
  for (let n = 0; n < PER_RING; n++) expect(p.sendBytes(message(n))).toBe(true);
  // Refused: the send path checks for dead consumers here (there are none), and notes when it did.
  expect(p.sendBytes(message(PER_RING))).toBe(false);
  return p;
}

describe('dead consumers reclaimed during close()', () => {
  it("are reported as 'consumer-reclaimed' with their count, before 'close'", async () => {
    const p = track(Producer.create(ringName('close-reclaim'), { capacity: CAPACITY, wipeOnClose: true, livenessIntervalMs: LIVENESS_MS }));
    await plantDeadConsumer(p, true);
    const events: string[] = [];
    p.on('consumer-reclaimed', (count: number) => events.push(`consumer-reclaimed ${count}`));
    p.on('close', () => events.push('close'));
    // The wipe's drain frees the dead tethered consumer's slot rather than wait for it; close() is then
    // half-way, so the event is held back until it is done (a throwing listener must not stop it).
    p.close();
    expect(events).toEqual(['consumer-reclaimed 1', 'close']);
  });
});

describe('the liveness check', () => {
  it('runs on the send path at most once per livenessIntervalMs', async () => {
    const p = stalled('send-throttle');
    const reclaimed: number[] = [];
    p.on('consumer-reclaimed', (count: number) => reclaimed.push(count));
    // A consumer that dies right after the send path's check is not looked for again on every refused
    // send (that would read /proc per send): the next check is a livenessIntervalMs later.
    await plantDeadConsumer(p, false);
    expect(p.sendBytes(message(PER_RING))).toBe(false);
    expect(p.sendBytesBatch([message(PER_RING)])).toBe(0);
    expect(reclaimed).toEqual([]);
    expect(p.consumers).toBe(2);
    expect(p.stats.consumersReclaimed).toBe(0);
  });

  it("the timer's pass is forced: it reclaims even right after a send-path check", async () => {
    const intervals = jest.spyOn(global, 'setInterval');
    const p = stalled('timer-forced');
    // The producer's liveness timer: the interval it armed with livenessIntervalMs. Called here rather
    // than waited for, so the send path's check above is certainly within the interval.
    const armed = intervals.mock.calls.filter((call) => call[1] === LIVENESS_MS);
    expect(armed).toHaveLength(1);
    const tick = armed[0][0] as () => void;
    const reclaimed: number[] = [];
    p.on('consumer-reclaimed', (count: number) => reclaimed.push(count));
    await plantDeadConsumer(p, false);
    tick();
    expect(reclaimed).toEqual([1]);
    expect(p.consumers).toBe(1);
    expect(p.stats.consumersReclaimed).toBe(1);
  });
});

describe('the blocking and async sends', () => {
  it('sendSync and sendBytesSync return true when the message is sent', () => {
    const p = track(Producer.create(ringName('sync-true'), { capacity: CAPACITY }));
    const consumer = track(Consumer.open(p.name));
    expect(p.sendBytesSync(message(1), 100)).toBe(true);
    expect(p.sendBytesSync(message(2))).toBe(true);
    expect(p.sendSync({ n: 3 }, 100)).toBe(true);
    expect(consumer.tryReceiveBytes()?.[0]).toBe(1);
    expect(consumer.tryReceiveBytes()?.[0]).toBe(2);
    expect(consumer.tryReceive()).toEqual({ n: 3 });
  });

  it('sendBytesAsync rejects a payload that is not a Uint8Array, naming the call and the value', async () => {
    const p = track(Producer.create(ringName('async-arg'), { capacity: CAPACITY }));
    await expect(p.sendBytesAsync('x' as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
      message: expect.stringMatching(/^sendBytesAsync: bytes must be a Uint8Array, got /),
    });
  });
});

describe('a takeover', () => {
  it('wakes consumers at its first publish though nobody announced a sleep, and not at the next', () => {
    const name = ringName('takeover-wake');
    const before = track(Producer.create(name, { capacity: CAPACITY, unlinkOnClose: false }));
    for (let n = 0; n < 3; n++) expect(before.sendBytes(message(n))).toBe(true);
    before.close();
    const p = track(Producer.create(name, { capacity: CAPACITY }));
    expect(p.tookOver).toBe(true);
    // The producer before may have taken a sleeper's announcement and died before its next publish, whose
    // wake was owed: the first publish here pays it.
    const wakes = p.stats.wakesSent;
    expect(p.sendBytes(message(3))).toBe(true);
    expect(p.stats.wakesSent).toBe(wakes + 1);
    expect(p.sendBytes(message(4))).toBe(true);
    expect(p.stats.wakesSent).toBe(wakes + 1);
  });
});

describe('a tethered consumer joining at the oldest record', () => {
  it('holds the producer back at exactly one ring, though the limit was last computed without it', () => {
    const p = track(Producer.create(ringName('join-oldest'), { capacity: CAPACITY }));
    // Wrap the ring, alone: the writer's cached limit is then a ring past a tail it saw, with nobody behind.
    const first = PER_RING + 5;
    for (let n = 0; n < first; n++) expect(p.sendBytes(message(n))).toBe(true);
    const consumer = track(Consumer.open(p.name, { tethered: true, from: 'oldest' }));
    let sent = first;
    while (sent < first + 2 * PER_RING && p.sendBytes(message(sent))) sent++;
    // Nothing the consumer has not read was overwritten: it reads every message from its first on, in order
    // and without loss, and exactly one ring of them.
    const got: number[] = [];
    for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) got.push(bytes[0]);
    expect(got.length).toBe(PER_RING);
    expect(got[got.length - 1]).toBe((sent - 1) & 255);
    expect(got).toEqual(Array.from({ length: got.length }, (_, n) => (sent - got.length + n) & 255));
    expect(consumer.stats.lost).toBe(0);
  });
});
