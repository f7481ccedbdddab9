/**
 * The producer's own paths (src/api/producer.ts), in this process so that mutation testing sees them:
 * written against mutants of producer.ts that survived the suite (docs/testing.md, "Mutation testing").
 * - sendSync held back by a tethered consumer sleeps on the futex (no CPU while it waits), with a
 *   sleep its timeout bounds, and returns false at the timeout;
 * - its stats, exactly; close() and abort() (the reason a consumer is told, idempotence, an open claim,
 *   the name unlinked or kept, a name already removed); the batch paths on a full ring and with an open
 *   claim; cork nesting;
 * - waiting for space: sendAsync and 'drain' once a quarter of the ring is free; a dead tethered consumer
 *   that holds the ring full is reclaimed on the send path ('consumer-reclaimed', counted), a dead
 *   untethered one by the liveness timer;
 * - a tethered slot marked active without an owner (a claimer that lost the slot to a reclaim in the
 *   same instant) holds nothing back.
 */
import * as fs from 'fs';
import { once } from 'events';
import { Consumer, Producer, ShmRingError } from '../../src';
import * as futex from '../../src/core/futex';
import * as L from '../../src/ring/layout';
import { claimSlot } from '../../src/ring/slots';
import { currentProcess } from '../../src/core/liveness';
import { CAPACITY, PAYLOAD, PER_RING, RECORD, deadPid, memoryOf, message } from './mutant-fixtures';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

afterEach(() => jest.restoreAllMocks());

describe('sendSync held back', () => {
  it('sleeps on the futex for at most its timeout, then returns false', () => {
    const p = track(Producer.create(ringName('sync-held'), { capacity: CAPACITY, livenessIntervalMs: 60_000 }));
    track(Consumer.open(p.name, { tethered: true }));
    let sent = 0;
    while (p.sendBytes(message(sent))) sent++;
    expect(sent).toBe(PER_RING);
    const wait = jest.spyOn(futex, 'wait');
    expect(p.sendBytesSync(message(sent), 20)).toBe(false);
    expect(wait).toHaveBeenCalled();
    for (const call of wait.mock.calls) expect(call[3]).toBeLessThanOrEqual(20);
  }, 20_000);
});

describe('the write limit', () => {
  it('ignores an active tethered slot whose pid word is 0 (no owner)', () => {
    const p = track(Producer.create(ringName('ownerless'), { capacity: CAPACITY }));
    const memory = memoryOf(p);
    const index = claimSlot(memory, currentProcess(), true, 0, 0);
    expect(index).toBe(0);
    Atomics.store(memory.consumerI32, (L.slotOffset(index) + L.SLOT_PID_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2, 0);
    for (let n = 0; n < 3 * PER_RING; n++) expect(p.sendBytes(message(n))).toBe(true);
  });
});

function heldFull(tag: string): { p: Producer; consumer: Consumer } {
  const p = track(Producer.create(ringName(tag), { capacity: CAPACITY }));
  const consumer = track(Consumer.open(p.name, { tethered: true }));
  for (let n = 0; n < PER_RING; n++) expect(p.sendBytes(message(n))).toBe(true);
  return { p, consumer };
}

describe('stats', () => {
  it('counts messages, bytes, stalls and the free bytes exactly', () => {
    const { p, consumer } = heldFull('stats');
    expect(p.stats).toEqual({ messagesSent: PER_RING, bytesSent: PER_RING * PAYLOAD, producerStalls: 0, wakesSent: expect.any(Number), bellsRung: 0, consumersReclaimed: 0, freeBytes: 0 });
    expect(p.sendBytes(message(0))).toBe(false);
    expect(p.sendBytes(message(0))).toBe(false);
    expect(p.stats.producerStalls).toBe(2);
    for (let n = 0; n < 16; n++) expect(consumer.tryReceiveBytes()).toBeDefined();
    expect(consumer.tryReceiveBytes()?.[0]).toBe(16);
    // The consumer releases its head in steps; whatever it released is free, never more than it read.
    const free = p.stats.freeBytes;
    expect(free % RECORD).toBe(0);
    expect(free).toBeLessThanOrEqual(17 * RECORD);
    expect(p.nextSequence).toBe(PER_RING);
    expect(p.consumers).toBe(1);
  });
});

describe('close() and abort()', () => {
  async function failureOf(consumer: Consumer): Promise<ShmRingError> {
    for (;;) {
      try {
        if ((await consumer.receive({ timeout: 5000 })) === undefined) throw new Error('ended without an error');
      } catch (error) {
        return error as ShmRingError;
      }
    }
  }

  it.each([
    ['an Error', new Error('disk gone'), 'aborted: disk gone'],
    ['an Error with a string code', Object.assign(new Error('disk gone'), { code: 'EDISK' }), 'aborted: disk gone (EDISK)'],
    ['an Error with a code that is not a string', Object.assign(new Error('disk gone'), { code: 5 }), 'aborted: disk gone'],
    ['a string', 'no more input', 'aborted: no more input'],
    ['nothing', undefined, 'aborted: aborted'],
  ])('abort(%s) gives consumers PRODUCER_ABORTED with that reason', async (_label, reason, ending) => {
    const p = track(Producer.create(ringName('abort-reason'), { capacity: CAPACITY }));
    const consumer = track(Consumer.open(p.name));
    p.abort(reason);
    const error = await failureOf(consumer);
    expect(error.code).toBe('PRODUCER_ABORTED');
    expect(error.message.endsWith(ending)).toBe(true);
  });

  it('is idempotent: one close event, and abort() after close() changes nothing', () => {
    const p = track(Producer.create(ringName('close-twice'), { capacity: CAPACITY, unlinkOnClose: false }));
    const consumer = track(Consumer.open(p.name));
    let closes = 0;
    p.on('close', () => closes++);
    p.close();
    p.close();
    p.abort(new Error('late'));
    expect(closes).toBe(1);
    expect(p.isClosed).toBe(true);
    expect(consumer.receiveSync(1000)).toBeUndefined();
    expect(consumer.ended).toBe(true);
    expect(() => p.consumers).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    expect(() => p.sendBytes(message(0))).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });

  it('unlinks the name by default, keeps it with unlinkOnClose: false, and tolerates a name already removed', () => {
    const unlinked = track(Producer.create(ringName('unlink'), { capacity: CAPACITY }));
    unlinked.close();
    expect(fs.existsSync(`/dev/shm${unlinked.name}`)).toBe(false);
    const kept = track(Producer.create(ringName('keep'), { capacity: CAPACITY, unlinkOnClose: false }));
    kept.close();
    expect(fs.existsSync(`/dev/shm${kept.name}`)).toBe(true);
    const removed = track(Producer.create(ringName('removed'), { capacity: CAPACITY }));
    fs.unlinkSync(`/dev/shm${removed.name}`);
    expect(() => removed.close()).not.toThrow();
    expect(removed.isClosed).toBe(true);
  });

  it('drops an open claim: its record is never delivered, and the END follows what was sent', () => {
    const p = track(Producer.create(ringName('close-claim'), { capacity: CAPACITY }));
    const consumer = track(Consumer.open(p.name));
    expect(p.sendBytes(message(1))).toBe(true);
    const claim = p.claim(PAYLOAD)!;
    claim.bytes.fill(9);
    p.close();
    expect(consumer.receiveBytesSync(1000)?.[0]).toBe(1);
    expect(consumer.receiveBytesSync(1000)).toBeUndefined();
    expect(consumer.ended).toBe(true);
  });

  it('ends a ring held full: consumers read everything, then end', () => {
    const { p, consumer } = heldFull('close-full');
    p.close();
    let read = 0;
    while (consumer.receiveBytesSync(1000) !== undefined) read++;
    expect(read).toBe(PER_RING);
    expect(consumer.ended).toBe(true);
  });
});

describe('the batch paths', () => {
  it('sendBytesBatch sends what fits in a ring held by a tethered consumer, and says how many', () => {
    const p = track(Producer.create(ringName('batch-full'), { capacity: CAPACITY }));
    const consumer = track(Consumer.open(p.name, { tethered: true }));
    const list = Array.from({ length: PER_RING + 10 }, (_, n) => message(n));
    expect(p.sendBytesBatch(list)).toBe(PER_RING);
    expect(p.stats.producerStalls).toBe(1);
    for (let n = 0; n < PER_RING; n++) expect(consumer.tryReceiveBytes()?.[0]).toBe(n);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
  });

  it('refuses a batch while a claim is open, and a message too large stops it after the ones before', () => {
    const p = track(Producer.create(ringName('batch-claim'), { capacity: CAPACITY }));
    const consumer = track(Consumer.open(p.name));
    const claim = p.claim(8)!;
    expect(() => p.sendBytesBatch([message(0)])).toThrow(/a claim is open/);
    claim.abort();
    expect(() => p.sendBytesBatch([message(1), new Uint8Array(p.maxMessageLength + 1)])).toThrow(expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }));
    expect(consumer.tryReceiveBytes()?.[0]).toBe(1);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
  });

  it('a batch inside cork() is published at the last uncork(), not before', () => {
    const p = track(Producer.create(ringName('batch-cork'), { capacity: CAPACITY }));
    const consumer = track(Consumer.open(p.name));
    p.cork();
    p.cork();
    expect(p.sendBytesBatch([message(1), message(2)])).toBe(2);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    p.uncork();
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    p.uncork();
    expect(consumer.tryReceiveBytes()?.[0]).toBe(1);
    expect(consumer.tryReceiveBytes()?.[0]).toBe(2);
    p.uncork();
    expect(p.sendBytes(message(3))).toBe(true);
    expect(consumer.tryReceiveBytes()?.[0]).toBe(3);
  });
});

describe('the oldest record', () => {
  it('evicts exactly the records the space up to TAIL_INTENT overwrites, not one more', () => {
    const p = track(Producer.create(ringName('oldest-exact'), { capacity: CAPACITY }));
    for (let n = 0; n <= PER_RING; n++) expect(p.sendBytes(message(n))).toBe(true);
    // TAIL_INTENT runs ahead of the tail in steps; everything from intent - capacity on is intact. With
    // records of one size from position 0, the oldest kept is the first record boundary at or past it.
    const words = memoryOf(p).controlI32;
    const intent = words[L.TAIL_INTENT_OFFSET >> 2];
    const firstKept = Math.ceil((intent - CAPACITY) / RECORD);
    expect(words[L.OLDEST_POSITION_OFFSET >> 2]).toBe(firstKept * RECORD);
    const consumer = track(Consumer.open(p.name, { from: 'oldest' }));
    const got: number[] = [];
    for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) got.push(bytes[0]);
    expect(got).toEqual(Array.from({ length: PER_RING + 1 - firstKept }, (_, n) => n + firstKept));
  });
});

describe('waiting for space', () => {
  it('sendAsync resolves once the consumer has read, and its message follows', async () => {
    const { p, consumer } = heldFull('async-space');
    const pending = p.sendBytesAsync(message(200));
    let read = 0;
    const timer = setInterval(() => {
      while (read < PER_RING && consumer.tryReceiveBytes() !== undefined) read++;
    }, 1);
    try {
      await pending;
    } finally {
      clearInterval(timer);
    }
    expect(read).toBeGreaterThanOrEqual(PER_RING / 4);
    let last: number | undefined;
    for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) last = bytes[0];
    expect(last).toBe(200);
  });

  it("'drain' follows a refused send once a quarter of the ring is free", async () => {
    const { p, consumer } = heldFull('drain');
    expect(p.sendBytes(message(0))).toBe(false);
    const drained = once(p, 'drain');
    for (let n = 0; n < PER_RING / 4; n++) expect(consumer.tryReceiveBytes()).toBeDefined();
    // The consumer releases its head when it catches up or crosses its release step: read to the end.
    while (consumer.tryReceiveBytes() !== undefined);
    await drained;
    expect(p.sendBytes(message(1))).toBe(true);
  });
});

describe('dead consumers', () => {
  it('a dead tethered consumer holding the ring full is reclaimed on the send path, counted and reported', async () => {
    const p = track(Producer.create(ringName('reclaim-send'), { capacity: CAPACITY, livenessIntervalMs: 60_000 }));
    const memory = memoryOf(p);
    const identity = currentProcess();
    expect(claimSlot(memory, { pid: await deadPid(), startTime: 0, pidNamespace: identity.pidNamespace }, true, 0, 0)).toBe(0);
    const reclaimed: number[] = [];
    p.on('consumer-reclaimed', (count: number) => reclaimed.push(count));
    for (let n = 0; n < PER_RING; n++) expect(p.sendBytes(message(n))).toBe(true);
    expect(p.sendBytes(message(PER_RING))).toBe(true);
    expect(reclaimed).toEqual([1]);
    expect(p.stats.consumersReclaimed).toBe(1);
    expect(p.consumers).toBe(0);
  });

  it('a dead untethered consumer is reclaimed by the liveness timer, though it never holds anything back', async () => {
    const p = track(Producer.create(ringName('reclaim-timer'), { capacity: CAPACITY, livenessIntervalMs: 20 }));
    const memory = memoryOf(p);
    const identity = currentProcess();
    expect(claimSlot(memory, { pid: await deadPid(), startTime: 0, pidNamespace: identity.pidNamespace }, false, 0, 0)).toBe(0);
    const [count] = await once(p, 'consumer-reclaimed');
    expect(count).toBe(1);
    expect(p.consumers).toBe(0);
    expect(p.stats.consumersReclaimed).toBe(1);
  });
});
