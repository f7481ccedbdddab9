/**
 * The C client, built with AddressSanitizer + UndefinedBehaviorSanitizer, fed damaged segments (the
 * approach of test/security/hostile-segment.test.ts and test/fuzz): header fields, positions, record
 * headers, truncation, and seeded random damage. It must answer with an error code (CORRUPT_SEGMENT and
 * its kin) or a clean end, never crash, never trip a sanitizer, never hang: every run is bounded.
 */
import * as fs from 'fs';
import { Producer } from '../../src';
import * as L from '../../src/ring/layout';
import { within } from '../support/children';
import { buildC, finished, killPeers, runPeer } from '../support/c-client';
import { seededRandom, testSeed } from '../support/random';
import { uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';

const { trackName } = trackRings();
afterEach(killPeers);

beforeAll(() => {
  buildC({ asan: true });
}, 120000);

const CAPACITY = 4096;
const CONTROL_LENGTH = L.controlLength(L.DEFAULT_MAX_CONSUMERS);

/** A ring left by a closed producer (not unlinked): messages of 40..400 bytes, wrapped at least once. */
function leftRing(tag: string, messages = 30): string {
  const name = trackName(uniqueName(tag));
  const producer = Producer.create(name, { capacity: CAPACITY, unlinkOnClose: false });
  for (let i = 0; i < messages; i++) producer.sendBytes(new Uint8Array(40 + ((i * 37) % 360)).fill(i));
  producer.close();
  return name;
}

function writeU32(name: string, offset: number, value: number): void {
  const fd = fs.openSync(`/dev/shm${name}`, 'r+');
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value >>> 0, 0);
  fs.writeSync(fd, buffer, 0, 4, offset);
  fs.closeSync(fd);
}

function readU32(name: string, offset: number): number {
  const fd = fs.openSync(`/dev/shm${name}`, 'r');
  const buffer = Buffer.alloc(4);
  fs.readSync(fd, buffer, 0, 4, offset);
  fs.closeSync(fd);
  return buffer.readUInt32LE(0);
}

/** What the sanitized C consumer makes of the ring: its status, after exiting 0 with no sanitizer report. */
async function consume(name: string, options: Record<string, string | number> = {}): Promise<string> {
  const peer = runPeer('c-asan', 'recv', name, { from: 'oldest', tethered: 0, timeout_ms: 300, ...options });
  const result = await peer.exited;
  // Exit 1 is the tool's answer to an open that failed (with its JSON error line); a sanitizer aborts.
  if ((result.code !== 0 && result.code !== 1) || /Sanitizer|runtime error/.test(result.stderr)) {
    throw new Error(`the C consumer failed (code ${result.code}, signal ${result.signal}): ${peer.output()}`);
  }
  const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
  const last = lines[lines.length - 1];
  return last.error ?? last.status;
}

describe('the C consumer (ASan + UBSan) on a damaged header', () => {
  it.each([
    ['magic', L.MAGIC_OFFSET, 0x41414141, 'NOT_A_RING'],
    ['layout version', L.LAYOUT_VERSION_OFFSET, 99, 'INCOMPATIBLE_VERSION'],
    ['control length', L.CONTROL_LENGTH_OFFSET, CONTROL_LENGTH + 4096, 'CORRUPT_SEGMENT'],
    ['capacity (not a power of two)', L.CAPACITY_OFFSET, 5000, 'CORRUPT_SEGMENT'],
    ['capacity (larger than the segment)', L.CAPACITY_OFFSET, 1 << 20, 'CORRUPT_SEGMENT'],
    ['capacity (2^31)', L.CAPACITY_OFFSET, 0x80000000, 'CORRUPT_SEGMENT'],
    ['max message length (0)', L.MAX_MESSAGE_LENGTH_OFFSET, 0, 'CORRUPT_SEGMENT'],
    ['max message length (> capacity/2)', L.MAX_MESSAGE_LENGTH_OFFSET, CAPACITY, 'CORRUPT_SEGMENT'],
    ['max consumers (0)', L.MAX_CONSUMERS_OFFSET, 0, 'CORRUPT_SEGMENT'],
    ['max consumers (2^32 - 1)', L.MAX_CONSUMERS_OFFSET, 0xffffffff, 'CORRUPT_SEGMENT'],
  ])('a wrong %s (offset %d := %d) gives %s', async (_label, offset, value, code) => {
    const name = leftRing('c-header');
    writeU32(name, offset, value);
    expect(await consume(name)).toBe(code);
  });

  it('a segment smaller than a page gives SEGMENT_TOO_SMALL', async () => {
    const name = leftRing('c-small');
    fs.truncateSync(`/dev/shm${name}`, 100);
    expect(await consume(name)).toBe('SEGMENT_TOO_SMALL');
  });

  it('a version word left at 0 gives INIT_TIMEOUT after the bounded wait', async () => {
    const name = leftRing('c-init');
    writeU32(name, L.LAYOUT_VERSION_OFFSET, 0);
    expect(await consume(name)).toBe('INIT_TIMEOUT');
  });
});

describe('the C consumer (ASan + UBSan) on damaged positions and records', () => {
  it('reads an undamaged left ring to its END (the baseline of the cases below)', async () => {
    expect(await consume(leftRing('c-clean'))).toBe('END');
  });

  it.each([
    ['a misaligned tail', L.PUBLISHED_TAIL_OFFSET, (tail: number) => tail + 3],
    ['a misaligned oldest position', L.OLDEST_POSITION_OFFSET, (oldest: number) => oldest + 5],
  ])('%s gives CORRUPT_SEGMENT', async (_label, offset, damage) => {
    const name = leftRing('c-position');
    writeU32(name, offset, damage(readU32(name, offset)));
    expect(await consume(name, { tethered: 1 })).toBe('CORRUPT_SEGMENT');
  });

  it.each([
    ['a length past the maximum', L.RECORD_LENGTH_OFFSET, 0x7fffffff],
    ['a negative length', L.RECORD_LENGTH_OFFSET, 0xfffffff0],
    ['an unknown type', L.RECORD_TYPE_OFFSET, 99],
    ['type 0', L.RECORD_TYPE_OFFSET, 0],
  ])('a record header with %s gives CORRUPT_SEGMENT', async (_label, field, value) => {
    const name = leftRing('c-record');
    const oldest = readU32(name, L.OLDEST_POSITION_OFFSET);
    writeU32(name, CONTROL_LENGTH + (oldest & (CAPACITY - 1)) + field, value);
    for (const tethered of [0, 1]) expect(await consume(name, { tethered })).toBe('CORRUPT_SEGMENT');
  });

  it('a padding record whose length does not reach the end of the ring gives CORRUPT_SEGMENT', async () => {
    const name = leftRing('c-padding');
    const oldest = readU32(name, L.OLDEST_POSITION_OFFSET);
    const at = CONTROL_LENGTH + (oldest & (CAPACITY - 1));
    writeU32(name, at + L.RECORD_TYPE_OFFSET, L.RecordType.PADDING);
    writeU32(name, at + L.RECORD_LENGTH_OFFSET, 16);
    expect(await consume(name)).toBe('CORRUPT_SEGMENT');
  });

  it('survives 60 seeded random damages of positions, slots and records (codes or a clean end, never a crash)', async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const allowed = new Set(['END', 'CORRUPT_SEGMENT', 'PRODUCER_DIED', 'NOT_A_RING', 'INCOMPATIBLE_VERSION', 'TIMEOUT', 'NO_FREE_SLOT', 'PRODUCER_ABORTED']);
    const targets = [
      L.PUBLISHED_TAIL_OFFSET, L.PUBLISHED_TAIL_HIGH_OFFSET, L.TAIL_INTENT_OFFSET, L.TAIL_INTENT_HIGH_OFFSET,
      L.OLDEST_POSITION_OFFSET, L.OLDEST_POSITION_HIGH_OFFSET, L.NEXT_SEQUENCE_OFFSET, L.PRODUCER_STATE_OFFSET,
      L.PRODUCER_PID_OFFSET, L.SLOTS_OFFSET + L.SLOT_PID_OFFSET, L.SLOTS_OFFSET + L.SLOT_STATE_OFFSET,
    ];
    const name = leftRing('c-fuzz', 60);
    const pristine = fs.readFileSync(`/dev/shm${name}`);
    for (let round = 0; round < 60; round++) {
      fs.writeFileSync(`/dev/shm${name}`, pristine);
      const damages = 1 + Math.floor(random() * 4);
      for (let d = 0; d < damages; d++) {
        const inData = random() < 0.6;
        const offset = inData
          ? CONTROL_LENGTH + Math.floor(random() * (CAPACITY / 4)) * 4
          : targets[Math.floor(random() * targets.length)];
        const value = random() < 0.5 ? Math.floor(random() * 2 ** 32) : Math.floor(random() * 64) * (random() < 0.5 ? 1 : 16);
        writeU32(name, offset, value);
      }
      const outcome = await consume(name, { tethered: round % 2, timeout_ms: 100 }).catch((error: Error) => {
        throw new Error(`seed ${seed}, round ${round}: ${error.message}`);
      });
      if (!allowed.has(outcome)) throw new Error(`seed ${seed}, round ${round}: unexpected ${outcome}`);
    }
  }, 120000);

  it('a C producer restarted on a damaged ring replaces it or takes it over, never crashes', async () => {
    for (const [field, value] of [
      [L.PUBLISHED_TAIL_OFFSET, 13],
      [L.CAPACITY_OFFSET, 5000],
      [L.OLDEST_POSITION_OFFSET, 0xffff0000],
    ] as const) {
      const name = leftRing('c-restart');
      writeU32(name, field, value);
      const producer = runPeer('c-asan', 'send', name, { capacity: CAPACITY, count: 10, unlink: 1 });
      expect(await finished(producer)).toEqual({ closed: true });
      const ready = await producer.line((line) => line.ready);
      expect(ready).toMatchObject({ tookOver: false, next: 0 });
    }
  });
});

describe('the C client (ASan + UBSan) on a ring damaged while it runs', () => {
  it('a sanitized C producer and C consumers survive seeded damage written into a live ring', async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const name = trackName(uniqueName('c-live'));
    const producer = runPeer('c-asan', 'send', name, { capacity: CAPACITY, count: 3000000, mode: 'send', lengths: '0,16,100,300', start: 'signal', unlink: 1 });
    const ready = await producer.line((line) => line.ready || line.error);
    expect(ready.ready).toBe(true);
    const consumers = [];
    for (const tethered of [0, 1, 0]) {
      const consumer = runPeer('c-asan', 'recv', name, { tethered, timeout_ms: 300 });
      await consumer.line((line) => line.ready || line.error);
      consumers.push(consumer);
    }
    producer.process.kill('SIGUSR2');
    const fd = fs.openSync(`/dev/shm${name}`, 'r+');
    const word = Buffer.alloc(4);
    const targets = [L.PUBLISHED_TAIL_OFFSET, L.TAIL_INTENT_OFFSET, L.OLDEST_POSITION_OFFSET, L.SLOTS_OFFSET + L.SLOT_HEAD_OFFSET, L.SLOTS_OFFSET + L.SLOT_PID_OFFSET, L.SLOTS_OFFSET + L.SLOT_STATE_OFFSET];
    try {
      // Damage for up to 1.5 s of the producer's run (bounded also in rounds), a word at a time.
      const until = Date.now() + 1500;
      for (let round = 0; round < 3000 && Date.now() < until && producer.process.exitCode === null; round++) {
        const inData = random() < 0.8;
        const offset = inData ? CONTROL_LENGTH + Math.floor(random() * (CAPACITY / 4)) * 4 : targets[Math.floor(random() * targets.length)];
        word.writeUInt32LE(Math.floor(random() * 2 ** 32), 0);
        fs.writeSync(fd, word, 0, 4, offset);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    } finally {
      fs.closeSync(fd);
    }
    for (const peer of [producer, ...consumers]) {
      const result = await within(peer.exited, 60000, `exit (seed ${seed})`);
      if (result.signal !== null && result.signal !== 'SIGKILL') throw new Error(`seed ${seed}: killed by ${result.signal}: ${peer.output()}`);
      if (/Sanitizer|runtime error/.test(result.stderr)) throw new Error(`seed ${seed}: sanitizer report: ${peer.output()}`);
      expect([0, 1]).toContain(result.code);
    }
  }, 90000);
});

