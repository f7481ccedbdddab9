/**
 * Regression for the C → TS interop bug of issue 16: an untethered reader lapped again and again within
 * one read (a producer that laps the ring faster than the reader takes a step: a C producer writes a
 * 16 KiB ring in about 2 µs) met more than four padding records in that read, which the reader took for a
 * hostile ring and reported as CORRUPT_SEGMENT. Each resynchronisation lands on OLDEST_POSITION, which is
 * often the padding before the wrap, so a lapped reader legitimately meets one padding per resync.
 *
 * These tests make the producer strike between the reader's steps deterministically, in one process:
 * - TypeScript: the reader's lap check and resync are wrapped so that the (TypeScript) producer writes
 *   more laps between two of its steps: the TS producer → TS reader pairing hits the same bug as C → TS,
 *   so it was the reader's, not the C producer's;
 * - C: test/c/lapped_reader.c builds the library with its resync seam doing the same with a C producer.
 */
import * as path from 'path';
import { Consumer, Producer } from '../../src';
import { buildC, finished, killPeers, runProgram } from '../support/c-client';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();
afterEach(killPeers);

const CAPACITY = 16384;
const MAX_MESSAGE = CAPACITY / 2 - 16;
/**
 * 100, 200 and the largest payload in turn, as in the conformance lap test: from the second lap on, every
 * lap is the same 16384 bytes (a largest record at offset 0, the two small ones, then a padding record
 * from 8544 to the wrap), so OLDEST_POSITION is often that padding.
 */
const LENGTHS = [100, 200, MAX_MESSAGE];

/** Message n: its first 4 bytes are n, every other byte n & 255 (a torn copy shows). */
function message(n: number): Uint8Array {
  const bytes = new Uint8Array(LENGTHS[n % LENGTHS.length]).fill(n & 255);
  new DataView(bytes.buffer).setUint32(0, n, true);
  return bytes;
}

function whole(bytes: Uint8Array): boolean {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  return bytes.length === LENGTHS[n % LENGTHS.length] && bytes.subarray(4).every((b) => b === (n & 255));
}

interface ReaderSeams {
  lapped(position: number): boolean;
  resync(): void;
  position: number;
  cachedTail: number;
}

describe('an untethered TypeScript reader that a TypeScript producer laps at every step of one read', () => {
  it('is not CORRUPT_SEGMENT however many paddings it meets: it gives up that read, then counts the loss exactly', () => {
    const name = ringName('lapped-every-step');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxMessageLength: MAX_MESSAGE, maxConsumers: 2 }));
    const consumer = track(Consumer.open(name, { tethered: false }));
    let sent = 0;
    const send = (count: number): void => {
      for (const end = sent + count; sent < end; sent++) expect(producer.sendBytes(message(sent))).toBe(true);
    };
    // Eleven messages: the consumer (at sequence 0) is lapped, and the tail is at offset 8544, where the
    // next largest record needs the padding; sends of whole laps (3 messages) keep it there.
    send(11);

    const reader = (consumer as unknown as { reader: ReaderSeams }).reader;
    const { lapped, resync } = reader;
    let strikes = 0;
    let paddingsSkipped = 0;
    // The producer strikes between the reader's steps, as a C producer on the other core does:
    // - when the reader, having skipped a padding (it is at offset 0, not put there by a resync), checks
    //   the record after the wrap: two more laps, so that record is already being overwritten;
    let resyncedTo = -1;
    reader.lapped = function (this: ReaderSeams, position: number) {
      if ((position & (CAPACITY - 1)) === 0 && position !== resyncedTo && strikes < 40) {
        paddingsSkipped++;
        strikes++;
        send(6);
      }
      return lapped.call(this, position);
    };
    // - when the reader, lapped too often, has jumped to the tail: one more lap, which starts there with
    //   a padding record.
    reader.resync = function (this: ReaderSeams) {
      resync.call(this);
      resyncedTo = this.position;
      if (this.position === this.cachedTail && strikes < 40) {
        strikes++;
        send(3);
      }
    };
    let first: Uint8Array | undefined;
    try {
      first = consumer.tryReceiveBytes();
    } finally {
      reader.lapped = lapped;
      reader.resync = resync;
    }
    // The reader really met more paddings in this one read than the old "hostile ring" limit (4).
    expect(paddingsSkipped).toBeGreaterThan(4);
    expect(first).toBeUndefined(); // lapped at every step: this read gave up, with nothing delivered

    // With the producer back to a normal pace, the reader goes on; nothing torn, loss exact.
    // (A reader lapped this often has jumped to the tail; it reads what comes after.)
    const delivered: number[] = [];
    for (let round = 0; round < 3; round++) {
      send(1);
      for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) {
        expect(whole(bytes)).toBe(true);
        delivered.push(consumer.lastSequence);
      }
    }
    expect(delivered.length).toBeGreaterThan(0);
    expect(delivered).toEqual([...delivered].sort((a, b) => a - b));
    expect(delivered[delivered.length - 1]).toBe(sent - 1);
    expect(consumer.received + consumer.lost).toBe(sent);
  });
});

describe('an untethered C reader that a C producer laps at every step of one read', () => {
  beforeAll(() => {
    buildC();
    buildC({ asan: true });
  }, 120000);

  it.each(['', 'asan'])('gives up that read with EMPTY, not CORRUPT_SEGMENT, then reads on with the loss exact (build: %s)', async (build) => {
    const name = ringName('c-lapped-every-step');
    const program = runProgram(path.join(buildC(), build, 'lapped_reader'), [name], { ASAN_OPTIONS: 'abort_on_error=1:detect_leaks=1' });
    const result = await finished(program);
    expect(result).toMatchObject({ ok: true, first: 'EMPTY', later: 'EMPTY', bad: 0, disorder: 0 });
    expect(result.strikes).toBeGreaterThan(20); // lapped at every one of the read's steps
    expect(result.received + result.lost).toBe(result.sent);
  });
});
