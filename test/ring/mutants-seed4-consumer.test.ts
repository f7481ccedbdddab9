/**
 * Consumer paths (src/api/consumer.ts, src/ring/reader.ts) that a sample of surviving mutants showed the
 * in-process suite did not pin down (docs/testing.md, "Mutation testing"):
 * - Consumer.open with openTimeout looks for the ring again every 10 ms: not once at the deadline (it would
 *   wait the whole timeout for a ring that appeared at once), nor every millisecond;
 * - a poll() of bytes records that reads exactly a quarter ring publishes the head before it returns (the
 *   tethered fast path covers BYTES records, not only MESSAGE ones), so the producer gets that space back;
 * - once the stream ended (a producer gone without an END record) or failed (PRODUCER_DIED), it stays so:
 *   messages a later writer puts into the same ring are not delivered, by tryReceiveBytes nor by poll();
 * - the Selector's hooks: _checkProducer() (its check of an idle ring) fails a consumer whose producer died,
 *   and _fence() reports a membarrier the kernel refused, so the ring is polled (_pollIntervalMs) rather
 *   than trusted to wake.
 */
import { Consumer, Producer } from '../../src';
import * as futex from '../../src/core/futex';
import * as L from '../../src/ring/layout';
import { PRODUCER_PID_I32, PRODUCER_PUBLISH_FENCE_I32, PRODUCER_START_TIME_F64, PRODUCER_STATE_I32 } from '../../src/ring/memory';
import { trackRings } from '../support/teardown';
import { CAPACITY, MAX_CONSUMERS, PER_RING, codeOf, deadPid, memoryOf, message } from './mutant-fixtures';

const { ringName, track } = trackRings();

afterEach(() => jest.restoreAllMocks());

function producer(tag: string): Producer {
  return track(Producer.create(ringName(tag), { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
}

/**
 * Makes the ring's producer look dead (the OS side of a kill -9: its pid word names a reaped process).
 * Returns a function that puts its identity back, so it writes again (as a producer that took the ring over
 * would) and closes cleanly after the test.
 */
async function producerDies(p: Producer): Promise<() => void> {
  const memory = memoryOf(p);
  const pid = Atomics.load(memory.controlI32, PRODUCER_PID_I32);
  const startTime = memory.controlF64[PRODUCER_START_TIME_F64];
  Atomics.store(memory.controlI32, PRODUCER_PID_I32, await deadPid());
  memory.controlF64[PRODUCER_START_TIME_F64] = 1;
  return () => {
    memory.controlF64[PRODUCER_START_TIME_F64] = startTime;
    Atomics.store(memory.controlI32, PRODUCER_PID_I32, pid);
  };
}

/** Reads with poll() until it returns 0: the first byte of each message. */
function pollAll(consumer: Consumer): number[] {
  const got: number[] = [];
  for (let calls = 0; calls < 4 * PER_RING; calls++) {
    if (consumer.poll((bytes, offset) => got.push(bytes[offset]), PER_RING) === 0) break;
  }
  return got;
}

describe('Consumer.open waiting for the ring to be created (openTimeout)', () => {
  it('looks again after 10 ms, not only at the deadline nor every millisecond', () => {
    const name = ringName('open-retry');
    // sleepSync is Atomics.wait on a private word: the stand-in records how long open() would sleep, and
    // creates the ring "meanwhile", so no real time passes and the next look finds it.
    const realWait = Atomics.wait.bind(Atomics);
    const sleeps: Array<number | undefined> = [];
    let created: Producer | undefined;
    let creating = false;
    jest.spyOn(Atomics, 'wait').mockImplementation(((array: Int32Array, index: number, value: number, timeout?: number) => {
      if (creating) return realWait(array, index, value, timeout);
      sleeps.push(timeout);
      if (created === undefined) {
        creating = true;
        try {
          created = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
        } finally {
          creating = false;
        }
      }
      return 'timed-out';
    }) as typeof Atomics.wait);
    const consumer = track(Consumer.open(name, { openTimeout: 20_000 }));
    jest.restoreAllMocks();
    // One sleep of the poll interval (10 ms): far from the deadline, neither the time left (a ring created
    // just after the first look would be found only at the deadline) nor 1 ms (ten times the looks).
    expect(sleeps).toEqual([10]);
    expect(created!.sendBytes(message(7))).toBe(true);
    expect(consumer.tryReceiveBytes()?.[0]).toBe(7);
  });
});

describe('poll() of bytes records (the tethered fast path)', () => {
  it('publishes the head when a batch ends exactly a quarter ring on, freeing that space at once', () => {
    const p = producer('bytes-quarter');
    const consumer = track(Consumer.open(p.name));
    let sent = 0;
    while (sent < 2 * PER_RING && p.sendBytes(message(sent))) sent++;
    expect(sent).toBe(PER_RING);
    // A batch of exactly a quarter ring. The fast path publishes the head after the message that reaches
    // the quarter; read one at a time (the general path), it would be published only as the next read
    // starts, and the producer would still find the ring full.
    const quarter = PER_RING / 4;
    const got: number[] = [];
    expect(consumer.poll((bytes, offset) => got.push(bytes[offset]), quarter)).toBe(quarter);
    expect(got).toEqual(Array.from({ length: quarter }, (_, n) => n));
    let more = 0;
    while (more < PER_RING && p.sendBytes(message(sent + more))) more++;
    expect(more).toBe(quarter);
  });
});

describe('an ended or failed stream stays so', () => {
  it('ended because the producer is gone without an END record: later records in the ring are not delivered', () => {
    const p = producer('ended-final');
    const consumer = track(Consumer.open(p.name));
    const words = memoryOf(p).controlI32;
    const pid = Atomics.load(words, PRODUCER_PID_I32);
    // Closed with no END record we can read (as when the ring was held full): CLOSED, pid cleared.
    Atomics.store(words, PRODUCER_STATE_I32, L.ProducerState.CLOSED);
    Atomics.store(words, PRODUCER_PID_I32, 0);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    expect(consumer.ended).toBe(true);
    // A writer puts records into the same ring afterwards: the stream has ended for this consumer.
    Atomics.store(words, PRODUCER_STATE_I32, L.ProducerState.LIVE);
    Atomics.store(words, PRODUCER_PID_I32, pid);
    expect(p.sendBytes(message(1))).toBe(true);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    expect(pollAll(consumer)).toEqual([]);
    expect({ ended: consumer.ended, received: consumer.received }).toEqual({ ended: true, received: 0 });
  });

  it('failed with PRODUCER_DIED: a later poll() throws it again rather than deliver what a writer added', async () => {
    const p = producer('failed-final');
    const consumer = track(Consumer.open(p.name));
    const revive = await producerDies(p);
    // Killed in the middle of its close (state CLOSED stored, pid not yet cleared): the first empty poll
    // looks at it at once, without waiting for a producer-check interval.
    Atomics.store(memoryOf(p).controlI32, PRODUCER_STATE_I32, L.ProducerState.CLOSED);
    expect(codeOf(() => consumer.poll(() => undefined))).toBe('PRODUCER_DIED');
    Atomics.store(memoryOf(p).controlI32, PRODUCER_STATE_I32, L.ProducerState.LIVE);
    // The producer's identity is back and it writes again: the consumer has failed, for good.
    revive();
    expect(p.sendBytes(message(1))).toBe(true);
    const got: number[] = [];
    expect(codeOf(() => consumer.poll((bytes, offset) => got.push(bytes[offset])))).toBe('PRODUCER_DIED');
    expect(codeOf(() => consumer.tryReceiveBytes())).toBe('PRODUCER_DIED');
    expect({ got, received: consumer.received, ended: consumer.ended }).toEqual({ got: [], received: 0, ended: true });
  });
});

describe("the Selector's hooks on a consumer", () => {
  it('_checkProducer() fails a consumer whose producer died (the check of a ring idle for a while)', async () => {
    const p = producer('check-idle');
    const consumer = track(Consumer.open(p.name));
    const revive = await producerDies(p);
    try {
      expect(consumer.ended).toBe(false);
      // The Selector catches this; the consumer remembers it and its next read throws it.
      expect(codeOf(() => consumer._checkProducer())).toBe('PRODUCER_DIED');
      expect(consumer.ended).toBe(true);
      expect(codeOf(() => consumer.tryReceiveBytes())).toBe('PRODUCER_DIED');
    } finally {
      revive();
    }
  });

  it('_fence() reports a membarrier the kernel refused, and the ring is then polled rather than trusted', () => {
    const p = producer('fence-refused');
    const consumer = track(Consumer.open(p.name));
    // A producer that publishes with a release store (the C producer) asks its consumers for a membarrier
    // before they re-check the tail; the kernel refuses it (seccomp, an old kernel).
    Atomics.store(memoryOf(p).controlI32, PRODUCER_PUBLISH_FENCE_I32, L.PublishFence.MEMBARRIER);
    const fence = jest.spyOn(futex, 'fenceRegisteredProcesses').mockReturnValue(false);
    expect(consumer._announceSleep()).toBe(true);
    expect(consumer._pollIntervalMs).toBe(Infinity);
    // The Selector fences the other rings that asked only when this says the fence failed, and sleeps no
    // longer than _pollIntervalMs: a wake of this ring may be lost.
    expect(consumer._fence()).toBe(false);
    expect(fence).toHaveBeenCalledTimes(1);
    expect(consumer._pollIntervalMs).toBe(10);
    // Granted the next time: wakes can be trusted again.
    fence.mockReturnValue(true);
    expect(consumer._announceSleep()).toBe(true);
    expect(consumer._fence()).toBe(true);
    expect(consumer._pollIntervalMs).toBe(Infinity);
  });
});
