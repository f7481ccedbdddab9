/**
 * What a consumer's reader (src/ring/reader.ts) promises in docs/protocol.md ("Reading"), checked for both
 * ways of reading: one record at a time (tryReceiveBytes: RingReader#read) and the batch read (poll:
 * RingReader#readRun for tethered readers), tethered and untethered. Written against mutants of reader.ts
 * that survived the suite (docs/testing.md, "Mutation testing"), so each check here is one the rest of the
 * in-process suite did not make:
 *   - every check of a record header, each on its own (the others pass), is CORRUPT_SEGMENT after the
 *     intact records before it are delivered, by both reading paths;
 *   - a padding record at the wrap is skipped, by both paths;
 *   - loss is counted from sequence numbers, by both paths;
 *   - the head is published every quarter ring, so a tethered consumer that reads without catching up
 *     still frees space for a producer it holds back.
 * Damage is written through a second, writable mapping of the segment, at offsets named in
 * src/ring/layout.ts (what any process with write access to the segment can do).
 */
import { Consumer, Producer, Segment, ShmRingError } from '../../src';
import * as L from '../../src/ring/layout';
import { RingMemory } from '../../src/ring/memory';
import { trackRings } from '../support/teardown';
import { CAPACITY, MAX_CONSUMERS, PAYLOAD, RECORD, PER_RING, message } from './mutant-fixtures';
import { withInstantDrain } from '../support/waits';

const { ringName, track } = trackRings();

type Style = 'tryReceiveBytes' | 'poll';
const STYLES: Array<[Style, boolean]> = [
  ['tryReceiveBytes', true],
  ['tryReceiveBytes', false],
  ['poll', true],
  ['poll', false],
];

/** A writable view of the data region of ring `name`. */
function writableData(name: string): DataView {
  const segment = track(Segment.open(name));
  return new DataView(segment.map(0, segment.size, { writable: true }), L.controlLength(MAX_CONSUMERS), CAPACITY);
}

/**
 * Reads everything available with `style` (at most `max` messages): the first byte of each message, and
 * the ShmRingError code that stopped the reading (undefined: it ran out of messages). Anything else thrown
 * fails the test.
 */
function readAll(consumer: Consumer, style: Style, max = 4 * PER_RING): { got: number[]; code: string | undefined } {
  const got: number[] = [];
  try {
    if (style === 'tryReceiveBytes') {
      for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined && got.length < max; bytes = consumer.tryReceiveBytes()) got.push(bytes[0]);
    } else {
      // Bounded: each call either hands over at least one message or returns 0.
      for (let calls = 0; calls < max; calls++) {
        if (consumer.poll((bytes, offset) => got.push(bytes[offset]), max - got.length) === 0) break;
      }
    }
  } catch (error) {
    if (error instanceof ShmRingError) return { got, code: error.code };
    throw error;
  }
  return { got, code: undefined };
}

/**
 * A ring whose consumer (opened before anything was sent) has read messages 0..read-1 and has `sent`
 * messages published in all; `read` is chosen so that the records of interest sit where a case needs them.
 */
function ringAt(tag: string, tethered: boolean, read: number, sent: number) {
  const name = ringName(tag);
  const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
  const consumer = track(Consumer.open(name, { tethered }));
  let n = 0;
  // In steps of at most half a ring, read as they go, so a tethered consumer never holds the producer.
  while (n < read) {
    const step = Math.min(read - n, PER_RING / 2);
    for (let i = 0; i < step; i++, n++) expect(producer.sendBytes(message(n))).toBe(true);
    const { got, code } = readAll(consumer, 'tryReceiveBytes');
    expect({ got: got.length, code }).toEqual({ got: step, code: undefined });
  }
  for (; n < sent; n++) expect(producer.sendBytes(message(n))).toBe(true);
  return { name, producer, consumer, data: writableData(name) };
}

/** Byte offset in the data region of message n's record (every record RECORD bytes, no padding yet). */
function recordAt(n: number): number {
  return (n * RECORD) % CAPACITY;
}

describe('each check of a record header, failing alone, is CORRUPT_SEGMENT after the intact records before it', () => {
  // [label, messages read first, messages sent, the message whose header is damaged, the damage]
  const maxLength = L.defaultMaxMessageLength(CAPACITY);
  const cases: Array<[string, number, number, number, (data: DataView, at: number) => void]> = [
    ['type 0 (below MESSAGE)', 2, 10, 4, (data, at) => data.setInt32(at + L.RECORD_TYPE_OFFSET, 0, true)],
    ['a type past ABORT', 2, 10, 4, (data, at) => data.setInt32(at + L.RECORD_TYPE_OFFSET, L.RecordType.ABORT + 1, true)],
    ['a negative payload length', 2, 10, 4, (data, at) => data.setInt32(at + L.RECORD_LENGTH_OFFSET, -16, true)],
    // Within the ring and within what is published: only the maximum is exceeded.
    ['a payload length one past maxMessageLength', 2, 4 + 20, 4, (data, at) => data.setInt32(at + L.RECORD_LENGTH_OFFSET, maxLength + 1, true)],
    // Within what is published: only the end of the ring is crossed (the record before the last of a lap).
    ['a record running past the end of the ring', PER_RING - 4, PER_RING + 12, PER_RING - 2, (data, at) => data.setInt32(at + L.RECORD_LENGTH_OFFSET, 3 * RECORD, true)],
    // Within the ring: only the published tail is crossed (the last record published).
    ['a record running past the published tail', 2, 10, 9, (data, at) => data.setInt32(at + L.RECORD_LENGTH_OFFSET, 2 * RECORD, true)],
    // A padding record whose length does not reach the wrap, though the wrap is published.
    // Even when the bytes where that shorter padding would end look like a record of their own.
    ['a padding record whose length is not the distance to the wrap', PER_RING - 4, PER_RING + 4, PER_RING - 1, (data, at) => {
      data.setInt32(at + L.RECORD_TYPE_OFFSET, L.RecordType.PADDING, true);
      data.setInt32(at + L.RECORD_LENGTH_OFFSET, PAYLOAD - L.RECORD_ALIGNMENT, true);
      const next = at + L.recordLength(PAYLOAD - L.RECORD_ALIGNMENT);
      data.setInt32(next + L.RECORD_LENGTH_OFFSET, 0, true);
      data.setInt32(next + L.RECORD_TYPE_OFFSET, L.RecordType.BYTES, true);
      data.setInt32(next + L.RECORD_SEQUENCE_OFFSET, PER_RING - 1, true);
      data.setInt32(next + L.RECORD_SEQUENCE_HIGH_OFFSET, 0, true);
    }],
  ];

  describe.each(STYLES)('read by %s (tethered: %p)', (style, tethered) => {
    it.each(cases)('%s', (_label, read, sent, damaged, damage) => {
      const { consumer, data } = ringAt('header-check', tethered, read, sent);
      damage(data, recordAt(damaged));
      const before = Array.from({ length: damaged - read }, (_, i) => (read + i) & 255);
      expect(readAll(consumer, style)).toEqual({ got: before, code: 'CORRUPT_SEGMENT' });
      // Corruption is not loss: nothing was counted as lost, everything delivered was counted.
      expect({ received: consumer.received, lost: consumer.lost }).toEqual({ received: damaged, lost: 0 });
    });
  });
});

describe.each(STYLES)('a padding record at the wrap (read by %s, tethered: %p)', (style, tethered) => {
  it('is skipped: the messages on both sides of it arrive whole and in order', () => {
    // The last record of the lap turned into padding of the right length (what the producer writes when
    // a record does not fit before the wrap): its message is gone, but it was never a message to read.
    const { consumer, data } = ringAt('padding', tethered, PER_RING - 4, PER_RING + 4);
    const at = recordAt(PER_RING - 1);
    data.setInt32(at + L.RECORD_TYPE_OFFSET, L.RecordType.PADDING, true);
    expect(data.getInt32(at + L.RECORD_LENGTH_OFFSET, true)).toBe(RECORD - L.RECORD_HEADER_LENGTH);
    const expected = [PER_RING - 4, PER_RING - 3, PER_RING - 2, PER_RING, PER_RING + 1, PER_RING + 2, PER_RING + 3].map((n) => n & 255);
    expect(readAll(consumer, style)).toEqual({ got: expected, code: undefined });
    // The message the padding replaced is missing from the sequence numbers: counted as lost, not more.
    expect({ received: consumer.received, lost: consumer.lost }).toEqual({ received: PER_RING + 3, lost: 1 });
  });
});

describe.each(STYLES)('loss counted from sequence numbers (read by %s, tethered: %p)', (style, tethered) => {
  it('a record whose sequence number is ahead of the one expected adds the gap to lost; one behind adds nothing', () => {
    const { consumer, data } = ringAt('sequence-gap', tethered, 2, 10);
    // Message 5 carries the sequence number of message 12: 7 messages missed before it.
    data.setInt32(recordAt(5) + L.RECORD_SEQUENCE_OFFSET, 12, true);
    const got: number[] = [];
    const sequences: number[] = [];
    if (style === 'poll') {
      consumer.poll((bytes, offset, _length, sequence) => {
        got.push(bytes[offset]);
        sequences.push(sequence);
      });
    } else {
      for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) {
        got.push(bytes[0]);
        sequences.push(consumer.lastSequence);
      }
    }
    expect(got).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(sequences).toEqual([2, 3, 4, 12, 6, 7, 8, 9]);
    expect({ received: consumer.received, lost: consumer.lost }).toEqual({ received: 10, lost: 7 });
  });
});

describe.each(['tryReceiveBytes', 'poll'] as const)('a tethered consumer reading by %s without catching up', (style) => {
  it('frees space for the producer it holds back every quarter ring, not only when it catches up, nor per message', () => {
    const name = ringName('quarter');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name));
    let sent = 0;
    while (sent < 2 * PER_RING && producer.sendBytes(message(sent))) sent++;
    expect(sent).toBe(PER_RING);
    // A quarter ring and one more message read, one at a time (the head is published as the next read
    // starts) or in one batch; the consumer is still far behind the tail.
    const quarter = PER_RING / 4;
    const got: number[] = [];
    if (style === 'poll') {
      expect(consumer.poll((bytes, offset) => got.push(bytes[offset]), quarter + 1)).toBe(quarter + 1);
    } else {
      for (let i = 0; i <= quarter; i++) got.push(consumer.tryReceiveBytes()![0]);
    }
    expect(got).toEqual(Array.from({ length: quarter + 1 }, (_, n) => n));
    let more = 0;
    while (more < PER_RING && producer.sendBytes(message(sent + more))) more++;
    // Exactly the quarter is free again: the head is published once per quarter ring (docs/protocol.md,
    // "Reading", 6), not once per message.
    expect(more).toBe(quarter);
  });
});

describe.each(['tryReceiveBytes', 'poll'] as const)('a tethered consumer whose slot was taken (read by %s)', (style) => {
  it('never writes into the slot again and fails with CONSUMER_EVICTED', () => {
    const name = ringName('evicted');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, livenessIntervalMs: 60_000 }));
    const consumer = track(Consumer.open(name));
    const control = new Int32Array(writableData(name).buffer, 0, L.controlLength(MAX_CONSUMERS) >> 2);
    const at = (field: number): number => (L.slotOffset(0) + field) >> 2;
    // Another live process (our parent, the test runner) now owns slot 0, as if it had reclaimed it and
    // joined, at a head of its own.
    expect(Atomics.compareExchange(control, at(L.SLOT_PID_OFFSET), process.pid, process.ppid)).toBe(process.pid);
    Atomics.store(control, at(L.SLOT_HEAD_OFFSET), 0x770);
    for (let n = 0; n < PER_RING / 2; n++) expect(producer.sendBytes(message(n))).toBe(true);
    const { got, code } = readAll(consumer, style);
    expect(code).toBe('CONSUMER_EVICTED');
    // It read what was there, and published nothing into the slot that is no longer its own.
    expect(got.length).toBeGreaterThan(0);
    expect([Atomics.load(control, at(L.SLOT_HEAD_OFFSET)), Atomics.load(control, at(L.SLOT_PID_OFFSET))]).toEqual([0x770, process.ppid]);
    // Closing leaves the other owner's slot alone too.
    consumer.close();
    expect([Atomics.load(control, at(L.SLOT_HEAD_OFFSET)), Atomics.load(control, at(L.SLOT_PID_OFFSET))]).toEqual([0x770, process.ppid]);
    Atomics.store(control, at(L.SLOT_PID_OFFSET), 0);
  });
});

describe.each(['tryReceiveBytes', 'poll'] as const)('an untethered consumer lapped while idle (read by %s)', (style) => {
  it('resumes at the oldest record the producer still guarantees, not at the tail, and counts the rest as lost', () => {
    const name = ringName('resume-oldest');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name, { tethered: false }));
    const sent = 2 * PER_RING;
    for (let n = 0; n < sent; n++) expect(producer.sendBytes(message(n))).toBe(true);
    const { got, code } = readAll(consumer, style);
    expect(code).toBeUndefined();
    // A run of the newest messages, in order, up to the last one sent...
    const first = sent - got.length;
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => (first + i) & 255));
    // ... from about a ring back: all but the chunk (capacity/8) the producer announces ahead of its tail.
    expect(got.length).toBeGreaterThanOrEqual(PER_RING - PER_RING / 8 - 1);
    expect({ received: consumer.received, lost: consumer.lost, laps: consumer.stats.laps }).toEqual({ received: got.length, lost: first, laps: 1 });
  });
});

describe('joining at the oldest record of a ring that has wrapped', () => {
  it.each([true, false])('counts nothing overwritten before the join as lost (tethered: %p)', (tethered) => {
    const name = ringName('oldest-join');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const sent = 3 * PER_RING;
    for (let n = 0; n < sent; n++) expect(producer.sendBytes(message(n))).toBe(true);
    const consumer = track(Consumer.open(name, { tethered, from: 'oldest' }));
    const { got, code } = readAll(consumer, 'tryReceiveBytes');
    expect(code).toBeUndefined();
    const first = sent - got.length;
    expect(first).toBeGreaterThan(0);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => (first + i) & 255));
    expect({ received: consumer.received, lost: consumer.lost }).toEqual({ received: got.length, lost: 0 });
  });
});

describe('an untethered consumer lapped while the oldest position in the control region is damaged', () => {
  // [label, messages sent before the read, the damaged oldest position from the real one]
  it.each([
    ['off the record alignment', 2 * PER_RING, (oldest: number) => oldest + 4],
    ['ahead of the published tail', 2 * PER_RING, (oldest: number) => oldest + 2 * CAPACITY],
    // Past the reader, but more than a ring behind the tail (8192 after two rings).
    ['more than a ring behind the tail', 2 * PER_RING, () => RECORD],
    // Exactly a ring behind the tail, inside the chunk the intent runs ahead: lapped there too, so the
    // reader resynchronises once more and then gives up on it (it never goes back to where it stands).
    ['where the reader is lapped again', 2 * PER_RING, () => CAPACITY],
    // Lapped only by the intent the producer announces a chunk ahead: the oldest moved back to the
    // reader's own position (0), where it would only be lapped again.
    ['at the reader\'s own position', PER_RING, () => 0],
  ])('(%s) never reads from it: after one lap it resumes at the tail and reads what is sent next', (_label, before, damage) => {
    const name = ringName('bad-oldest');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name, { tethered: false }));
    let sent = 0;
    for (; sent < before; sent++) expect(producer.sendBytes(message(sent))).toBe(true);
    const control = new Int32Array(writableData(name).buffer, 0, L.controlLength(MAX_CONSUMERS) >> 2);
    const oldestIndex = L.OLDEST_POSITION_OFFSET >> 2;
    Atomics.store(control, oldestIndex, damage(Atomics.load(control, oldestIndex)));
    expect(readAll(consumer, 'tryReceiveBytes')).toEqual({ got: [], code: undefined });
    for (let n = 0; n < 3; n++, sent++) expect(producer.sendBytes(message(sent))).toBe(true);
    expect(readAll(consumer, 'tryReceiveBytes')).toEqual({ got: [sent - 3, sent - 2, sent - 1].map((n) => n & 255), code: undefined });
    expect({ received: consumer.received, lost: consumer.lost }).toEqual({ received: 3, lost: sent - 3 });
    if (_label === 'where the reader is lapped again') expect(consumer.stats.laps).toBeGreaterThan(1);
    else expect(consumer.stats.laps).toBe(1);
  });
});

describe('a producer that aborts with wipeOnClose', () => {
  it.each([true, false])('fails a consumer (tethered: %p) with PRODUCER_ABORTED, though the ABORT record was wiped', (tethered) => {
    const name = ringName('wiped-abort');
    const producer = Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, wipeOnClose: true, unlinkOnClose: false });
    track({ close: () => producer.close() });
    const consumer = track(Consumer.open(name, { tethered }));
    for (let n = 0; n < 5; n++) expect(producer.sendBytes(message(n))).toBe(true);
    expect(consumer.tryReceiveBytes()?.[0]).toBe(0);
    // The drain before the wipe cannot end early: this thread's consumer reads nothing meanwhile.
    withInstantDrain(() => producer.abort(new Error('disk full')));
    expect(readAll(consumer, 'tryReceiveBytes')).toEqual({ got: [], code: 'PRODUCER_ABORTED' });
    expect({ received: consumer.received, lost: consumer.lost }).toEqual({ received: 1, lost: 4 });
  });
});

describe('the batch read (poll)', () => {
  it('hands a tethered consumer views into the ring, an untethered one a private copy', () => {
    const name = ringName('poll-views');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const tethered = track(Consumer.open(name));
    const untethered = track(Consumer.open(name, { tethered: false }));
    expect(producer.sendBytes(Uint8Array.of(1, 2, 3))).toBe(true);
    const seen: Array<{ own: boolean; bytes: number[] }> = [];
    for (const consumer of [tethered, untethered]) {
      // Each consumer maps the ring on its own: "the ring" is its own mapping of the data region.
      const ring = (consumer as unknown as { memory: RingMemory }).memory.data;
      expect(consumer.poll((bytes, offset, length) => seen.push({ own: bytes.buffer === ring, bytes: Array.from(bytes.subarray(offset, offset + length)) }))).toBe(1);
    }
    expect(seen).toEqual([{ own: true, bytes: [1, 2, 3] }, { own: false, bytes: [1, 2, 3] }]);
  });

  it.each([true, false])('a published tail off the record alignment is CORRUPT_SEGMENT before anything is delivered (tethered: %p)', (tethered) => {
    const { name, consumer } = ringAt('poll-odd-tail', tethered, 2, 6);
    const control = new Int32Array(writableData(name).buffer, 0, L.controlLength(MAX_CONSUMERS) >> 2);
    const tailIndex = L.PUBLISHED_TAIL_OFFSET >> 2;
    Atomics.store(control, tailIndex, Atomics.load(control, tailIndex) + L.RECORD_ALIGNMENT / 4);
    expect(readAll(consumer, 'poll')).toEqual({ got: [], code: 'CORRUPT_SEGMENT' });
  });
});
