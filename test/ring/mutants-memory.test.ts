/**
 * The ring's typed views and 64-bit word helpers (src/ring/memory.ts), and opening a mapped ring
 * (src/ring/open.ts: the bounded wait for a creator still writing the header, and what is not worth
 * waiting for). Written against mutants of both files that survived the suite (docs/testing.md,
 * "Mutation testing"). The helpers are checked at the values where a wrong operator or bound shows: 0,
 * 2^31, 2^32, negative low words, high words that carry or borrow.
 */
import * as fs from 'fs';
import { Consumer, Producer } from '../../src';
import * as L from '../../src/ring/layout';
import {
  distance, distance64, highNear, loadPair, loadPairNumber, RingMemory, sequenceHigh, sequenceLow, sequenceOf,
} from '../../src/ring/memory';
import { geometryFor } from '../../src/ring/header';
import { CAPACITY, codeOf, memoryOf } from './mutant-fixtures';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();
const H = L.HIGH_WORD;

describe('64-bit word helpers', () => {
  it('distance: the signed difference of two low words less than 2^31 apart', () => {
    expect(distance(10, 3)).toBe(7);
    expect(distance(3, 10)).toBe(-7);
    expect(distance(5, -(2 ** 31))).toBe(-(2 ** 31) + 5);
    expect(distance(-(2 ** 31) + 4, 2 ** 31 - 4)).toBe(8); // across the wrap of the low word
    expect(distance(0, 0)).toBe(0);
  });

  it('distance64: exact across high words, unsigned low words', () => {
    expect(distance64(5, 1, 3, 1)).toBe(2);
    expect(distance64(0, 1, -1, 0)).toBe(1); // 2^32 - (2^32 - 1)
    expect(distance64(-1, 0, 0, 1)).toBe(-1);
    expect(distance64(16, 3, 0, 0)).toBe(3 * H + 16);
    expect(distance64(0, 0, 16, 3)).toBe(-(3 * H + 16));
    expect(distance64(-(2 ** 31), -1, 0, 0)).toBe((H - 1) * H + 2 ** 31);
  });

  it.each([
    // [low, refLow, refHigh, expected high]
    [100, 50, 7, 7],
    [10, -10, 7, 8], // the low word carried past 2^32
    [-10, 10, 7, 6], // and borrowed below 0
    [0, 0, 7, 7],
    [-1, -1, -1, -1],
    [0, -1, -1, 0], // a carry out of the last high word wraps to 0
    [-1, 0, 0, -1], // and a borrow from 0 to -1 (2^32 - 1)
  ])('highNear(%i, %i, %i) is %i', (low, refLow, refHigh, expected) => {
    expect(highNear(low, refLow, refHigh)).toBe(expected);
  });

  it('sequenceOf, sequenceLow and sequenceHigh take a sequence apart and back, exactly', () => {
    for (const sequence of [0, 1, H - 1, H, H + 1, 5 * H + 123, Number.MAX_SAFE_INTEGER]) {
      expect(sequenceOf(sequenceLow(sequence), sequenceHigh(sequence))).toBe(sequence);
    }
    expect(sequenceOf(-1, 0)).toBe(H - 1);
    expect(sequenceOf(0, -1)).toBe((H - 1) * H);
    expect(sequenceLow(H + 5)).toBe(5);
    expect(sequenceHigh(H + 5)).toBe(1);
    expect(sequenceHigh(3 * H - 1)).toBe(2);
  });

  it('loadPair and storePair: one 64-bit value, low and high words', () => {
    const geometry = geometryFor(4096, 4, 100);
    const memory = new RingMemory('/x', geometry, new ArrayBuffer(geometry.controlLength), new ArrayBuffer(4096));
    const index = L.PUBLISHED_TAIL_OFFSET >> 2;
    memory.storePair(index, -16, 3);
    expect(memory.controlI32[index]).toBe(-16);
    expect(memory.controlI32[index + 1]).toBe(3);
    const low = new Int32Array(1);
    expect(loadPair(memory.controlI32, index, low)).toBe(3);
    expect(low[0]).toBe(-16);
    expect(loadPairNumber(memory.controlI32, index)).toBe(3 * H + H - 16);
    memory.storePair(index, 7, -1);
    expect(loadPairNumber(memory.controlI32, index)).toBe((H - 1) * H + 7);
  });

  it('RingMemory views: the whole control region, the consumers’ pages at their offset, and the data', () => {
    const geometry = geometryFor(4096, 4, 100);
    const control = new ArrayBuffer(geometry.controlLength);
    const memory = new RingMemory('/x', geometry, control, new ArrayBuffer(4096));
    expect(memory.controlI32.length).toBe(geometry.controlLength >> 2);
    expect(memory.controlF64.length).toBe(geometry.controlLength >> 3);
    expect(memory.consumerBuffer).toBe(control);
    expect(memory.consumerByteOffset).toBe(L.CONSUMER_REGION_OFFSET);
    expect(memory.consumerI32.length).toBe((geometry.controlLength - L.CONSUMER_REGION_OFFSET) >> 2);
    expect(memory.consumerF64.length).toBe((geometry.controlLength - L.CONSUMER_REGION_OFFSET) >> 3);
    memory.consumerI32[0] = 77;
    expect(memory.controlI32[L.CONSUMER_REGION_OFFSET >> 2]).toBe(77);
    memory.consumerF64[1] = 1.5;
    expect(memory.controlF64[(L.CONSUMER_REGION_OFFSET >> 3) + 1]).toBe(1.5);
    expect(memory.dataBytes.length).toBe(4096);
    expect(memory.dataI32.length).toBe(1024);
    expect(memory.capacity).toBe(4096);
    expect(memory.mask).toBe(4095);
    // A consumer's separate mapping of its pages: the views start at its first byte.
    const pages = new ArrayBuffer(geometry.controlLength - L.CONSUMER_REGION_OFFSET);
    const consumer = new RingMemory('/x', geometry, control, new ArrayBuffer(4096), pages);
    expect(consumer.consumerBuffer).toBe(pages);
    expect(consumer.consumerByteOffset).toBe(0);
    consumer.consumerI32[2] = 9;
    expect(new Int32Array(pages)[2]).toBe(9);
  });
});

describe('opening a ring whose header is not finished', () => {
  function plant(tag: string, firstBytes: Uint8Array): string {
    const name = ringName(tag);
    const bytes = new Uint8Array(L.controlLength(4) + CAPACITY);
    bytes.set(firstBytes);
    fs.writeFileSync(`/dev/shm${name}`, bytes);
    return name;
  }

  /** Date.now() moving 100 ms per read, and `onRead` called at each read: the wait runs without sleeping. */
  function withClock<T>(fn: () => T, onRead: (reads: number) => void = () => undefined): { result: T; reads: number } {
    const realNow = Date.now.bind(Date);
    let reads = 0;
    const now = jest.spyOn(Date, 'now').mockImplementation(() => {
      onRead(reads);
      return realNow() + 100 * reads++;
    });
    try {
      return { result: fn(), reads };
    } finally {
      now.mockRestore();
    }
  }

  it('waits for a blank header (a creator that has not written it yet), then gives INIT_TIMEOUT', () => {
    const name = plant('blank', new Uint8Array(0));
    const { result, reads } = withClock(() => codeOf(() => Consumer.open(name)));
    expect(result).toBe('INIT_TIMEOUT');
    expect(reads).toBeGreaterThan(10);
  });

  it('does not wait for a header that is neither blank nor ours: NOT_A_RING at once', () => {
    const name = plant('garbage', Uint8Array.of(1, 2, 3));
    const { result, reads } = withClock(() => codeOf(() => Consumer.open(name)));
    expect(result).toBe('NOT_A_RING');
    expect(reads).toBeLessThan(5);
  });

  it('opens a ring whose creator finishes the header during the wait', () => {
    // A real ring with its version word taken back, put back on the fifth clock read.
    const producer = track(Producer.create(ringName('finishing'), { capacity: CAPACITY, maxConsumers: 4 }));
    const words = memoryOf(producer).controlI32;
    Atomics.store(words, L.LAYOUT_VERSION_OFFSET >> 2, 0);
    const { result } = withClock(
      () => codeOf(() => track(Consumer.open(producer.name))),
      (reads) => {
        if (reads === 5) Atomics.store(words, L.LAYOUT_VERSION_OFFSET >> 2, L.LAYOUT_VERSION);
      },
    );
    expect(result).toBe('ok');
  });

  it('closes the segment it opened when the header is refused (no descriptor left behind)', () => {
    const name = plant('refused', Uint8Array.of(9, 9, 9, 9));
    // Descriptors of this segment only: the rest of the process (jest, other tests' rings) opens and closes its own.
    const descriptorsOfSegment = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === `/dev/shm${name}`;
        } catch {
          return false; // closed meanwhile
        }
      }).length;
    for (let n = 0; n < 5; n++) expect(codeOf(() => Consumer.open(name))).toBe('NOT_A_RING');
    expect(descriptorsOfSegment()).toBe(0);
    const held = fs.openSync(`/dev/shm${name}`, 'r');
    expect(descriptorsOfSegment()).toBe(1);
    fs.closeSync(held);
  });
});
