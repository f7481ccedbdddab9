/**
 * The segment header (src/ring/header.ts): what a creator writes, and how an opener validates what it
 * reads (it comes from shared memory: every field against the others and against the segment's real
 * size). Pure functions on a header in an ArrayBuffer, each bound tested on both sides, each error with
 * its code, segment and words. Written against mutants of header.ts that survived the suite
 * (docs/testing.md, "Mutation testing").
 */
import { ShmRingError } from '../../src';
import { geometryFor, hasMagic, isPowerOfTwo, readCreator, readGeometry, readLayoutVersion, readRingId, writeHeader } from '../../src/ring/header';
import * as L from '../../src/ring/layout';

const NAME = '/shmring-test.header';
const CREATOR = { pid: 4321, startTime: 98765, pidNamespace: 4026531836, createdAtMs: 1_700_000_000_123 };

function header(capacity = 4096, maxConsumers = 4, maxMessageLength = L.defaultMaxMessageLength(capacity)): ArrayBuffer {
  const geometry = geometryFor(capacity, maxConsumers, maxMessageLength);
  const control = new ArrayBuffer(geometry.controlLength);
  writeHeader(control, geometry, CREATOR);
  return control;
}

function setU32(control: ArrayBuffer, offset: number, value: number): ArrayBuffer {
  new DataView(control).setUint32(offset, value, true);
  return control;
}

function refusal(control: ArrayBuffer, size: number): ShmRingError {
  try {
    readGeometry(control, size, NAME);
  } catch (error) {
    expect(error).toBeInstanceOf(ShmRingError);
    expect((error as ShmRingError).segment).toBe(NAME);
    return error as ShmRingError;
  }
  throw new Error('readGeometry accepted the header');
}

describe('writeHeader and readGeometry', () => {
  it('round-trip every field, with the layout version and a ring id', () => {
    const control = header(8192, 3, 100);
    const geometry = readGeometry(control, L.controlLength(3) + 8192, NAME);
    expect(geometry).toEqual({
      layoutVersion: L.LAYOUT_VERSION,
      controlLength: L.controlLength(3),
      capacity: 8192,
      maxMessageLength: 100,
      maxConsumers: 3,
      segmentLength: L.controlLength(3) + 8192,
    });
    expect(geometryFor(8192, 3, 100)).toEqual(geometry);
    expect(readLayoutVersion(control)).toBe(L.LAYOUT_VERSION);
    expect(readCreator(control)).toEqual(CREATOR);
    expect(new DataView(control).getUint32(L.FLAGS_OFFSET, true)).toBe(0);
    expect(readRingId(control)).toMatch(/^[0-9a-f]{32}$/);
    expect(readRingId(control)).not.toBe(readRingId(header(8192, 3, 100)));
    expect(hasMagic(new Uint8Array(control))).toBe(true);
  });

  it('writeHeader clears a FLAGS word a reused buffer held', () => {
    const geometry = geometryFor(4096, 4, 100);
    const control = new ArrayBuffer(geometry.controlLength);
    new DataView(control).setUint32(L.FLAGS_OFFSET, 0xffffffff, true);
    writeHeader(control, geometry, CREATOR);
    expect(new DataView(control).getUint32(L.FLAGS_OFFSET, true)).toBe(0);
  });

  it('accepts the bounds: 1 and MAX_CONSUMERS_LIMIT consumers, MIN and MAX capacity, max message length 1 and its limit, a segment of exactly the length', () => {
    for (const maxConsumers of [1, L.MAX_CONSUMERS_LIMIT]) {
      expect(readGeometry(header(4096, maxConsumers, 10), L.controlLength(maxConsumers) + 4096, NAME).maxConsumers).toBe(maxConsumers);
    }
    for (const capacity of [L.MIN_CAPACITY, L.MAX_CAPACITY]) {
      const control = setU32(header(), L.CAPACITY_OFFSET, capacity);
      expect(readGeometry(control, L.controlLength(4) + capacity, NAME).capacity).toBe(capacity);
    }
    for (const maxMessageLength of [1, L.maxMessageLengthLimit(4096)]) {
      expect(readGeometry(header(4096, 4, maxMessageLength), L.controlLength(4) + 4096, NAME).maxMessageLength).toBe(maxMessageLength);
    }
  });

  it.each([
    ['0 consumers', (c: ArrayBuffer) => setU32(c, L.MAX_CONSUMERS_OFFSET, 0), `max consumers 0 is outside 1..${L.MAX_CONSUMERS_LIMIT}`],
    ['too many consumers', (c: ArrayBuffer) => setU32(c, L.MAX_CONSUMERS_OFFSET, L.MAX_CONSUMERS_LIMIT + 1), `max consumers ${L.MAX_CONSUMERS_LIMIT + 1} is outside 1..${L.MAX_CONSUMERS_LIMIT}`],
    ['a control length for other slots', (c: ArrayBuffer) => setU32(c, L.MAX_CONSUMERS_OFFSET, 200), `control length ${L.controlLength(4)} does not match 200 consumer slots`],
    ['a capacity that is not a power of two', (c: ArrayBuffer) => setU32(c, L.CAPACITY_OFFSET, 4096 + 16), `capacity ${4096 + 16} is not a power of two in ${L.MIN_CAPACITY}..${L.MAX_CAPACITY}`],
    ['a capacity below the minimum', (c: ArrayBuffer) => setU32(c, L.CAPACITY_OFFSET, L.MIN_CAPACITY / 2), `capacity ${L.MIN_CAPACITY / 2} is not a power`],
    ['a capacity above the maximum', (c: ArrayBuffer) => setU32(c, L.CAPACITY_OFFSET, L.MAX_CAPACITY * 2), `capacity ${L.MAX_CAPACITY * 2} is not a power`],
    ['a capacity of 0', (c: ArrayBuffer) => setU32(c, L.CAPACITY_OFFSET, 0), 'capacity 0 is not a power'],
    ['a max message length of 0', (c: ArrayBuffer) => setU32(c, L.MAX_MESSAGE_LENGTH_OFFSET, 0), `max message length 0 is outside 1..${L.maxMessageLengthLimit(4096)}`],
    ['a max message length past half the ring', (c: ArrayBuffer) => setU32(c, L.MAX_MESSAGE_LENGTH_OFFSET, L.maxMessageLengthLimit(4096) + 1), `max message length ${L.maxMessageLengthLimit(4096) + 1} is outside`],
  ])('refuses %s with CORRUPT_SEGMENT', (_label, damage, detail) => {
    const error = refusal(damage(header()), 1 << 20);
    expect(error.code).toBe('CORRUPT_SEGMENT');
    expect(error.message.startsWith(`${NAME} has a corrupt header: ${detail}`)).toBe(true);
    expect(error.hint).toMatch(/shmring inspect/);
  });

  it('refuses a segment shorter than its header says, by one byte', () => {
    const length = L.controlLength(4) + 4096;
    expect(readGeometry(header(), length, NAME).segmentLength).toBe(length);
    const error = refusal(header(), length - 1);
    expect(error.code).toBe('CORRUPT_SEGMENT');
    expect(error.message).toBe(`${NAME} has a corrupt header: the header describes ${length} bytes but the segment has only ${length - 1}`);
  });

  it('refuses a header cut short', () => {
    const error = refusal(header().slice(0, L.HEADER_LENGTH - 4), L.HEADER_LENGTH - 4);
    expect(error.code).toBe('CORRUPT_SEGMENT');
    expect(error.message).toBe(`${NAME} has a corrupt header: the segment is ${L.HEADER_LENGTH - 4} bytes, smaller than a ring header (${L.HEADER_LENGTH})`);
    expect(readGeometry(header().slice(0, L.PAGE_LENGTH), L.controlLength(4) + 4096, NAME).capacity).toBe(4096);
  });

  it('refuses a header without the magic (NOT_A_RING), whichever byte differs', () => {
    for (let index = 0; index < L.MAGIC.length; index++) {
      const control = header();
      new Uint8Array(control)[L.MAGIC_OFFSET + index] ^= 0x20;
      const error = refusal(control, 1 << 20);
      expect(error.code).toBe('NOT_A_RING');
      expect(error.message).toBe(`${NAME} is not a shmring ring (no shmring magic in its first bytes)`);
      expect(error.hint).toMatch(/shmring ls/);
    }
  });

  it('refuses another layout version (INCOMPATIBLE_VERSION), naming both', () => {
    const control = header();
    new DataView(control).setInt32(L.LAYOUT_VERSION_OFFSET, L.LAYOUT_VERSION + 1, true);
    const error = refusal(control, 1 << 20);
    expect(error.code).toBe('INCOMPATIBLE_VERSION');
    expect(error.message).toBe(`${NAME} has layout version ${L.LAYOUT_VERSION + 1}; this shmring reads layout version ${L.LAYOUT_VERSION}`);
    expect(error.hint).toMatch(/same shmring release/);
  });
});

describe('hasMagic and isPowerOfTwo', () => {
  it('hasMagic needs every byte of the magic, and enough bytes', () => {
    expect(hasMagic(L.MAGIC)).toBe(true);
    expect(hasMagic(L.MAGIC.subarray(0, L.MAGIC.length - 1))).toBe(false);
    expect(hasMagic(new Uint8Array(0))).toBe(false);
    const last = Uint8Array.from(L.MAGIC);
    last[last.length - 1] ^= 1;
    expect(hasMagic(last)).toBe(false);
  });

  it.each([
    [1, true], [2, true], [4096, true], [2 ** 30, true],
    [0, false], [3, false], [4097, false], [-4, false], [1.5, false], [NaN, false],
  ])('isPowerOfTwo(%p) is %p', (value, expected) => {
    expect(isPowerOfTwo(value)).toBe(expected);
  });
});

describe('the geometry arithmetic of src/ring/layout.ts', () => {
  // Literal values (worked out by hand from docs/protocol.md), not the formulas again.
  it('controlLength: whole pages holding the producer’s page, two consumer blocks and 128 bytes per slot', () => {
    expect(L.SLOTS_OFFSET).toBe(4352);
    expect([1, 4, 16, 30, 31, 1024].map(L.controlLength)).toEqual([8192, 8192, 8192, 8192, 12288, 139264]);
    expect([0, 1, 3].map(L.slotOffset)).toEqual([4352, 4480, 4736]);
  });

  it('recordLength: a 16-byte header and the payload, rounded up to 16', () => {
    expect([0, 1, 15, 16, 17, 48, 1008].map(L.recordLength)).toEqual([16, 32, 32, 32, 48, 64, 1024]);
  });

  it('message length limits: half the ring less a header, a quarter by default', () => {
    expect(L.maxMessageLengthLimit(4096)).toBe(2032);
    expect(L.defaultMaxMessageLength(4096)).toBe(1008);
    expect(L.defaultMaxMessageLength(L.DEFAULT_CAPACITY)).toBe(262128);
  });

  it('alignUp rounds up to the alignment, and leaves multiples alone', () => {
    expect([0, 1, 16, 17].map((value) => L.alignUp(value, 16))).toEqual([0, 16, 16, 32]);
    expect(L.alignUp(4353, 4096)).toBe(8192);
  });
});
