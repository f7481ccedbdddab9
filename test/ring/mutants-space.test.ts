/**
 * The producer's waits for space (src/ring/space-wait.ts, docs/protocol.md "Sleeping and waking") and the
 * drain before a wipe (src/ring/wipe.ts, wipeOnClose), written against mutants of those files that the
 * in-process suite did not notice (docs/testing.md, "Mutation testing"):
 *   - a consumer wakes the producer (bumps SPACE_WAKE) only when the producer announced a sleep, once
 *     per announcement, never per release; the announcement is withdrawn when the producer stops waiting;
 *   - close() with wipeOnClose gives tethered consumers the time to read what they were promised before
 *     zeroing the ring, sleeping only while something is unread.
 * A consumer in another process reading during the producer's sleep is simulated by wrapping
 * sleepForSpace: the consumer (in this thread) reads, then the real sleep runs.
 */
import { Consumer, Producer, Segment } from '../../src';
import * as L from '../../src/ring/layout';
import { PRODUCER_WAITING_CI32, SPACE_WAKE_CI32 } from '../../src/ring/memory';
import * as spaceWait from '../../src/ring/space-wait';
import { trackRings } from '../support/teardown';
import { CAPACITY, MAX_CONSUMERS, PER_RING, memoryOf, message } from './mutant-fixtures';

const { ringName, track, trackName } = trackRings();

afterEach(() => {
  jest.restoreAllMocks();
});

describe('waking a producer that waits for space', () => {
  it('a consumer bumps SPACE_WAKE once per announced sleep, and not at all when the producer does not wait', async () => {
    const name = ringName('space-wake');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name));
    const words = memoryOf(consumer).consumerI32;
    let sent = 0;
    let read = 0;
    // Exactly a ring: sendBytes() is never refused (a refused send would arm the 'drain' wait).
    const fill = () => {
      for (let i = 0; i < PER_RING; i++, sent++) expect(producer.sendBytes(message(sent))).toBe(true);
    };
    // Reads everything; the consumer publishes its head every quarter ring and when it has caught up.
    const readAll = () => {
      for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes(), read++) expect(bytes[0]).toBe(read & 255);
      expect(read).toBe(sent);
    };
    const wakes = () => Atomics.load(words, SPACE_WAKE_CI32);
    const waiting = () => Atomics.load(words, PRODUCER_WAITING_CI32);

    // Nobody waits: reading wakes nobody.
    fill();
    const before = wakes();
    expect(waiting()).toBe(0);
    readAll();
    expect(wakes()).toBe(before);

    // A sendAsync waiting for space: the first release wakes it, once; the releases after it do not. Once
    // it has sent, its announcement is withdrawn: later releases wake nobody.
    fill();
    const pending = producer.sendBytesAsync(message(sent), { timeout: 10000 });
    pending.catch(() => undefined); // awaited below; a failing expect before that must not crash the run
    expect(waiting()).toBe(1);
    readAll();
    expect(wakes()).toBe(before + 1);
    await pending;
    sent++;
    expect(waiting()).toBe(0);
    readAll();
    expect(wakes()).toBe(before + 1);
  });
});

describe('close() with wipeOnClose', () => {
  function wipedRing(tag: string) {
    const name = trackName(ringName(tag));
    const producer = Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, wipeOnClose: true, unlinkOnClose: false });
    track({ close: () => producer.close() });
    const consumer = track(Consumer.open(name));
    for (let n = 0; n < 10; n++) expect(producer.sendBytes(message(n))).toBe(true);
    return { name, producer, consumer };
  }

  /** The data region of ring `name`, as any process that maps it sees it. */
  function dataOf(name: string): Uint8Array {
    const segment = track(Segment.open(name));
    return new Uint8Array(segment.map(0, segment.size, { writable: false }), L.controlLength(MAX_CONSUMERS), CAPACITY);
  }

  it('waits for a tethered consumer that reads meanwhile: it gets every message and the end, nothing lost; then the ring is zeroed', () => {
    const { name, producer, consumer } = wipedRing('wipe-drain');
    const got: number[] = [];
    const sleep = spaceWait.sleepForSpace;
    const sleeps = jest.spyOn(spaceWait, 'sleepForSpace').mockImplementation((memory, ticket, timeoutMs) => {
      // The consumer, elsewhere, reads what it was promised while the producer sleeps.
      for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) got.push(bytes[0]);
      sleep(memory, ticket, timeoutMs);
    });
    producer.close();
    // One sleep: once the consumer has read everything, the drain is over.
    expect(sleeps).toHaveBeenCalledTimes(1);
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect({ ended: consumer.ended, received: consumer.received, lost: consumer.lost }).toEqual({ ended: true, received: 10, lost: 0 });
    expect(dataOf(name).every((byte) => byte === 0)).toBe(true);
  });

  it('does not sleep when no tethered consumer holds the ring: an untethered one counts what it had not read as lost', () => {
    const name = trackName(ringName('wipe-untethered'));
    const producer = Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, wipeOnClose: true, unlinkOnClose: false });
    track({ close: () => producer.close() });
    const consumer = track(Consumer.open(name, { tethered: false }));
    for (let n = 0; n < 10; n++) expect(producer.sendBytes(message(n))).toBe(true);
    for (let n = 0; n < 3; n++) expect(consumer.tryReceiveBytes()?.[0]).toBe(n);
    const sleeps = jest.spyOn(spaceWait, 'sleepForSpace');
    producer.close();
    expect(sleeps).not.toHaveBeenCalled();
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    expect({ ended: consumer.ended, received: consumer.received, lost: consumer.lost }).toEqual({ ended: true, received: 3, lost: 7 });
    expect(dataOf(name).every((byte) => byte === 0)).toBe(true);
  });
});
