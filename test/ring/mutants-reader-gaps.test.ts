/**
 * Promises of the reader (src/ring/reader.ts, docs/protocol.md "Reading") that no in-process test
 * checked (docs/testing.md, "Mutation testing", the gaps left):
 *   - positions are 64-bit: a reader crossing 2^32 bytes carries into the high word, so it is neither
 *     "lapped" (untethered) nor publishes a head 4 GiB behind (tethered);
 *   - loss is exact also when the first record a lapped reader meets is the END: the messages missed
 *     before it are counted at the END;
 *   - the batch read never steps past the published tail inside a padding record: a tail that points into
 *     a padding is CORRUPT_SEGMENT, with nothing delivered from beyond it; nor takes a tail more than a
 *     ring ahead (the ring's old records would be delivered again): read() resynchronises.
 * Damage is written through a second, writable mapping of the segment, at offsets named in
 * src/ring/layout.ts.
 */
import { Consumer, Producer, Segment, ShmRingError } from '../../src';
import * as L from '../../src/ring/layout';
import { readSnapshot } from '../../src/ring/snapshot';
import { trackRings } from '../support/teardown';
import { CAPACITY, MAX_CONSUMERS, PAYLOAD, PER_RING, message } from './mutant-fixtures';

const { ringName, track } = trackRings();

/** The control region of ring `name`, writable (what any process with write access to it can do). */
function writableControl(name: string): Int32Array {
  const segment = track(Segment.open(name));
  return new Int32Array(segment.map(0, L.controlLength(MAX_CONSUMERS), { writable: true }));
}

/** Every message available now, by tryReceiveBytes: first bytes, and the error code that stopped it. */
function drain(consumer: Consumer): { got: number[]; code: string | undefined } {
  const got: number[] = [];
  try {
    for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) {
      got.push(bytes[0]);
      if (got.length > 8 * PER_RING) throw new Error('more messages than were sent');
    }
  } catch (error) {
    if (error instanceof ShmRingError) return { got, code: error.code };
    throw error;
  }
  return { got, code: undefined };
}

describe('a reader crossing 2^32 bytes carries into the high word of its position', () => {
  // Tethered readers check for laps only on a ring that will be wiped (they copy and check every record
  // there), so the wipeOnClose cases are what make "no lap" mean something for them; poll() reads through
  // the batch read where it may.
  it.each([
    [true, false, 'tryReceiveBytes'],
    [true, false, 'poll'],
    [true, true, 'tryReceiveBytes'],
    [true, true, 'poll'],
    [false, false, 'tryReceiveBytes'],
    [false, false, 'poll'],
  ] as const)('(tethered: %p, wipeOnClose: %p, read by %s): no lap, no loss, and its head is the 64-bit tail', (tethered, wipeOnClose, style) => {
    const name = ringName('carry');
    // Half a ring before the carry: the records of the second half of the run lie past 2^32.
    const producer = track(
      Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, wipeOnClose, startPosition: 2 ** 32 - CAPACITY / 2 }),
    );
    const consumer = track(Consumer.open(name, { tethered }));
    const got: number[] = [];
    // In quarter rings, read as they go: an untethered reader is never lapped for real.
    for (let n = 0; n < 2 * PER_RING; ) {
      for (let i = 0; i < PER_RING / 4; i++, n++) expect(producer.sendBytes(message(n))).toBe(true);
      if (style === 'poll') {
        while (consumer.poll((bytes, offset) => got.push(bytes[offset]!)) > 0);
      } else {
        const step = drain(consumer);
        expect(step.code).toBeUndefined();
        got.push(...step.got);
      }
    }
    expect(got).toEqual(Array.from({ length: 2 * PER_RING }, (_, n) => n & 255));
    expect({ received: consumer.stats.received, lost: consumer.stats.lost, laps: consumer.stats.laps }).toEqual({
      received: 2 * PER_RING,
      lost: 0,
      laps: 0,
    });
    // One read more: the reader is caught up, and a caught-up reader publishes its head.
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    const snapshot = readSnapshot(name);
    const tail = snapshot.positions!.publishedTail;
    expect(tail).toBe(2 ** 32 - CAPACITY / 2 + 2 * CAPACITY);
    expect(snapshot.consumers.map((c) => c.head)).toEqual([tail]);
  });
});

describe('loss is counted at an END that follows missed messages', () => {
  it('an untethered reader whose next record is the END counts every message it missed', () => {
    const name = ringName('loss-at-end');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, unlinkOnClose: false }));
    const consumer = track(Consumer.open(name, { tethered: false }));
    for (let n = 0; n < 3; n++) expect(producer.sendBytes(message(n))).toBe(true);
    expect(drain(consumer)).toEqual({ got: [0, 1, 2], code: undefined });
    // A ring and a half of messages the consumer never reads, then the END.
    const missed = PER_RING + PER_RING / 2;
    for (let n = 3; n < 3 + missed; n++) expect(producer.sendBytes(message(n))).toBe(true);
    producer.close();
    // A state the producer itself never writes, forged to reach the branch: the oldest record is the END
    // (the last record, just before the tail), as if everything before it had been overwritten. The
    // lapped reader resynchronises straight onto it and must count what it missed there.
    const control = writableControl(name);
    const tail = Atomics.load(control, L.PUBLISHED_TAIL_OFFSET >> 2);
    Atomics.store(control, L.OLDEST_POSITION_OFFSET >> 2, tail - L.recordLength(0));
    expect(drain(consumer)).toEqual({ got: [], code: undefined });
    expect(consumer.ended).toBe(true);
    expect({ received: consumer.stats.received, lost: consumer.stats.lost }).toEqual({ received: 3, lost: missed });
  });
});

describe('the batch read and a published tail inside a padding record', () => {
  it('is CORRUPT_SEGMENT, delivering nothing from beyond the tail', () => {
    const name = ringName('tail-in-padding');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name));
    // Every record of the first lap but the last, read; then one record too long for the last 64 bytes:
    // a 64-byte padding at the wrap, then the record at offset 0.
    for (let n = 0; n < PER_RING - 1; n++) expect(producer.sendBytes(message(n))).toBe(true);
    let read = 0;
    while (consumer.poll(() => read++) > 0);
    expect(read).toBe(PER_RING - 1);
    expect(producer.sendBytes(new Uint8Array(2 * PAYLOAD).fill(0xee))).toBe(true);
    const control = writableControl(name);
    const paddingStart = (PER_RING - 1) * L.recordLength(PAYLOAD);
    // The tail half-way into the padding (aligned): the padding runs past what is published.
    Atomics.store(control, L.PUBLISHED_TAIL_OFFSET >> 2, paddingStart + L.RECORD_ALIGNMENT * 2);
    const delivered: number[] = [];
    let code: string | undefined;
    try {
      for (let calls = 0; calls < 4; calls++) consumer.poll((bytes, offset) => delivered.push(bytes[offset]));
      consumer.tryReceiveBytes();
    } catch (error) {
      if (!(error instanceof ShmRingError)) throw error;
      code = error.code;
    }
    expect({ delivered, code }).toEqual({ delivered: [], code: 'CORRUPT_SEGMENT' });
    expect({ received: consumer.stats.received, lost: consumer.stats.lost, laps: consumer.stats.laps }).toEqual({
      received: PER_RING - 1,
      lost: 0,
      laps: 0,
    });
  });
});

describe('the batch read and a published tail more than a ring ahead', () => {
  it('delivers none of the old records the ring still holds (read() resynchronises instead)', () => {
    const name = ringName('tail-ring-ahead');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name));
    // A whole lap written and read: every byte of the ring now holds a valid record.
    for (let n = 0; n < PER_RING; n++) expect(producer.sendBytes(message(n))).toBe(true);
    let read = 0;
    while (consumer.poll(() => read++) > 0);
    expect(read).toBe(PER_RING);
    const control = writableControl(name);
    const tail = Atomics.load(control, L.PUBLISHED_TAIL_OFFSET >> 2);
    Atomics.store(control, L.PUBLISHED_TAIL_OFFSET >> 2, tail + CAPACITY + L.recordLength(PAYLOAD));
    const delivered: number[] = [];
    let code: string | undefined;
    try {
      for (let calls = 0; calls < 4; calls++) consumer.poll((bytes, offset) => delivered.push(bytes[offset]));
    } catch (error) {
      if (!(error instanceof ShmRingError)) throw error;
      code = error.code;
    }
    expect({ delivered, code }).toEqual({ delivered: [], code: undefined });
  });
});
