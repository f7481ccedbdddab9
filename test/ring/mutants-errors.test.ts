/**
 * Every error the producer and the consumer throw themselves (src/api/producer.ts, src/api/consumer.ts)
 * says what happened in words a user can act on: its code, its segment, its message (checked whole) and,
 * where there is something to do, a hint. Written against mutants of both files that survived the suite
 * (docs/testing.md, "Mutation testing"): the suite checked codes, and a message or hint emptied went
 * unnoticed.
 */
import { AbortError, Consumer, Producer, ShmRingError } from '../../src';
import * as L from '../../src/ring/layout';
import { CAPACITY, PER_RING, memoryOf, message } from './mutant-fixtures';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

function caught(fn: () => unknown): Error & { code?: string; segment?: string; hint?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string; segment?: string; hint?: string };
  }
  throw new Error('nothing was thrown');
}

async function rejected(promise: Promise<unknown>): Promise<Error & { code?: string; segment?: string; hint?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string; segment?: string; hint?: string };
  }
  throw new Error('the promise resolved');
}

function producer(tag: string, options: Record<string, unknown> = {}): Producer {
  return track(Producer.create(ringName(tag), { capacity: CAPACITY, ...options }));
}

function fullRing(tag: string): Producer {
  const p = producer(tag);
  track(Consumer.open(p.name, { tethered: true }));
  for (let n = 0; n < PER_RING; n++) expect(p.sendBytes(message(n))).toBe(true);
  return p;
}

describe("the producer's errors", () => {
  it('MESSAGE_TOO_LARGE names both lengths and says what to do', () => {
    const p = producer('too-large');
    const error = caught(() => p.sendBytes(new Uint8Array(p.maxMessageLength + 1)));
    expect(error).toBeInstanceOf(ShmRingError);
    expect(error.code).toBe('MESSAGE_TOO_LARGE');
    expect(error.segment).toBe(p.name);
    expect(error.message).toBe(`a ${p.maxMessageLength + 1}-byte message does not fit ${p.name}: its maximum message length is ${p.maxMessageLength} bytes`);
    expect(error.hint).toBe('Create the ring with a larger capacity or maxMessageLength, or split the message.');
  });

  it('CLOSED names the ring', () => {
    const p = producer('closed');
    p.close();
    for (const call of [() => p.send(1), () => p.sendBytes(message(0)), () => p.claim(1), () => p.cork(), () => p.sendBatch([1])]) {
      expect(caught(call)).toMatchObject({ code: 'CLOSED', segment: p.name, message: `the producer of ${p.name} is closed` });
    }
  });

  it('an open claim blocks every other send, each saying which call and what to do', async () => {
    const p = producer('claim-open');
    const claim = p.claim(8)!;
    expect(caught(() => p.claim(8)).message).toBe('claim: a claim is already open; commit() or abort() it first');
    expect(caught(() => p.sendBytes(message(0))).message).toBe('send: a claim is open; commit() or abort() it first');
    expect(caught(() => p.send(1)).message).toBe('send: a claim is open; commit() or abort() it first');
    expect(caught(() => p.sendBytesBatch([message(0)])).message).toBe('sendBatch: a claim is open; commit() or abort() it first');
    expect((await rejected(p.sendBytesAsync(message(0)))).message).toBe('sendAsync: a claim is open; commit() or abort() it first');
    claim.abort();
    expect(p.sendBytes(message(0))).toBe(true);
  });

  it('argument errors name the call and the value', () => {
    const p = producer('arguments');
    expect(caught(() => p.claim(-1))).toMatchObject({ code: 'ERR_OUT_OF_RANGE', message: 'claim: length must be a non-negative integer, got -1' });
    expect(caught(() => p.claim(1.5)).message).toBe('claim: length must be a non-negative integer, got 1.5');
    expect(caught(() => p.sendBytes('x' as never))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringMatching(/^sendBytes: bytes must be a Uint8Array, got /) });
    expect(caught(() => p.sendBytesSync('x' as never)).message).toMatch(/^sendBytesSync: bytes must be a Uint8Array, got /);
    expect(caught(() => p.sendBatch('x' as never)).message).toMatch(/^sendBatch: values must be an array, got /);
    expect(caught(() => p.sendBytesBatch('x' as never)).message).toMatch(/^sendBytesBatch: list must be an array of Uint8Array, got /);
    expect(caught(() => p.sendBytesBatch([message(0), 'x' as never])).message).toMatch(/^sendBytesBatch: list\[1\] must be a Uint8Array, got /);
  });

  it('sendAsync: TIMEOUT says who is slow, an abort is an AbortError naming the ring with the reason as its cause', async () => {
    const p = fullRing('async-errors');
    const timedOut = await rejected(p.sendBytesAsync(message(0), { timeout: 10 }));
    expect(timedOut).toMatchObject({ code: 'TIMEOUT', segment: p.name, message: `no space in ${p.name} before the timeout` });
    expect(timedOut.hint).toMatch(/tethered consumer is not keeping up.*shmring inspect/);
    const controller = new AbortController();
    const pending = rejected(p.sendBytesAsync(message(0), { signal: controller.signal }));
    controller.abort(new Error('stop'));
    const aborted = await pending;
    expect(aborted).toBeInstanceOf(AbortError);
    expect(aborted).toMatchObject({ code: 'ABORT_ERR', segment: p.name, message: `waiting for space in ${p.name} was aborted` });
    expect((aborted.cause as Error).message).toBe('stop');
    const early = await rejected(p.sendBytesAsync(message(0), { signal: AbortSignal.abort(new Error('before')) }));
    expect(early).toMatchObject({ code: 'ABORT_ERR', message: `waiting for space in ${p.name} was aborted` });
    expect((early.cause as Error).message).toBe('before');
  });
});

describe("the consumer's errors", () => {
  it('NO_FREE_SLOT counts the slots and says what to do', () => {
    const p = producer('no-slot', { maxConsumers: 1 });
    track(Consumer.open(p.name));
    const error = caught(() => Consumer.open(p.name));
    expect(error).toMatchObject({ code: 'NO_FREE_SLOT', segment: p.name, message: `${p.name} has no free consumer slot (all 1 are taken)` });
    expect(error.hint).toMatch(/^Every slot belongs to a live process .*larger maxConsumers.*shmring inspect/);
  });

  it('CLOSED names the ring', () => {
    const p = producer('consumer-closed');
    const consumer = Consumer.open(p.name);
    consumer.close();
    for (const call of [() => consumer.tryReceive(), () => consumer.tryReceiveBytes(), () => consumer.poll(() => undefined)]) {
      expect(caught(call)).toMatchObject({ code: 'CLOSED', segment: p.name, message: `the consumer of ${p.name} is closed` });
    }
  });

  it('poll() names a bad handler and a bad limit', () => {
    const p = producer('poll-arguments');
    const consumer = track(Consumer.open(p.name));
    expect(caught(() => consumer.poll('x' as never))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', message: 'poll: handler must be a function, got string' });
    expect(caught(() => consumer.poll(() => undefined, -1))).toMatchObject({ code: 'ERR_OUT_OF_RANGE', message: 'poll: limit must be a number >= 0, got -1' });
    expect(caught(() => consumer.poll(() => undefined, NaN)).message).toBe('poll: limit must be a number >= 0, got NaN');
    expect(consumer.poll(() => undefined, 0)).toBe(0);
  });

  it('DECODE_ERROR names the message, the codec’s words, and says the next read goes on', () => {
    const codec = { encode: () => new Uint8Array([1]), decode: () => { throw new Error('bad byte'); } };
    const p = producer('decode', { codec });
    const consumer = track(Consumer.open(p.name, { codec }));
    expect(p.send(1)).toBe(true);
    const error = caught(() => consumer.tryReceive());
    expect(error).toMatchObject({ code: 'DECODE_ERROR', segment: p.name, message: `${p.name}: message 0 could not be decoded: bad byte` });
    expect(error.hint).toMatch(/another codec.*skipped; the next read goes on/);
  });

  it('receive(): TIMEOUT names the time, an abort is an AbortError naming the ring with its reason', async () => {
    const p = producer('receive-errors');
    const consumer = track(Consumer.open(p.name));
    const timedOut = await rejected(consumer.receive({ timeout: 10 }));
    expect(timedOut).toMatchObject({ code: 'TIMEOUT', segment: p.name, message: `nothing was received from ${p.name} within 10 ms` });
    expect(timedOut.hint).toMatch(/sent nothing meanwhile.*shmring inspect/);
    const aborted = await rejected(consumer.receive({ signal: AbortSignal.abort(new Error('leave')) }));
    expect(aborted).toBeInstanceOf(AbortError);
    expect(aborted).toMatchObject({ code: 'ABORT_ERR', segment: p.name, message: `receiving from ${p.name} was aborted` });
    expect((aborted.cause as Error).message).toBe('leave');
  });

  it('CONSUMER_EVICTED says who may have taken the slot and what to do', () => {
    const p = producer('evicted');
    const consumer = track(Consumer.open(p.name));
    const words = memoryOf(p).consumerI32;
    Atomics.store(words, (L.slotOffset(0) + L.SLOT_PID_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2, process.pid + 1);
    const error = caught(() => consumer.tryReceive());
    expect(error).toMatchObject({ code: 'CONSUMER_EVICTED', segment: p.name, message: `this consumer's slot in ${p.name} was taken by another process` });
    expect(error.hint).toMatch(/^Another process judged this one dead .* no longer holds the producer back: open a new one/);
    Atomics.store(words, (L.slotOffset(0) + L.SLOT_PID_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2, process.pid);
  });

  it('PRODUCER_ABORTED says where the cause is', () => {
    const p = producer('hints');
    const consumer = track(Consumer.open(p.name));
    p.abort(new Error('gone'));
    const aborted = caught(() => consumer.tryReceive());
    expect(aborted).toMatchObject({ code: 'PRODUCER_ABORTED', segment: p.name, message: `the producer of ${p.name} aborted: gone` });
    expect(aborted.hint).toBe('The producer ended the stream with an error after the messages before it; see its logs for the cause.');
  });
});
