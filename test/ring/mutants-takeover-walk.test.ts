/**
 * Taking over a ring left by a producer that is gone, part 2 (src/ring/create.ts: readWriterStart's
 * walk of the retained records and its correction of a phantom sequence; docs/protocol.md "Taking
 * over"), in this process so that mutation testing sees it. The states a producer killed at the worst
 * moment leaves are planted in a closed producer's segment with plain file I/O, at offsets named in
 * src/ring/layout.ts:
 * - killed inside commit(), between storing its counters with NEXT_SEQUENCE and publishing the tail:
 *   the messages it counted were never published, so the next producer continues from the records'
 *   own sequence numbers and uncounts them (messages, and bytes read from the unpublished records);
 * - retained records that do not add up (a bad type, a length past the limit or past the ring, a
 *   record running over the published tail): the ring is replaced, never continued.
 */
import * as fs from 'fs';
import { Consumer, Producer } from '../../src';
import { readRingId } from '../../src/ring/header';
import * as L from '../../src/ring/layout';
import { CAPACITY, PAYLOAD, RECORD, message } from './mutant-fixtures';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();
const MAX_CONSUMERS = 4;
const DATA = L.controlLength(MAX_CONSUMERS);
const MASK = CAPACITY - 1;

/** A whole segment in memory, written back with `save()`: no process has it mapped meanwhile. */
class SegmentFile {
  readonly bytes: Buffer;
  constructor(readonly name: string) {
    this.bytes = fs.readFileSync(`/dev/shm${name}`);
  }
  i32(offset: number): number {
    return this.bytes.readInt32LE(offset);
  }
  setI32(offset: number, value: number): void {
    this.bytes.writeInt32LE(value | 0, offset);
  }
  f64(offset: number): number {
    return this.bytes.readDoubleLE(offset);
  }
  setF64(offset: number, value: number): void {
    this.bytes.writeDoubleLE(value, offset);
  }
  /** A 64-bit position or sequence kept as low and high words. */
  pair(offset: number): number {
    return this.bytes.readUInt32LE(offset) + this.bytes.readUInt32LE(offset + 4) * L.HIGH_WORD;
  }
  setPair(offset: number, value: number): void {
    this.bytes.writeUInt32LE(value % L.HIGH_WORD, offset);
    this.bytes.writeUInt32LE(Math.floor(value / L.HIGH_WORD), offset + 4);
  }
  /** A record header at ring position `position`. */
  writeRecord(position: number, payloadLength: number, type: number, sequence: number, fill = 0xee): void {
    const at = DATA + (position & MASK);
    this.bytes.writeInt32LE(payloadLength, at + L.RECORD_LENGTH_OFFSET);
    this.bytes.writeInt32LE(type, at + L.RECORD_TYPE_OFFSET);
    this.setPair(at + L.RECORD_SEQUENCE_OFFSET, sequence);
    const payloadEnd = Math.min(at + L.RECORD_HEADER_LENGTH + Math.max(0, payloadLength), DATA + CAPACITY);
    if (type !== L.RecordType.PADDING) this.bytes.fill(fill, at + L.RECORD_HEADER_LENGTH, payloadEnd);
  }
  recordSequence(position: number): number {
    return this.pair(DATA + (position & MASK) + L.RECORD_SEQUENCE_OFFSET);
  }
  get tail(): number {
    return this.pair(L.PUBLISHED_TAIL_OFFSET);
  }
  get oldest(): number {
    return this.pair(L.OLDEST_POSITION_OFFSET);
  }
  ringId(): string {
    return readRingId(this.bytes.buffer.slice(this.bytes.byteOffset, this.bytes.byteOffset + L.PAGE_LENGTH) as ArrayBuffer);
  }
  save(): void {
    fs.writeFileSync(`/dev/shm${this.name}`, this.bytes);
  }
}

function open(): { capacity: number; maxConsumers: number } {
  return { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS };
}

/**
 * A ring left by a producer that sent `count` messages and is gone. `close()` leaves an END record
 * after them; `ended: false` takes it back (the tail moved back over it), as if the producer had been
 * killed instead.
 */
function leftRing(tag: string, count: number, ended = false): SegmentFile {
  const name = ringName(tag);
  const producer = Producer.create(name, { ...open(), unlinkOnClose: false });
  for (let n = 0; n < count; n++) expect(producer.sendBytes(message(n))).toBe(true);
  producer.close();
  const segment = new SegmentFile(name);
  if (!ended) {
    const end = segment.tail - L.RECORD_HEADER_LENGTH;
    expect(segment.i32(DATA + (end & MASK) + L.RECORD_TYPE_OFFSET)).toBe(L.RecordType.END);
    segment.setPair(L.PUBLISHED_TAIL_OFFSET, end);
    segment.setPair(L.TAIL_INTENT_OFFSET, end);
    segment.setI32(DATA + (end & MASK) + L.RECORD_TYPE_OFFSET, 0);
    segment.save();
  }
  return segment;
}

interface Counters {
  messages: number;
  bytes: number;
}

function counters(segment: SegmentFile): Counters {
  return { messages: segment.f64(L.MESSAGES_SENT_OFFSET), bytes: segment.f64(L.BYTES_SENT_OFFSET) };
}

/** Plants what a producer killed inside commit() leaves: `records` written past the tail, `counted` of them counted. */
function plantPhantom(segment: SegmentFile, counted: number, records: Array<[length: number, type: number]>): Counters {
  const before = counters(segment);
  const next = segment.pair(L.NEXT_SEQUENCE_OFFSET);
  let position = segment.tail;
  records.forEach(([length, type], n) => {
    segment.writeRecord(position, length, type, next + n);
    position += type === L.RecordType.PADDING ? CAPACITY - (position & MASK) : L.recordLength(length);
  });
  segment.setPair(L.NEXT_SEQUENCE_OFFSET, next + counted);
  segment.setF64(L.MESSAGES_SENT_OFFSET, before.messages + counted);
  segment.setF64(L.BYTES_SENT_OFFSET, before.bytes + counted * PAYLOAD);
  segment.save();
  return before;
}

/** Every message a consumer joining at the oldest record reads, and the loss it counts. */
function readFromOldest(name: string): { first: number[]; lost: number } {
  const consumer = track(Consumer.open(name, { from: 'oldest' }));
  const first: number[] = [];
  for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined && first.length < 1000; bytes = consumer.tryReceiveBytes()) first.push(bytes[0]);
  return { first, lost: consumer.lost };
}

describe('taking over a ring whose producer was killed inside commit()', () => {
  it('uncounts the messages it counted but never published, and continues from the records’ sequence', () => {
    const segment = leftRing('phantom', 5);
    const tail = segment.tail;
    const expectedSequence = segment.recordSequence(tail - RECORD) + 1;
    // Three records written, two counted: the correction reads exactly as many as it uncounts.
    const before = plantPhantom(segment, 2, [[PAYLOAD, L.RecordType.BYTES], [PAYLOAD, L.RecordType.MESSAGE], [PAYLOAD, L.RecordType.BYTES]]);
    const producer = track(Producer.create(segment.name, open()));
    const after = new SegmentFile(segment.name);
    expect(after.ringId()).toBe(segment.ringId());
    expect(counters(after)).toEqual(before);
    expect(producer.sendBytes(message(5))).toBe(true);
    expect(new SegmentFile(segment.name).recordSequence(tail)).toBe(expectedSequence);
    expect(readFromOldest(segment.name)).toEqual({ first: [0, 1, 2, 3, 4, 5], lost: 0 });
  });

  it('reads the bytes of unpublished records across the padding before the wrap', () => {
    // 62 records of 64 bytes leave 128 bytes before the end of a 4096-byte ring: the killed producer
    // wrote a padding there, then a record at the start of the ring.
    const segment = leftRing('phantom-wrap', 62);
    const before = counters(segment);
    expect(CAPACITY - (segment.tail & MASK)).toBe(2 * RECORD);
    plantPhantom(segment, 2, [[0, L.RecordType.PADDING], [PAYLOAD, L.RecordType.BYTES], [PAYLOAD, L.RecordType.BYTES]]);
    track(Producer.create(segment.name, open()));
    expect(counters(new SegmentFile(segment.name))).toEqual(before);
  });

  it('uncounts only the bytes of the records that add up, and every phantom message', () => {
    const segment = leftRing('phantom-partial', 5);
    const before = counters(segment);
    // The second unpublished record is damaged: its bytes cannot be known.
    plantPhantom(segment, 2, [[PAYLOAD, L.RecordType.BYTES], [CAPACITY, L.RecordType.BYTES]]);
    track(Producer.create(segment.name, open()));
    expect(counters(new SegmentFile(segment.name))).toEqual({ messages: before.messages, bytes: before.bytes + PAYLOAD });
  });

  it.each([
    ['a record of another type', L.RecordType.END],
    ['a record of no known type', 77],
  ])('stops reading unpublished bytes at %s', (_label, type) => {
    const segment = leftRing('phantom-stop', 5);
    const before = counters(segment);
    plantPhantom(segment, 2, [[PAYLOAD, L.RecordType.BYTES], [PAYLOAD, type], [PAYLOAD, L.RecordType.BYTES]]);
    track(Producer.create(segment.name, open()));
    expect(counters(new SegmentFile(segment.name))).toEqual({ messages: before.messages, bytes: before.bytes + PAYLOAD });
  });

  it('leaves the counters of a ring whose NEXT_SEQUENCE is behind its records (nothing to uncount)', () => {
    const segment = leftRing('phantom-behind', 5);
    const next = segment.pair(L.NEXT_SEQUENCE_OFFSET);
    segment.setPair(L.NEXT_SEQUENCE_OFFSET, next - 2);
    segment.save();
    const before = counters(segment);
    const producer = track(Producer.create(segment.name, open()));
    expect(counters(new SegmentFile(segment.name))).toEqual(before);
    expect(producer.sendBytes(message(5))).toBe(true);
    expect(readFromOldest(segment.name)).toEqual({ first: [0, 1, 2, 3, 4, 5], lost: 0 });
  });

  it('leaves the counters when NEXT_SEQUENCE is more than a ring of records ahead (a damaged word, not a batch)', () => {
    const segment = leftRing('phantom-far', 5);
    const next = segment.pair(L.NEXT_SEQUENCE_OFFSET);
    const phantom = CAPACITY / L.RECORD_ALIGNMENT + 1;
    segment.setPair(L.NEXT_SEQUENCE_OFFSET, next + phantom);
    segment.setF64(L.MESSAGES_SENT_OFFSET, segment.f64(L.MESSAGES_SENT_OFFSET) + phantom);
    segment.save();
    const before = counters(segment);
    track(Producer.create(segment.name, open()));
    expect(counters(new SegmentFile(segment.name))).toEqual(before);
  });

  it('uncounts a whole ring of records, the most a batch can leave', () => {
    const segment = leftRing('phantom-most', 5);
    const phantom = CAPACITY / L.RECORD_ALIGNMENT;
    const next = segment.pair(L.NEXT_SEQUENCE_OFFSET);
    const before = counters(segment);
    segment.setPair(L.NEXT_SEQUENCE_OFFSET, next + phantom);
    segment.setF64(L.MESSAGES_SENT_OFFSET, before.messages + phantom);
    segment.save();
    track(Producer.create(segment.name, open()));
    expect(counters(new SegmentFile(segment.name)).messages).toBe(before.messages);
  });

  it('never counts below zero', () => {
    const segment = leftRing('phantom-zero', 5);
    const next = segment.pair(L.NEXT_SEQUENCE_OFFSET);
    segment.setPair(L.NEXT_SEQUENCE_OFFSET, next + 2);
    segment.setF64(L.MESSAGES_SENT_OFFSET, 1);
    segment.setF64(L.BYTES_SENT_OFFSET, 1);
    plantPhantomRecordsOnly(segment, 2);
    track(Producer.create(segment.name, open()));
    expect(counters(new SegmentFile(segment.name))).toEqual({ messages: 0, bytes: 0 });
  });
});

function plantPhantomRecordsOnly(segment: SegmentFile, count: number): void {
  const next = segment.pair(L.NEXT_SEQUENCE_OFFSET) - count;
  for (let n = 0; n < count; n++) segment.writeRecord(segment.tail + n * RECORD, PAYLOAD, L.RecordType.BYTES, next + n);
  segment.save();
}

describe('taking over: the next sequence comes from the retained records', () => {
  it('continues after an END with the END’s own sequence (an END takes no number)', () => {
    const segment = leftRing('walk-end', 5, true);
    const tail = segment.tail;
    const endSequence = segment.recordSequence(tail - L.RECORD_HEADER_LENGTH);
    // A NEXT_SEQUENCE that disagrees shows which one the producer used.
    segment.setPair(L.NEXT_SEQUENCE_OFFSET, endSequence + 3);
    segment.save();
    const producer = track(Producer.create(segment.name, open()));
    expect(producer.sendBytes(message(5))).toBe(true);
    expect(new SegmentFile(segment.name).recordSequence(tail)).toBe(endSequence);
  });

  it('continues from NEXT_SEQUENCE when no record is retained', () => {
    const segment = leftRing('walk-empty', 5);
    segment.setPair(L.OLDEST_POSITION_OFFSET, segment.tail);
    const stored = segment.pair(L.NEXT_SEQUENCE_OFFSET) + 7;
    segment.setPair(L.NEXT_SEQUENCE_OFFSET, stored);
    segment.save();
    const tail = segment.tail;
    const producer = track(Producer.create(segment.name, open()));
    expect(new SegmentFile(segment.name).ringId()).toBe(segment.ringId());
    expect(producer.sendBytes(message(5))).toBe(true);
    expect(new SegmentFile(segment.name).recordSequence(tail)).toBe(stored);
  });

  it('walks across the padding before the wrap', () => {
    const segment = leftRing('walk-wrap', 62);
    const tail = segment.tail;
    // The dead producer padded the last 128 bytes and wrote two messages at the start of the ring.
    const sequence = segment.pair(L.NEXT_SEQUENCE_OFFSET);
    segment.writeRecord(tail, 0, L.RecordType.PADDING, sequence);
    segment.writeRecord(tail + 2 * RECORD, PAYLOAD, L.RecordType.BYTES, sequence);
    segment.writeRecord(tail + 3 * RECORD, PAYLOAD, L.RecordType.BYTES, sequence + 1);
    const newTail = tail + 4 * RECORD;
    segment.setPair(L.PUBLISHED_TAIL_OFFSET, newTail);
    segment.setPair(L.TAIL_INTENT_OFFSET, newTail);
    segment.setPair(L.OLDEST_POSITION_OFFSET, tail + 4 * RECORD - CAPACITY);
    segment.setPair(L.NEXT_SEQUENCE_OFFSET, sequence + 2);
    segment.save();
    const producer = track(Producer.create(segment.name, open()));
    expect(new SegmentFile(segment.name).ringId()).toBe(segment.ringId());
    expect(producer.sendBytes(message(5))).toBe(true);
    expect(new SegmentFile(segment.name).recordSequence(newTail)).toBe(sequence + 2);
  });

  // [label, the damage to the retained record at `at` (a position between oldest and tail)]
  const damages: Array<[string, (segment: SegmentFile, at: number) => void]> = [
    ['a record of no known type', (segment, at) => segment.setI32(DATA + (at & MASK) + L.RECORD_TYPE_OFFSET, 9)],
    ['a record of type 0', (segment, at) => segment.setI32(DATA + (at & MASK) + L.RECORD_TYPE_OFFSET, 0)],
    ['a negative length', (segment, at) => segment.setI32(DATA + (at & MASK) + L.RECORD_LENGTH_OFFSET, -16)],
    ['a length past the ring’s limit', (segment, at) => segment.setI32(DATA + (at & MASK) + L.RECORD_LENGTH_OFFSET, L.defaultMaxMessageLength(CAPACITY) + 1)],
    ['a record that runs over the published tail', (segment, at) => segment.setI32(DATA + (at & MASK) + L.RECORD_LENGTH_OFFSET, PAYLOAD + RECORD)],
    ['a record ending short of the published tail', (segment) => segment.setPair(L.PUBLISHED_TAIL_OFFSET, segment.tail + L.RECORD_ALIGNMENT)],
  ];

  it.each(damages)('replaces a ring with %s among its retained records', (_label, damage) => {
    const segment = leftRing('walk-damaged', 5);
    segment.setPair(L.TAIL_INTENT_OFFSET, segment.tail + L.RECORD_ALIGNMENT);
    damage(segment, segment.tail - RECORD);
    segment.save();
    const before = segment.ringId();
    const producer = track(Producer.create(segment.name, open()));
    expect(new SegmentFile(segment.name).ringId()).not.toBe(before);
    expect(producer.sendBytes(message(200))).toBe(true);
    expect(readFromOldest(segment.name).first).toEqual([200]);
  });

  it('replaces a ring whose last retained record runs past the end of the ring', () => {
    const segment = leftRing('walk-past-end', 63);
    // The last record, 128 bytes before the end of the ring, claims 192: past the end. The oldest record
    // moves on, so that the words themselves are consistent (less than a ring retained).
    const last = segment.tail - RECORD;
    expect(CAPACITY - (last & MASK)).toBe(2 * RECORD);
    segment.setPair(L.OLDEST_POSITION_OFFSET, segment.oldest + 2 * RECORD);
    segment.setPair(L.PUBLISHED_TAIL_OFFSET, last + 3 * RECORD);
    segment.setPair(L.TAIL_INTENT_OFFSET, last + 3 * RECORD);
    segment.setI32(DATA + (last & MASK) + L.RECORD_LENGTH_OFFSET, 3 * RECORD - L.RECORD_HEADER_LENGTH);
    segment.save();
    const before = segment.ringId();
    track(Producer.create(segment.name, open()));
    expect(new SegmentFile(segment.name).ringId()).not.toBe(before);
  });
});
