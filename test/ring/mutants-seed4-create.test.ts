/**
 * Creating and taking over a ring, and what a snapshot says of a segment swapped under it (src/ring/create.ts
 * and src/ring/snapshot.ts), in this process so that mutation testing sees it. Written against a sample of
 * mutants that survived the suite (docs/testing.md, "Mutation testing"):
 * - a takeover continues the sequence after the last retained MESSAGE record (not only BYTES records);
 * - the bytes of a dead producer's unpublished record are uncounted when its length is exactly
 *   maxMessageLength, and left counted when it is longer, even though it would fit in the ring;
 * - the hints of PRODUCER_ALIVE (an unusable ring whose producer lives) and of SEGMENT_EXISTS (a name that
 *   kept reappearing while it was replaced: another creator is simulated by planting a segment as link(2)
 *   is called);
 * - abandonedTemporaries lists only temporaries, each with its name, size and creator pid;
 * - a regular file swapped for a symlink between readSnapshot's lstat and its open is reported as
 *   foreign (NOT_A_RING), not as unreadable (the swap is made inside the lstat call: a race made
 *   deterministic).
 * States a killed producer leaves are planted with plain file I/O at offsets named in src/ring/layout.ts.
 */
import * as fs from 'fs';
import { Producer, ShmRingError } from '../../src';
import { abandonedTemporaries, CREATING_PREFIX } from '../../src/ring/create';
import * as L from '../../src/ring/layout';
import { readSnapshot } from '../../src/ring/snapshot';
import { CAPACITY, MAX_CONSUMERS, deadPid, memoryOf, message, readF64, readI32, segmentPath as path, writeF64, writeI32, writePair } from './mutant-fixtures';
import { trackRings } from '../support/teardown';

const { ringName, track, onTeardown } = trackRings();

/**
 * The fs module itself (what src/ requires): `import * as fs` gives a wrapper whose properties cannot be
 * spied on, and a spy set here is seen through src's wrapper, which reads the module's property each call.
 */
const nodeFs: typeof fs = jest.requireActual('fs');

const SHAPE = { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, maxMessageLength: 500 };

/** Reads a double (a counter) of segment `name`. */
interface Left {
  name: string;
  /** Byte offset of the data region in the segment. */
  data: number;
  maxMessageLength: number;
  /** The published tail (positions stay below 2^32 here). */
  tail: number;
}

/**
 * A ring whose producer sent `send` and is gone as if killed: the END record close() writes is taken back
 * (the tail moved back over it), so the last retained record is the last message.
 */
function killedRing(tag: string, send: (producer: Producer) => void): Left {
  const producer = Producer.create(ringName(tag), { ...SHAPE, unlinkOnClose: false });
  const { controlLength, maxMessageLength } = memoryOf(producer).geometry;
  send(producer);
  producer.close();
  const name = producer.name;
  const end = readI32(name, L.PUBLISHED_TAIL_OFFSET) - L.RECORD_HEADER_LENGTH;
  const endType = controlLength + (end & (CAPACITY - 1)) + L.RECORD_TYPE_OFFSET;
  expect(readI32(name, endType)).toBe(L.RecordType.END);
  writePair(name, L.PUBLISHED_TAIL_OFFSET, end);
  writePair(name, L.TAIL_INTENT_OFFSET, end);
  writeI32(name, endType, 0);
  return { name, data: controlLength, maxMessageLength, tail: end };
}

/**
 * Plants what a producer killed inside commit() leaves: one record of `payloadLength` bytes written past the
 * tail and counted (NEXT_SEQUENCE, messages and bytes), the tail never published. Returns the counters before.
 */
function plantPhantom(ring: Left, payloadLength: number): { messages: number; bytes: number } {
  const before = { messages: readF64(ring.name, L.MESSAGES_SENT_OFFSET), bytes: readF64(ring.name, L.BYTES_SENT_OFFSET) };
  const next = readI32(ring.name, L.NEXT_SEQUENCE_OFFSET);
  const at = ring.data + (ring.tail & (CAPACITY - 1));
  expect(at + L.recordLength(payloadLength)).toBeLessThanOrEqual(ring.data + CAPACITY);
  writeI32(ring.name, at + L.RECORD_LENGTH_OFFSET, payloadLength);
  writeI32(ring.name, at + L.RECORD_TYPE_OFFSET, L.RecordType.BYTES);
  writePair(ring.name, at + L.RECORD_SEQUENCE_OFFSET, next);
  writePair(ring.name, L.NEXT_SEQUENCE_OFFSET, next + 1);
  writeF64(ring.name, L.MESSAGES_SENT_OFFSET, before.messages + 1);
  writeF64(ring.name, L.BYTES_SENT_OFFSET, before.bytes + payloadLength);
  return before;
}

function counters(name: string): { messages: number; bytes: number } {
  return { messages: readF64(name, L.MESSAGES_SENT_OFFSET), bytes: readF64(name, L.BYTES_SENT_OFFSET) };
}

function caught(fn: () => unknown): ShmRingError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ShmRingError);
    return error as ShmRingError;
  }
  throw new Error('did not throw');
}

describe('taking over a ring whose producer was killed', () => {
  it('continues after the last MESSAGE record (send), not the last BYTES record before it', () => {
    // Sequences 0 and 1 are raw bytes, 2 and 3 encoded values: the next one is 4. Skipping MESSAGE
    // records in the walk would continue at 2 and reuse two sequence numbers.
    const ring = killedRing('walk-message', (producer) => {
      expect(producer.sendBytes(message(0))).toBe(true);
      expect(producer.sendBytes(message(1))).toBe(true);
      expect(producer.send({ n: 2 })).toBe(true);
      expect(producer.send({ n: 3 })).toBe(true);
    });
    const producer = track(Producer.create(ring.name, SHAPE));
    expect(readF64(ring.name, L.TAKEOVERS_OFFSET)).toBe(1); // taken over, not replaced
    expect(producer.nextSequence).toBe(4);
  });

  it('uncounts the bytes of an unpublished record of exactly maxMessageLength bytes', () => {
    const ring = killedRing('phantom-max', (producer) => {
      for (let n = 0; n < 3; n++) expect(producer.sendBytes(message(n))).toBe(true);
    });
    // The largest message is a record that adds up: its bytes are known and uncounted.
    const before = plantPhantom(ring, ring.maxMessageLength);
    const producer = track(Producer.create(ring.name, SHAPE));
    expect(producer.nextSequence).toBe(3);
    expect(counters(ring.name)).toEqual(before);
  });

  it('leaves counted the bytes of an unpublished record longer than maxMessageLength, even one that fits in the ring', () => {
    const ring = killedRing('phantom-long', (producer) => {
      for (let n = 0; n < 3; n++) expect(producer.sendBytes(message(n))).toBe(true);
    });
    // Longer than any message can be, yet inside the ring: a damaged length, whose bytes cannot be known.
    const length = ring.maxMessageLength + L.RECORD_ALIGNMENT;
    const before = plantPhantom(ring, length);
    const producer = track(Producer.create(ring.name, SHAPE));
    expect(producer.nextSequence).toBe(3);
    expect(counters(ring.name)).toEqual({ messages: before.messages, bytes: before.bytes + length });
  });
});

describe('the hints of what Producer.create refuses', () => {
  it('PRODUCER_ALIVE for an unusable ring whose producer lives says which pid to stop and how to look at the ring', () => {
    const producer = Producer.create(ringName('unusable-alive'), { ...SHAPE, unlinkOnClose: false });
    producer.close();
    const name = producer.name;
    writeI32(name, L.PRODUCER_PID_OFFSET, process.pid);
    writeI32(name, L.LAYOUT_VERSION_OFFSET, L.LAYOUT_VERSION + 1);
    const error = caught(() => Producer.create(name, SHAPE));
    expect(error.code).toBe('PRODUCER_ALIVE');
    expect(error.hint).toBe(`Stop pid ${process.pid} first; \`npx shmring inspect ${name}\` shows what is wrong with the ring.`);
    expect(readI32(name, L.LAYOUT_VERSION_OFFSET)).toBe(L.LAYOUT_VERSION + 1);
  });

  it('SEGMENT_EXISTS for a name that keeps reappearing while it is replaced tells to give each producer its own name', () => {
    // An unusable segment (another layout version, no producer) that another creator links under the
    // name each time just before we do: we replace it, and it is back.
    const left = Producer.create(ringName('reappearing'), { ...SHAPE, unlinkOnClose: false });
    left.close();
    const name = left.name;
    writeI32(name, L.LAYOUT_VERSION_OFFSET, L.LAYOUT_VERSION + 1);
    writeI32(name, L.PRODUCER_PID_OFFSET, 0);
    const image = fs.readFileSync(path(name));
    fs.unlinkSync(path(name));
    const link = fs.linkSync;
    let planted = 0;
    const spy = jest.spyOn(nodeFs, 'linkSync').mockImplementation((existing, target) => {
      if (target === path(name)) {
        fs.writeFileSync(path(name), image);
        planted++;
      }
      link(existing, target);
    });
    onTeardown(() => spy.mockRestore());
    const error = caught(() => Producer.create(name, SHAPE));
    spy.mockRestore();
    expect(planted).toBe(3);
    expect(error.code).toBe('SEGMENT_EXISTS');
    expect(error.message).toBe(`${name} kept reappearing while replacing it`);
    expect(error.hint).toBe('Another process is creating rings under the same name at the same time; give each producer its own name.');
  });
});

describe('abandonedTemporaries', () => {
  it('lists nothing but temporaries, each with its name, size and creator pid', async () => {
    const dead = await deadPid();
    const name = `${CREATING_PREFIX}${dead}-${Math.random().toString(16).slice(2, 14)}`;
    fs.writeFileSync(path(name), Buffer.alloc(100));
    onTeardown(() => fs.rmSync(path(name), { force: true }));
    // Other suites' temporaries may be listed too (and `shmring gc` in the CLI's tests may remove this
    // one meanwhile): what matters is that every entry is one.
    const listed = abandonedTemporaries(0);
    for (const entry of listed) {
      expect(entry).toEqual({ name: expect.stringMatching(/^\/\.shmring-creating-\d+-/), size: expect.any(Number), creatorPid: expect.any(Number) });
      expect(entry.name.startsWith(`${CREATING_PREFIX}${entry.creatorPid}-`)).toBe(true);
    }
    const mine = listed.find((entry) => entry.name === name);
    if (mine) expect(mine).toEqual({ name, size: 100, creatorPid: dead });
  });
});

describe('readSnapshot of a file swapped for a symlink after its lstat', () => {
  it('is foreign (NOT_A_RING, a symlink), not unreadable', () => {
    const name = ringName('swapped');
    fs.writeFileSync(path(name), Buffer.alloc(100));
    const lstat = fs.lstatSync;
    // What a hostile user racing the tool does, made deterministic: the swap happens inside the lstat call.
    const spy = jest.spyOn(nodeFs, 'lstatSync').mockImplementation(((file: fs.PathLike) => {
      const stat = lstat(file);
      if (file === path(name)) {
        fs.unlinkSync(path(name));
        fs.symlinkSync('/dev/null', path(name));
      }
      return stat;
    }) as typeof fs.lstatSync);
    onTeardown(() => spy.mockRestore());
    const snapshot = readSnapshot(name);
    spy.mockRestore();
    expect(fs.lstatSync(path(name)).isSymbolicLink()).toBe(true);
    expect(snapshot.kind).toBe('foreign');
    expect(snapshot.error).toEqual({ code: 'NOT_A_RING', message: `${name} is a symlink, not a ring` });
  });
});
