/**
 * Taking over a ring left by a producer that is gone (src/ring/create.ts, readWriterStart; docs/protocol.md
 * "Taking over"), in this process so that mutation testing sees it: the dead producer's published words
 * come from shared memory, so each is checked, and a ring whose words contradict each other is replaced
 * (a new ring: a new ring id, nothing of the old one readable), never continued. Written against mutants
 * of create.ts that the in-process suite did not notice (docs/testing.md, "Mutation testing").
 * The damage is written with plain file I/O at offsets named in src/ring/layout.ts.
 */
import * as fs from 'fs';
import { Consumer, Producer } from '../../src';
import { readRingId } from '../../src/ring/header';
import * as L from '../../src/ring/layout';
import { readI32, writeI32 } from './mutant-fixtures';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

const CAPACITY = 4096;
const PAYLOAD = 48;
const RECORD = L.recordLength(PAYLOAD);

function ringId(name: string): string {
  const fd = fs.openSync(`/dev/shm${name}`, 'r');
  try {
    const header = Buffer.alloc(L.PAGE_LENGTH);
    fs.readSync(fd, header, 0, header.length, 0);
    return readRingId(header.buffer.slice(header.byteOffset, header.byteOffset + header.length));
  } finally {
    fs.closeSync(fd);
  }
}

/** A ring left by a closed producer (not unlinked) that sent `count` messages of RECORD bytes. */
function leftRing(tag: string, count: number): string {
  const name = ringName(tag);
  const producer = Producer.create(name, { capacity: CAPACITY, unlinkOnClose: false });
  for (let n = 0; n < count; n++) expect(producer.sendBytes(new Uint8Array(PAYLOAD).fill(n))).toBe(true);
  producer.close();
  return name;
}

/** The first bytes of every message a consumer joining at the oldest record reads. */
function readFromOldest(name: string): number[] {
  const consumer = track(Consumer.open(name, { from: 'oldest' }));
  const got: number[] = [];
  for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined && got.length < 1000; bytes = consumer.tryReceiveBytes()) got.push(bytes[0]);
  return got;
}

describe('taking over a ring whose producer is gone', () => {
  it('continues an intact ring: same ring id, the old messages still readable before the new ones', () => {
    const name = leftRing('takeover-intact', 5);
    const before = ringId(name);
    const producer = track(Producer.create(name, { capacity: CAPACITY }));
    expect(producer.sendBytes(new Uint8Array(PAYLOAD).fill(5))).toBe(true);
    expect(ringId(name)).toBe(before);
    expect(readFromOldest(name)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('continues a ring whose TAIL_INTENT is exactly one ring ahead of its tail', () => {
    const name = leftRing('takeover-intent-ring', 5);
    const tail = readI32(name, L.PUBLISHED_TAIL_OFFSET);
    writeI32(name, L.TAIL_INTENT_OFFSET, tail + CAPACITY);
    const before = ringId(name);
    track(Producer.create(name, { capacity: CAPACITY }));
    expect(ringId(name)).toBe(before);
  });

  // [label, messages sent, the damage: offset and value computed from the published tail and the oldest position]
  const damages: Array<[string, number, (tail: number, oldest: number) => [number, number]]> = [
    ['a published tail off the record alignment', 5, (tail) => [L.PUBLISHED_TAIL_OFFSET, tail + 8]],
    ['an oldest position off the record alignment', 5, (_tail, oldest) => [L.OLDEST_POSITION_OFFSET, oldest + 8]],
    ['a TAIL_INTENT behind the published tail', 5, (tail) => [L.TAIL_INTENT_OFFSET, tail - RECORD]],
    ['a TAIL_INTENT more than a ring ahead of the published tail', 5, (tail) => [L.TAIL_INTENT_OFFSET, tail + CAPACITY + RECORD]],
    ['an oldest position ahead of the published tail', 5, (tail) => [L.OLDEST_POSITION_OFFSET, tail + RECORD]],
    ['an oldest position more than a ring behind the published tail', 100, (tail) => [L.OLDEST_POSITION_OFFSET, tail - CAPACITY - RECORD]],
  ];

  it.each(damages)('replaces a ring with %s: a new ring id, nothing old readable', (_label, count, damage) => {
    const name = leftRing('takeover-damaged', count);
    const [offset, value] = damage(readI32(name, L.PUBLISHED_TAIL_OFFSET), readI32(name, L.OLDEST_POSITION_OFFSET));
    writeI32(name, offset, value);
    const before = ringId(name);
    const producer = track(Producer.create(name, { capacity: CAPACITY }));
    expect(ringId(name)).not.toBe(before);
    expect(producer.sendBytes(new Uint8Array(PAYLOAD).fill(200))).toBe(true);
    expect(readFromOldest(name)).toEqual([200]);
  });
});
