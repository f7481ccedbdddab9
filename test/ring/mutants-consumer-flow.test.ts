/**
 * The consumer's asynchronous and event paths (src/api/consumer.ts), in this process so that mutation
 * testing sees them: written against mutants of consumer.ts that survived the suite (docs/testing.md,
 * "Mutation testing").
 * - receive() rejects with an AbortError for an aborted signal, even with a message waiting; with TIMEOUT
 *   (naming the ring and the timeout) when nothing came; resolves a message that arrives while it waits,
 *   undefined at the end and when the consumer is closed while it waits, and CLOSED on a closed consumer;
 * - two receive() calls share one wait and each gets its own message, in order;
 * - the async iterator yields every message (also ones that arrive while it waits), ends at the end of
 *   stream and when closed from inside the loop, closes the consumer when left, and refuses to be mixed
 *   with 'message' listeners;
 * - the 'message' flow delivers at most maxBatch messages per turn, stops at once on pause(), emits 'end'
 *   after the last message and 'error' for an aborted stream; close() emits 'close' once;
 * - stats.lagBytes counts the unread bytes (0 once closed); lastSequence, ringId and producerEpoch;
 * - ref()/unref() reach the pending waiter and the doorbell; the 'spin' strategy never sleeps on a waiter;
 *   the doorbell is made once and wakes receive();
 * - a dead producer fails a waiting receive() with PRODUCER_DIED (naming its pid) after one producer-check
 *   interval, not the 64 empty polls of the idle path, and empty polls look at it at most once per interval; with waitForRestartMs the consumer waits and follows
 *   the producer that takes the ring over, and fails once that time passed without one; a new producer is
 *   followed whether its pid or only its epoch tells it apart, and its exit learnt through the kernel; a pid
 *   of 0 in a live ring is a dead producer; a name that now holds another ring (or none) gives
 *   RING_REPLACED; an ABORTED state without a producer gives PRODUCER_ABORTED, while an ABORTED or CLOSED
 *   state with the producer still registered is not the end yet.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import { AbortError, Consumer, Producer, ShmRingError } from '../../src';
import * as futex from '../../src/core/futex';
import * as exitWatch from '../../src/core/exit-watch';
import * as livenessModule from '../../src/core/liveness';
import * as L from '../../src/ring/layout';
import * as bells from '../../src/ring/bells';
import {
  PRODUCER_EPOCH_I32,
  PRODUCER_PID_I32,
  PRODUCER_PID_NAMESPACE_F64,
  PRODUCER_START_TIME_F64,
  PRODUCER_STATE_I32,
} from '../../src/ring/memory';
import { readSlot } from '../../src/ring/slots';
import { CAPACITY, MAX_CONSUMERS, deadPid, memoryOf, message, RECORD } from './mutant-fixtures';
import { trackRings } from '../support/teardown';
import { untilAsleep, waitUntil } from '../support/waits';

const { ringName, track, trackPid } = trackRings();

afterEach(() => jest.restoreAllMocks());

/** A live process that does nothing: stands in for a producer that runs elsewhere. */
function idleChild(): ChildProcess {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  trackPid(child.pid!);
  return child;
}

function producer(tag: string): Producer {
  return track(untracked(tag));
}

/** A producer that is not closed after the test: one whose identity words a test rewrites (it "dies"). */
function untracked(tag: string): Producer {
  return Producer.create(ringName(tag), { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS });
}

/** Makes the ring's producer look like process `pid` (its identity words, as a takeover writes them). */
function producerIs(p: Producer, pid: number): void {
  const memory = memoryOf(p);
  Atomics.store(memory.controlI32, PRODUCER_PID_I32, pid);
  memory.controlF64[PRODUCER_START_TIME_F64] = livenessModule.readProcessStat(pid)?.startTime ?? 1;
  memory.controlF64[PRODUCER_PID_NAMESPACE_F64] = livenessModule.currentPidNamespace();
}

/** Makes the ring's producer look dead (the OS side of a kill -9). */
async function producerDies(p: Producer): Promise<number> {
  const pid = await deadPid();
  const memory = memoryOf(p);
  Atomics.store(memory.controlI32, PRODUCER_PID_I32, pid);
  memory.controlF64[PRODUCER_START_TIME_F64] = 1;
  return pid;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('receive()', () => {
  it('rejects with an AbortError carrying the reason for an aborted signal, even with a message waiting', async () => {
    const p = producer('recv-aborted');
    const consumer = track(Consumer.open(p.name));
    expect(p.sendBytes(message(1))).toBe(true);
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    const error = await rejection(consumer.receive({ signal: controller.signal }));
    expect(error).toBeInstanceOf(AbortError);
    expect((error as Error).message).toContain(p.name);
    expect((error as Error & { cause: unknown }).cause).toBe(reason);
    // The message is still there for the next call.
    expect(consumer.tryReceiveBytes()?.[0]).toBe(1);
  });

  it('rejects with an AbortError when the signal aborts while it waits', async () => {
    const p = producer('recv-abort-wait');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep' }));
    const controller = new AbortController();
    const pending = rejection(consumer.receive({ signal: controller.signal }));
    await untilAsleep(p.name);
    controller.abort('enough');
    const error = await pending;
    expect(error).toBeInstanceOf(AbortError);
    expect((error as Error & { cause: unknown }).cause).toBe('enough');
  });

  it('rejects with TIMEOUT naming the ring and the timeout when nothing comes', async () => {
    const p = producer('recv-timeout');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep' }));
    const error = await rejection(consumer.receive({ timeout: 20 }));
    expect(error).toBeInstanceOf(ShmRingError);
    expect((error as ShmRingError).code).toBe('TIMEOUT');
    expect((error as ShmRingError).message).toContain(`${p.name} within 20 ms`);
    expect((error as ShmRingError).segment).toBe(p.name);
  });

  it('resolves a message sent while it waits, within its timeout, and the next one too', async () => {
    const p = producer('recv-later');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep' }));
    const first = consumer.receive({ timeout: 20_000 });
    await untilAsleep(p.name);
    expect(p.send({ n: 1 })).toBe(true);
    expect(await first).toEqual({ n: 1 });
    expect(consumer.lastSequence).toBe(0);
    // The shared wait of the first call is over: a second wait is a new one.
    const second = consumer.receive();
    await untilAsleep(p.name);
    setTimeout(() => p.send({ n: 2 }), 1);
    expect(await second).toEqual({ n: 2 });
    expect(consumer.lastSequence).toBe(1);
  });

  it('two calls waiting together share the wait and get one message each, in order', async () => {
    const p = producer('recv-shared');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep' }));
    const waits = jest.spyOn(futex.AsyncWaiter.prototype, 'wait');
    const a = consumer.receive();
    const b = consumer.receive({ timeout: 20_000 });
    await untilAsleep(p.name);
    expect(waits).toHaveBeenCalledTimes(1);
    expect(p.sendBytes(message(1))).toBe(true);
    expect(p.sendBytes(message(2))).toBe(true);
    expect(await a).toEqual(message(1));
    expect(await b).toEqual(message(2));
  });

  it('resolves undefined at the end of stream', async () => {
    const p = producer('recv-end');
    const consumer = track(Consumer.open(p.name));
    expect(p.send('last')).toBe(true);
    p.close();
    expect(await consumer.receive()).toBe('last');
    expect(await consumer.receive()).toBeUndefined();
    expect(consumer.ended).toBe(true);
  });

  it.each(['thread', 'doorbell'] as const)('resolves undefined when the consumer is closed while it waits (wake %s)', async (wake) => {
    const p = producer(`recv-close-${wake}`);
    const consumer = track(Consumer.open(p.name, { wait: 'sleep', wake }));
    const closes = jest.fn();
    consumer.on('close', closes);
    const pending = consumer.receive();
    await untilAsleep(p.name);
    consumer.close();
    consumer.close();
    expect(await pending).toBeUndefined();
    expect(closes).toHaveBeenCalledTimes(1);
    expect(consumer.isClosed).toBe(true);
    expect(readSlot(memoryOf(p), 0).state).toBe(L.SlotState.FREE);
  });

  it('names itself when its options are wrong', async () => {
    const p = producer('recv-options');
    const consumer = track(Consumer.open(p.name));
    const error = await rejection(consumer.receive({ timeout: -1 }));
    expect((error as Error).message).toMatch(/^receive: timeout must be/);
  });

  it('rejects with CLOSED on a consumer closed before the call', async () => {
    const p = producer('recv-closed');
    const consumer = track(Consumer.open(p.name));
    consumer.close();
    const error = await rejection(consumer.receive());
    expect((error as ShmRingError).code).toBe('CLOSED');
  });
});

describe('the async iterator', () => {
  it('yields every message, also those sent while it waits, ends at the end of stream and closes the consumer', async () => {
    const p = producer('iter-end');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep' }));
    expect(p.send(0)).toBe(true);
    const seen: unknown[] = [];
    const done = (async () => {
      for await (const value of consumer) seen.push(value);
    })();
    await untilAsleep(p.name);
    expect(p.send(1)).toBe(true);
    await waitUntil(() => seen.length === 2, 'the second message');
    expect(p.send(2)).toBe(true);
    p.close();
    await done;
    expect(seen).toEqual([0, 1, 2]);
    expect(consumer.isClosed).toBe(true);
  });

  it('ends without an error when the consumer is closed inside the loop, and closes the consumer after break', async () => {
    const p = producer('iter-close');
    const consumer = track(Consumer.open(p.name));
    const other = track(Consumer.open(p.name));
    for (let n = 0; n < 3; n++) expect(p.send(n)).toBe(true);
    const seen: unknown[] = [];
    for await (const value of consumer) {
      seen.push(value);
      consumer.close();
    }
    expect(seen).toEqual([0]);
    for await (const value of other) {
      seen.push(value);
      break;
    }
    expect(seen).toEqual([0, 0]);
    expect(other.isClosed).toBe(true);
  });

  it('cannot be combined with message listeners', () => {
    const p = producer('iter-conflict');
    const consumer = track(Consumer.open(p.name));
    consumer.on('message', () => undefined);
    const iterator = consumer[Symbol.asyncIterator]();
    return expect(iterator.next()).rejects.toMatchObject({ code: 'CONFLICTING_READERS' });
  });
});

describe("the 'message' flow", () => {
  it('delivers at most maxBatch messages per turn of the event loop, then the rest', async () => {
    const p = producer('flow-batch');
    const consumer = track(Consumer.open(p.name, { maxBatch: 2 }));
    for (let n = 0; n < 5; n++) expect(p.sendBytes(message(n))).toBe(true);
    const seen: number[] = [];
    let firstTurn = -1;
    consumer.on('message', (bytes: Uint8Array) => {
      // Microtasks run only once the pump yields: when its first batch is over.
      if (seen.length === 0) queueMicrotask(() => (firstTurn = seen.length));
      seen.push(bytes[0]);
    });
    await waitUntil(() => seen.length === 5, 'five messages');
    expect(firstTurn).toBe(2);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('stops at once on pause(), leaving the rest in the ring, and goes on after resume()', async () => {
    const p = producer('flow-pause');
    const consumer = track(Consumer.open(p.name));
    for (let n = 0; n < 3; n++) expect(p.sendBytes(message(n))).toBe(true);
    const seen: number[] = [];
    let left: number | undefined;
    consumer.on('message', (bytes: Uint8Array) => {
      seen.push(bytes[0]);
      if (seen.length === 1) {
        consumer.pause();
        setImmediate(() => {
          left = consumer.tryReceiveBytes()?.[0];
          consumer.resume();
        });
      }
    });
    await waitUntil(() => seen.length === 2, 'the message after resume()');
    expect(left).toBe(1);
    expect(seen).toEqual([0, 2]);
  });

  it("emits 'end' after the last message", async () => {
    const p = producer('flow-end');
    const consumer = track(Consumer.open(p.name));
    const events: unknown[] = [];
    consumer.on('end', () => events.push('end'));
    consumer.on('message', (value) => events.push(value));
    await untilAsleep(p.name);
    expect(p.send('a')).toBe(true);
    p.close();
    await waitUntil(() => events.includes('end'), "'end'");
    expect(events).toEqual(['a', 'end']);
    expect(consumer.ended).toBe(true);
  });

  it("emits 'error' with PRODUCER_ABORTED after the messages before an abort", async () => {
    const p = producer('flow-abort');
    const consumer = track(Consumer.open(p.name));
    const events: unknown[] = [];
    consumer.on('error', (error: ShmRingError) => events.push(error.code));
    consumer.on('message', (value) => events.push(value));
    expect(p.send('a')).toBe(true);
    p.abort(new Error('broken'));
    await waitUntil(() => events.length === 2, "'error'");
    expect(events).toEqual(['a', 'PRODUCER_ABORTED']);
  });
});

describe('stats and getters', () => {
  it('lagBytes counts what is published and unread, and is 0 once closed', () => {
    const p = producer('stats-lag');
    const consumer = track(Consumer.open(p.name));
    expect(consumer.lastSequence).toBe(-1);
    expect(consumer.stats).toEqual({ received: 0, lost: 0, laps: 0, lagBytes: 0 });
    for (let n = 0; n < 3; n++) expect(p.sendBytes(message(n))).toBe(true);
    expect(consumer.stats.lagBytes).toBe(3 * RECORD);
    expect(consumer.tryReceiveBytes()?.[0]).toBe(0);
    expect(consumer.stats).toEqual({ received: 1, lost: 0, laps: 0, lagBytes: 2 * RECORD });
    expect(consumer.lastSequence).toBe(0);
    consumer.close();
    expect(consumer.stats).toEqual({ received: 1, lost: 0, laps: 0, lagBytes: 0 });
  });

  it('ringId is the producer’s, producerEpoch counts takeovers', async () => {
    const name = ringName('getters');
    const first = Producer.create(name, { capacity: CAPACITY }); // dies below: not closed
    const consumer = track(Consumer.open(name));
    expect(consumer.ringId).toBe(first.ringId);
    expect(consumer.ringId).toMatch(/\S/);
    expect(consumer.producerEpoch).toBe(0);
    await producerDies(first);
    const second = track(Producer.create(name, { capacity: CAPACITY }));
    expect(second.tookOver).toBe(true);
    expect(consumer.producerEpoch).toBe(1);
    expect(consumer.ringId).toBe(first.ringId);
    expect(Atomics.load(memoryOf(consumer).controlI32, PRODUCER_EPOCH_I32)).toBe(1);
  });
});

describe('ref() and unref()', () => {
  it('reach the pending waiter, which sleeps unref’d for a consumer opened with ref: false', async () => {
    const p = producer('ref-thread');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep', ref: false }));
    const refs = jest.spyOn(futex.AsyncWaiter.prototype, 'ref');
    const unrefs = jest.spyOn(futex.AsyncWaiter.prototype, 'unref');
    const pending = consumer.receive();
    await untilAsleep(p.name);
    expect(unrefs).toHaveBeenCalled();
    expect(refs).not.toHaveBeenCalled();
    expect(consumer.ref()).toBe(consumer);
    expect(refs).toHaveBeenCalledTimes(1);
    unrefs.mockClear();
    expect(consumer.unref()).toBe(consumer);
    expect(unrefs).toHaveBeenCalledTimes(1);
    consumer.ref();
    expect(p.sendBytes(message(4))).toBe(true);
    expect(await pending).toEqual(message(4));
    // Refed again: the next sleep refs the waiter.
    refs.mockClear();
    const next = consumer.receive();
    await untilAsleep(p.name);
    expect(refs).toHaveBeenCalled();
    expect(p.sendBytes(message(5))).toBe(true);
    expect(await next).toEqual(message(5));
  });

  it('reach the doorbell, which is made once and wakes receive()', async () => {
    const p = producer('ref-bell');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep', wake: 'doorbell', ref: false }));
    const opens = jest.spyOn(bells, 'openSlotBell');
    const refs = jest.spyOn(bells.SlotBell.prototype, 'ref');
    const unrefs = jest.spyOn(bells.SlotBell.prototype, 'unref');
    const waits = jest.spyOn(futex.AsyncWaiter.prototype, 'wait');
    const first = consumer.receive();
    await untilAsleep(p.name);
    expect(unrefs).toHaveBeenCalled();
    expect(refs).not.toHaveBeenCalled();
    consumer.ref();
    expect(refs).toHaveBeenCalledTimes(1);
    unrefs.mockClear();
    consumer.unref();
    expect(unrefs).toHaveBeenCalledTimes(1);
    consumer.ref();
    expect(p.sendBytes(message(1))).toBe(true);
    expect(await first).toEqual(message(1));
    refs.mockClear();
    const second = consumer.receive();
    await untilAsleep(p.name);
    expect(refs).toHaveBeenCalled();
    expect(p.sendBytes(message(2))).toBe(true);
    expect(await second).toEqual(message(2));
    expect(opens).toHaveBeenCalledTimes(1);
    expect(waits).not.toHaveBeenCalled();
  });

  it("a 'spin' consumer waits by turns of the event loop, never on a waiter", async () => {
    const p = producer('spin-async');
    const consumer = track(Consumer.open(p.name, { wait: 'spin' }));
    const waits = jest.spyOn(futex.AsyncWaiter.prototype, 'wait');
    const pending = consumer.receive();
    setTimeout(() => p.sendBytes(message(9)), 5);
    expect(await pending).toEqual(message(9));
    expect(waits).not.toHaveBeenCalled();
  });
});

describe('the producer check', () => {
  // A waiting consumer checks its producer when a sleep of one check interval times out. A mutant that
  // only checks on the idle path's 64th empty poll takes 64 intervals, and fails on the test's timeout.
  it.each(['thread', 'doorbell'] as const)(
    'fails a waiting receive() with PRODUCER_DIED, naming the pid, after a check interval (wake %s)',
    async (wake) => {
      const p = untracked(`died-${wake}`);
      const consumer = track(Consumer.open(p.name, { wait: 'sleep', wake, producerCheckIntervalMs: 200 }));
      expect(p.sendBytes(message(1))).toBe(true);
      const dead = await producerDies(p);
      expect(await consumer.receive()).toEqual(message(1));
      const error = await rejection(consumer.receive());
      expect((error as ShmRingError).code).toBe('PRODUCER_DIED');
      expect((error as ShmRingError).message).toContain(`the producer of ${p.name} (pid ${dead}) died`);
      expect((error as ShmRingError).segment).toBe(p.name);
      expect((error as ShmRingError).hint).toMatch(/^Restart the producer/);
      expect(consumer.ended).toBe(true);
      // Failed for good: every later read says so.
      expect(() => consumer.tryReceive()).toThrow(expect.objectContaining({ code: 'PRODUCER_DIED' }));
    },
    10_000,
  );

  it('with waitForRestartMs, waits for a restarted producer and follows it', async () => {
    const p = untracked('restart');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep', producerCheckIntervalMs: 20, waitForRestartMs: 60_000 }));
    const looks = jest.spyOn(livenessModule, 'liveness');
    await producerDies(p);
    const pending = consumer.receive();
    // The consumer has found the producer dead (at least twice: it keeps waiting).
    await waitUntil(() => looks.mock.results.filter((result) => result.value === 'dead').length >= 2, 'the consumer to see the producer dead');
    const restarted = track(Producer.create(p.name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    expect(restarted.tookOver).toBe(true);
    expect(restarted.sendBytes(message(3))).toBe(true);
    expect(await pending).toEqual(message(3));
    expect(consumer.producerEpoch).toBe(1);
    expect(consumer.ended).toBe(false);
  });

  it.each([
    ['removed', (name: string) => fs.unlinkSync(`/dev/shm${name}`)],
    [
      'replaced by another ring',
      (name: string) => {
        fs.unlinkSync(`/dev/shm${name}`);
        track(Producer.create(name, { capacity: CAPACITY }));
      },
    ],
  ])('gives RING_REPLACED when the dead producer’s name was %s, however long it would wait for a restart', async (_label, replace) => {
    const p = untracked('replaced');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep', producerCheckIntervalMs: 20, waitForRestartMs: 60_000 }));
    expect(p.sendBytes(message(1))).toBe(true);
    await producerDies(p);
    replace(p.name);
    expect(await consumer.receive()).toEqual(message(1));
    const error = await rejection(consumer.receive());
    expect((error as ShmRingError).code).toBe('RING_REPLACED');
    expect((error as ShmRingError).message).toContain(`the producer of ${p.name} died and the name now refers to another ring`);
    expect((error as ShmRingError).segment).toBe(p.name);
    expect((error as ShmRingError).hint).toMatch(/^Reopen the consumer/);
    expect(() => consumer.tryReceive()).toThrow(expect.objectContaining({ code: 'RING_REPLACED' }));
  });

  it('follows a producer of the same pid that took the ring over (the epoch tells it apart)', async () => {
    const p = untracked('same-pid');
    const consumer = track(Consumer.open(p.name));
    // This process's own producer is judged dead (another start time), and this process takes the ring over.
    memoryOf(p).controlF64[PRODUCER_START_TIME_F64] = 1;
    const restarted = track(Producer.create(p.name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    expect(restarted.tookOver).toBe(true);
    const watches = jest.spyOn(exitWatch, 'watchExit');
    expect(consumer.receiveSync(0)).toBeUndefined();
    expect(consumer.tryReceive()).toBeUndefined();
    expect(watches).toHaveBeenCalledWith(process.pid, expect.any(Function));
  });

  it('with waitForRestartMs, fails with PRODUCER_DIED once it has passed without a restart', async () => {
    const p = untracked('restart-late');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep', producerCheckIntervalMs: 20, waitForRestartMs: 100 }));
    await producerDies(p);
    const error = await rejection(consumer.receive());
    expect((error as ShmRingError).code).toBe('PRODUCER_DIED');
  });

  it.each([
    ['ABORTED', L.ProducerState.ABORTED],
    ['CLOSED', L.ProducerState.CLOSED],
  ])('the %s state with the producer still registered is not the end yet (its last record is on the way)', (_label, state) => {
    const p = untracked('state-live');
    const consumer = track(Consumer.open(p.name));
    Atomics.store(memoryOf(p).controlI32, PRODUCER_STATE_I32, state);
    expect(consumer.tryReceive()).toBeUndefined();
    expect(consumer.ended).toBe(false);
  });

  it('looks at the producer at most once per producerCheckIntervalMs while polling an empty ring', async () => {
    const p = untracked('check-rate');
    const consumer = track(Consumer.open(p.name, { producerCheckIntervalMs: 60_000 }));
    await producerDies(p);
    // Hundreds of empty polls (the idle path reads the clock every 64) within one interval: no check yet,
    // so the dead producer is not noticed.
    for (let poll = 0; poll < 500; poll++) expect(consumer.tryReceive()).toBeUndefined();
    expect(consumer.ended).toBe(false);
    // A wait that timed out makes the next read check at once.
    expect(consumer.receiveSync(0)).toBeUndefined();
    expect(() => consumer.tryReceive()).toThrow(expect.objectContaining({ code: 'PRODUCER_DIED' }));
  });

  it('takes a producer pid of 0 in a ring still marked live for a dead producer, not for an end', () => {
    const p = untracked('pid-zero');
    const consumer = track(Consumer.open(p.name));
    Atomics.store(memoryOf(p).controlI32, PRODUCER_PID_I32, 0);
    // A wait that found nothing has the next read check the producer.
    expect(consumer.receiveSync(0)).toBeUndefined();
    expect(() => consumer.tryReceive()).toThrow(expect.objectContaining({ code: 'PRODUCER_DIED' }));
  });

  it('fails with PRODUCER_ABORTED when the state says aborted and no record came', () => {
    const p = untracked('aborted-state');
    const consumer = track(Consumer.open(p.name));
    expect(p.sendBytes(message(1))).toBe(true);
    const memory = memoryOf(p);
    Atomics.store(memory.controlI32, PRODUCER_STATE_I32, L.ProducerState.ABORTED);
    Atomics.store(memory.controlI32, PRODUCER_PID_I32, 0);
    expect(consumer.tryReceiveBytes()?.[0]).toBe(1);
    expect(() => consumer.tryReceive()).toThrow(expect.objectContaining({ code: 'PRODUCER_ABORTED' }));
    expect(consumer.ended).toBe(true);
  });

  it.each(['thread', 'doorbell'] as const)('follows a producer that took over and learns of its exit from the kernel, not from a periodic check (wake %s)', async (wake) => {
    const p = untracked(`follow-${wake}`);
    const first = idleChild();
    const second = idleChild();
    producerIs(p, first.pid!);
    // A check interval of a minute: only the kernel's word on an exit ends these waits in time.
    const consumer = track(Consumer.open(p.name, { wait: 'sleep', wake, producerCheckIntervalMs: 60_000 }));
    const watches = jest.spyOn(exitWatch, 'watchExit');
    const pending = rejection(consumer.receive());
    await untilAsleep(p.name);
    // Another producer's identity appears (the pid alone tells it apart), then the first exits.
    producerIs(p, second.pid!);
    first.kill('SIGKILL');
    await waitUntil(() => watches.mock.calls.some(([pid]) => pid === second.pid), 'the consumer to watch the new producer');
    expect(consumer.ended).toBe(false);
    second.kill('SIGKILL');
    const error = await pending;
    expect((error as ShmRingError).code).toBe('PRODUCER_DIED');
    expect((error as ShmRingError).message).toContain(`(pid ${second.pid})`);
  }, 20_000);
});

