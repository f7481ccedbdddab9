/**
 * A segment that lies: every header field checked at open (each wrong value gives its own clear error),
 * record headers and positions checked when reading, truncated segments refused at open, and the one
 * thing a mapping cannot defend against (truncation after open) shown to be what the docs say: SIGBUS.
 */
import * as fs from 'fs';
import { Consumer, Producer, ShmRingError } from '../../src';
import { readSnapshot } from '../../src/ring/snapshot';
import * as L from '../../src/ring/layout';
import { runFixture, within } from '../support/children';
import { uniqueName } from '../support/names';
import { withFastClock } from '../support/waits';
import { trackRings } from '../support/teardown';

const { trackName: track } = trackRings();

const CAPACITY = 4096;
const CONTROL_LENGTH = L.controlLength(L.DEFAULT_MAX_CONSUMERS);

function outcome(fn: () => unknown): string {
  try {
    const result = fn() as { close?: () => void } | undefined;
    result?.close?.();
    return 'ok';
  } catch (error) {
    if (error instanceof ShmRingError) return error.code;
    return `${(error as Error).constructor.name}: ${(error as Error).message}`;
  }
}

/** A ring left by a closed producer (not unlinked), holding three messages. */
function leftRing(tag: string): string {
  const name = track(uniqueName(tag));
  const producer = Producer.create(name, { capacity: CAPACITY, unlinkOnClose: false });
  for (let i = 0; i < 3; i++) producer.send({ i });
  producer.close();
  return name;
}

function writeI32(name: string, offset: number, value: number): void {
  const fd = fs.openSync(`/dev/shm${name}`, 'r+');
  const buffer = Buffer.alloc(4);
  buffer.writeInt32LE(value | 0, 0);
  fs.writeSync(fd, buffer, 0, 4, offset);
  fs.closeSync(fd);
}

describe('header fields are validated at open', () => {
  it.each([
    ['magic', L.MAGIC_OFFSET, 0x41414141, 'NOT_A_RING'],
    ['layout version', L.LAYOUT_VERSION_OFFSET, 99, 'INCOMPATIBLE_VERSION'],
    ['layout version (negative)', L.LAYOUT_VERSION_OFFSET, -1, 'INCOMPATIBLE_VERSION'],
    ['control length', L.CONTROL_LENGTH_OFFSET, CONTROL_LENGTH + 4096, 'CORRUPT_SEGMENT'],
    ['control length (0)', L.CONTROL_LENGTH_OFFSET, 0, 'CORRUPT_SEGMENT'],
    ['capacity (not a power of two)', L.CAPACITY_OFFSET, 5000, 'CORRUPT_SEGMENT'],
    ['capacity (larger than the segment)', L.CAPACITY_OFFSET, 1 << 20, 'CORRUPT_SEGMENT'],
    ['capacity (2^31)', L.CAPACITY_OFFSET, 0x80000000, 'CORRUPT_SEGMENT'],
    ['capacity (0)', L.CAPACITY_OFFSET, 0, 'CORRUPT_SEGMENT'],
    ['max message length (0)', L.MAX_MESSAGE_LENGTH_OFFSET, 0, 'CORRUPT_SEGMENT'],
    ['max message length (> capacity/2)', L.MAX_MESSAGE_LENGTH_OFFSET, CAPACITY, 'CORRUPT_SEGMENT'],
    ['max message length (-1)', L.MAX_MESSAGE_LENGTH_OFFSET, -1, 'CORRUPT_SEGMENT'],
    ['max consumers (0)', L.MAX_CONSUMERS_OFFSET, 0, 'CORRUPT_SEGMENT'],
    ['max consumers (2000)', L.MAX_CONSUMERS_OFFSET, 2000, 'CORRUPT_SEGMENT'],
    ['max consumers (-1)', L.MAX_CONSUMERS_OFFSET, -1, 'CORRUPT_SEGMENT'],
  ])('a wrong %s gives %s to consumers, inspect, and a producer that replaces the ring', (_label, offset, value, code) => {
    const name = leftRing('header');
    writeI32(name, offset, value);
    expect(outcome(() => Consumer.open(name))).toBe(code);
    const snapshot = readSnapshot(name);
    expect(snapshot.kind).not.toBe('ring');
    expect(snapshot.error?.code).toBe(code);
    // A producer never continues such a ring: NOT_A_RING is left alone, the rest are replaced.
    const produced = outcome(() => Producer.create(name, { capacity: CAPACITY }));
    expect(produced).toBe(code === 'NOT_A_RING' ? 'NOT_A_RING' : 'ok');
  });

  it('a header whose version word is 0 (a creator that died initialising) gives INIT_TIMEOUT after a bounded wait', () => {
    const name = leftRing('init');
    writeI32(name, L.LAYOUT_VERSION_OFFSET, 0);
    // On a fast clock (test/support/waits.ts): the wait is bounded by the consumer's clock, not by sleeps.
    withFastClock(() => {
      const started = Date.now();
      expect(outcome(() => Consumer.open(name))).toBe('INIT_TIMEOUT');
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    });
  });
});

describe('records and positions are validated when reading', () => {
  function firstRecordOffset(): number {
    return CONTROL_LENGTH; // the three messages of leftRing() start at position 0
  }

  it.each([
    ['a length beyond the max message length', L.RECORD_LENGTH_OFFSET, 1 << 20],
    ['a negative length', L.RECORD_LENGTH_OFFSET, -16],
    ['a length running past the tail', L.RECORD_LENGTH_OFFSET, 1000],
    ['an unknown type', L.RECORD_TYPE_OFFSET, 99],
    ['type 0', L.RECORD_TYPE_OFFSET, 0],
    ['a padding record that does not reach the wrap', L.RECORD_TYPE_OFFSET, L.RecordType.PADDING],
  ])('%s gives CORRUPT_SEGMENT (tethered) and never a crash (untethered)', (_label, field, value) => {
    const name = leftRing('record');
    writeI32(name, firstRecordOffset() + field, value);
    for (const tethered of [true, false]) {
      const consumer = Consumer.open(name, { from: 'oldest', tethered });
      try {
        const seen = outcome(() => {
          for (let i = 0; i < 10; i++) consumer.tryReceive();
        });
        expect(tethered ? [seen] : [seen]).toEqual([expect.stringMatching(/^(ok|CORRUPT_SEGMENT)$/)]);
        if (tethered) expect(seen).toBe('CORRUPT_SEGMENT');
      } finally {
        consumer.close();
      }
    }
  });

  it.each([
    ['the tail far ahead', L.PUBLISHED_TAIL_OFFSET, 1 << 30],
    ['the tail unaligned', L.PUBLISHED_TAIL_OFFSET, 37],
    ['the tail behind the oldest', L.PUBLISHED_TAIL_OFFSET, -4096],
    ['the tail intent a lap ahead', L.TAIL_INTENT_OFFSET, 3 * CAPACITY],
    ['the oldest position unaligned', L.OLDEST_POSITION_OFFSET, 3],
    ['the oldest position ahead of the tail', L.OLDEST_POSITION_OFFSET, 1 << 20],
    ['a negative waiter count', L.DATA_WAITERS_OFFSET, -5],
  ])('%s: every read returns or throws a ShmRingError, in bounded time', (_label, offset, value) => {
    const name = leftRing('positions');
    writeI32(name, offset, value);
    for (const tethered of [true, false]) {
      for (const from of ['next', 'oldest'] as const) {
        const consumer = Consumer.open(name, { from, tethered });
        try {
          const seen = outcome(() => {
            for (let i = 0; i < 10; i++) {
              consumer.tryReceive();
              consumer.receiveSync(1);
            }
          });
          expect(seen).toMatch(/^(ok|CORRUPT_SEGMENT|DECODE_ERROR|PRODUCER_DIED)$/);
        } finally {
          consumer.close();
        }
      }
    }
  });
});

// Regression: positions read from the segment must be record-aligned. With OLDEST_POSITION = 3 the reader
// once took the header at offset 0 (index 3 >> 2) but the payload from offset 19, delivering every
// message shifted by 3 bytes.
it('an unaligned oldest position is never used as a record boundary', () => {
  const name = track(uniqueName('unaligned'));
  const producer = Producer.create(name, { capacity: CAPACITY, unlinkOnClose: false });
  const message = Uint8Array.from({ length: 40 }, (_, k) => k);
  producer.sendBytes(message);
  producer.close();
  writeI32(name, L.OLDEST_POSITION_OFFSET, 3);
  const consumer = Consumer.open(name, { from: 'oldest', tethered: false });
  try {
    let delivered: number[] | string;
    try {
      delivered = Array.from(consumer.tryReceiveBytes() ?? []);
    } catch (error) {
      delivered = (error as ShmRingError).code;
    }
    // The real message, nothing, or a clear error; never bytes from the wrong place.
    expect([Array.from(message), [], 'CORRUPT_SEGMENT']).toContainEqual(delivered);
  } finally {
    consumer.close();
  }
});

describe('truncated segments', () => {
  it.each([
    [0, 'SEGMENT_TOO_SMALL'],
    [100, 'SEGMENT_TOO_SMALL'],
    [4095, 'SEGMENT_TOO_SMALL'],
    [4096, 'CORRUPT_SEGMENT'],
    [CONTROL_LENGTH + CAPACITY - 1, 'CORRUPT_SEGMENT'],
  ])('a ring truncated to %p bytes before open gives %s (never SIGBUS)', (size, code) => {
    const name = leftRing('truncated');
    fs.truncateSync(`/dev/shm${name}`, size);
    const consumer = outcome(() => Consumer.open(name));
    expect(consumer).toBe(code);
    const snapshot = readSnapshot(name);
    expect(['corrupt', 'foreign']).toContain(snapshot.kind);
    // A producer replaces a truncated ring of a dead producer with a whole new one.
    // Regression: below 4096 bytes Producer.create used to throw SEGMENT_TOO_SMALL (a producer killed
    // between shm_open and ftruncate leaves a 0-byte file that blocked every restart).
    // Below 4096 bytes it first waits (bounded, on a fast clock here: test/support/waits.ts) for a creator
    // that may be between shm_open and ftruncate.
    const producer = withFastClock(() => Producer.create(name, { capacity: CAPACITY }));
    try {
      expect(fs.statSync(`/dev/shm${name}`).size).toBe(CONTROL_LENGTH + CAPACITY);
    } finally {
      producer.close();
    }
  });

  it('a ring truncated after a consumer mapped it kills that consumer with SIGBUS on its next read (the documented limit)', async () => {
    const name = leftRing('sigbus');
    const child = runFixture('security-child.js', ['read-later', name, JSON.stringify({ pauseMs: 1000 })]);
    await child.waitForLine((m) => m.ready);
    fs.truncateSync(`/dev/shm${name}`, 0);
    const { signal, stdout } = await within(child.exited, 20000, 'read-later child');
    expect(stdout).not.toContain('"ok":true');
    expect(signal).toBe('SIGBUS');
  });
});
