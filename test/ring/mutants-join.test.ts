/**
 * Where a consumer starts reading (src/ring/join.ts, docs/protocol.md "Joining"), written against mutants
 * of join.ts that the in-process suite did not notice (docs/testing.md, "Mutation testing"):
 *   - joining at 'oldest' starts at the oldest record the producer still guarantees, also on a ring the
 *     producer has lapped (not at position 0);
 *   - a tethered joiner that finds TAIL_INTENT more than a ring ahead of its start (a producer that raised
 *     it between the joiner's read of the start and its read of the intent) starts further on, at the
 *     published tail, and its slot's head moves there too, so it holds the producer back by exactly one ring;
 *     an intent exactly one ring ahead still leaves the oldest record intact, and the joiner starts there.
 * The racing producer is simulated by storing TAIL_INTENT through the producer's own mapping while the
 * consumer opens, then putting the producer's value back.
 */
import { Consumer, Producer } from '../../src';
import { loadPair, OLDEST_POSITION_I32, PUBLISHED_TAIL_I32, RingMemory, TAIL_INTENT_I32 } from '../../src/ring/memory';
import { trackRings } from '../support/teardown';
import { CAPACITY, MAX_CONSUMERS, RECORD, PER_RING, memoryOf, message } from './mutant-fixtures';

const { ringName, track } = trackRings();

/** Low word of a 64-bit pair of the control region (the tests stay far below 2^32). */
function low(memory: RingMemory, index: number): number {
  const out = new Int32Array(1);
  expect(loadPair(memory.controlI32, index, out)).toBe(0);
  return out[0];
}

/** First bytes of every message available, read one at a time. */
function readAll(consumer: Consumer): number[] {
  const got: number[] = [];
  for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined && got.length < 4 * PER_RING; bytes = consumer.tryReceiveBytes()) got.push(bytes[0]);
  return got;
}

describe.each([true, false])("joining at 'oldest' (tethered: %p)", (tethered) => {
  it('a ring the producer has lapped is read from the oldest record it still holds, to the last, none lost', () => {
    const name = ringName('join-oldest-lapped');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const sent = 2 * PER_RING + 10;
    for (let n = 0; n < sent; n++) expect(producer.sendBytes(message(n))).toBe(true);
    const oldest = low(memoryOf(producer), OLDEST_POSITION_I32) / RECORD;
    expect(oldest).toBeGreaterThan(PER_RING);
    const consumer = track(Consumer.open(name, { tethered, from: 'oldest' }));
    const expected = Array.from({ length: sent - oldest }, (_, i) => (oldest + i) & 255);
    expect(readAll(consumer)).toEqual(expected);
    expect({ received: consumer.received, lost: consumer.lost }).toEqual({ received: sent - oldest, lost: 0 });
  });
});

describe("a tethered consumer joining at 'oldest' while the producer announces an overwrite (TAIL_INTENT)", () => {
  /** A ring holding messages 0..9, its oldest at 0; TAIL_INTENT stored as `intent` while a consumer opens. */
  function joinWithIntent(tag: string, intent: (oldest: number) => number) {
    const name = ringName(tag);
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    for (let n = 0; n < 10; n++) expect(producer.sendBytes(message(n))).toBe(true);
    const memory = memoryOf(producer);
    const oldest = low(memory, OLDEST_POSITION_I32);
    expect(oldest).toBe(0);
    const saved = low(memory, TAIL_INTENT_I32);
    memory.storePair(TAIL_INTENT_I32, intent(oldest), 0);
    let consumer: Consumer;
    try {
      consumer = track(Consumer.open(name, { from: 'oldest' }));
    } finally {
      memory.storePair(TAIL_INTENT_I32, saved, 0);
    }
    return { producer, consumer, tail: low(memory, PUBLISHED_TAIL_I32) };
  }

  it('more than a ring ahead of the oldest record: it starts at the published tail, and holds the producer back by one ring from there', () => {
    const { producer, consumer, tail } = joinWithIntent('join-intent-ahead', (oldest) => oldest + CAPACITY + RECORD);
    expect(tail).toBe(10 * RECORD);
    // Nothing published before the join is delivered: it may have been overwritten.
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    // Its head is at the tail: a whole ring fits before it holds the producer back, and not one more.
    for (let n = 10; n < 10 + PER_RING; n++) expect(producer.sendBytes(message(n))).toBe(true);
    expect(producer.sendBytes(message(10 + PER_RING))).toBe(false);
    expect(readAll(consumer)).toEqual(Array.from({ length: PER_RING }, (_, i) => (10 + i) & 255));
    expect(consumer.lost).toBe(0);
  });

  it('exactly a ring ahead: the oldest record is intact, and it is read from there', () => {
    const { consumer } = joinWithIntent('join-intent-ring', (oldest) => oldest + CAPACITY);
    expect(readAll(consumer)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });
});
