/**
 * Creating a ring over what a name already holds (src/ring/create.ts: createOrTakeOver, tryUseExisting,
 * replaceUnusable; the temporaries of creators that died), in this process so that mutation testing
 * sees it. Written against mutants of create.ts that survived the suite (docs/testing.md, "Mutation
 * testing"):
 * - `existing: 'fail'` refuses a left ring, usable or not; `'replace'` never continues one; `'takeover'`
 *   continues only a ring of the same shape (capacity, maxConsumers and maxMessageLength, each);
 * - a takeover bumps the epoch and the takeover count, resets PRODUCER_WAITING and the publish fence;
 * - an unusable segment (another layout, corrupt, a header never finished, too small) is replaced, unless
 *   its lock word names a live producer; a file that is not a ring is never touched;
 * - a creator's temporary segment is removed once its creator is dead and it is old enough, never before;
 * - `startPosition` and `startSequence` (the high words too).
 * Damage is written with plain file I/O at offsets named in src/ring/layout.ts.
 */
import * as fs from 'fs';
import { Consumer, Producer, ShmRingError } from '../../src';
import { readRingId } from '../../src/ring/header';
import { abandonedTemporaries, CREATING_PREFIX, removeAbandonedTemporaries } from '../../src/ring/create';
import * as L from '../../src/ring/layout';
import { CAPACITY, PAYLOAD, codeOf, deadPid, memoryOf, message, readI32, segmentPath as path, writeI32 } from './mutant-fixtures';
import { trackRings } from '../support/teardown';
import { withFastClock } from '../support/waits';

const { ringName, track, onTeardown } = trackRings();

function ringId(name: string): string {
  const bytes = fs.readFileSync(path(name));
  return readRingId(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + L.PAGE_LENGTH));
}

const SHAPE = { capacity: CAPACITY, maxConsumers: 4, maxMessageLength: 500 };

/** A ring left by a producer that closed without unlinking, after sending `count` messages. */
function leftRing(tag: string, count = 3): string {
  const producer = Producer.create(ringName(tag), { ...SHAPE, unlinkOnClose: false });
  for (let n = 0; n < count; n++) expect(producer.sendBytes(message(n))).toBe(true);
  producer.close();
  return producer.name;
}

describe("what Producer.create does with a ring left under its name", () => {
  it("existing: 'fail' refuses an intact left ring with SEGMENT_EXISTS, and leaves it", () => {
    const name = leftRing('fail-intact');
    const before = ringId(name);
    let error: unknown;
    try {
      Producer.create(name, { ...SHAPE, existing: 'fail' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'SEGMENT_EXISTS', segment: name, message: `${name} exists (left by a producer that is no longer running)` });
    expect((error as ShmRingError).hint).toMatch(/shmring rm NAME.*existing: 'takeover'/);
    expect(ringId(name)).toBe(before);
  });

  it("existing: 'fail' refuses an unusable ring too, saying why", () => {
    const name = leftRing('fail-corrupt');
    writeI32(name, L.CAPACITY_OFFSET, 12345);
    let error: unknown;
    try {
      Producer.create(name, { ...SHAPE, existing: 'fail' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'SEGMENT_EXISTS', segment: name });
    expect((error as Error).message).toMatch(new RegExp(`^${name.replace(/\./g, '\\.')} exists and cannot be used: .*capacity 12345`));
    expect((error as ShmRingError).cause).toMatchObject({ code: 'CORRUPT_SEGMENT' });
    expect(readI32(name, L.CAPACITY_OFFSET)).toBe(12345);
  });

  it("existing: 'replace' makes a new ring even where it could continue", () => {
    const name = leftRing('replace');
    const before = ringId(name);
    const producer = track(Producer.create(name, { ...SHAPE, existing: 'replace' }));
    expect(ringId(name)).not.toBe(before);
    expect(producer.nextSequence).toBe(0);
  });

  it.each([
    ['capacity', { capacity: CAPACITY * 2 }],
    ['maxConsumers', { maxConsumers: 8 }],
    ['maxMessageLength', { maxMessageLength: 400 }],
  ])("existing: 'takeover' replaces a ring of another %s", (_label, other) => {
    const name = leftRing('other-shape');
    const before = ringId(name);
    const producer = track(Producer.create(name, { ...SHAPE, ...other }));
    expect(ringId(name)).not.toBe(before);
    expect(producer.nextSequence).toBe(0);
  });

  it('a takeover continues the ring: same id, the next sequence, the epoch and the takeover count up by one, PRODUCER_WAITING and the publish fence reset', () => {
    const name = leftRing('takeover', 3);
    const before = ringId(name);
    const epoch = readI32(name, L.PRODUCER_EPOCH_OFFSET);
    writeI32(name, L.PRODUCER_WAITING_OFFSET, 1);
    writeI32(name, L.PRODUCER_PUBLISH_FENCE_OFFSET, L.PublishFence.MEMBARRIER);
    const producer = track(Producer.create(name, SHAPE));
    expect(ringId(name)).toBe(before);
    expect(producer.nextSequence).toBe(3);
    expect(readI32(name, L.PRODUCER_EPOCH_OFFSET)).toBe(epoch + 1);
    expect(memoryOf(producer).controlF64[L.TAKEOVERS_OFFSET >> 3]).toBe(1);
    expect(readI32(name, L.PRODUCER_WAITING_OFFSET)).toBe(0);
    expect(readI32(name, L.PRODUCER_PUBLISH_FENCE_OFFSET)).toBe(L.PublishFence.FULL);
    expect(readI32(name, L.PRODUCER_PID_OFFSET)).toBe(process.pid);
  });

  it('refuses a ring whose producer lives (PRODUCER_ALIVE, naming its pid), and leaves it', () => {
    const first = track(Producer.create(ringName('alive'), SHAPE));
    let error: unknown;
    try {
      Producer.create(first.name, SHAPE);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'PRODUCER_ALIVE', segment: first.name, message: `${first.name} already has a live producer (pid ${process.pid})` });
    expect(first.sendBytes(message(1))).toBe(true);
  });

  it('takes over a ring whose lock names a dead producer', async () => {
    const name = leftRing('dead-holder');
    const before = ringId(name);
    writeI32(name, L.PRODUCER_PID_OFFSET, await deadPid());
    writeI32(name, L.PRODUCER_STATE_OFFSET, L.ProducerState.LIVE);
    track(Producer.create(name, SHAPE));
    expect(ringId(name)).toBe(before);
  });

  it.each([
    ['another layout version', (name: string) => writeI32(name, L.LAYOUT_VERSION_OFFSET, L.LAYOUT_VERSION + 1)],
    ['a corrupt header', (name: string) => writeI32(name, L.MAX_CONSUMERS_OFFSET, 0)],
    ['a header never finished', (name: string) => writeI32(name, L.LAYOUT_VERSION_OFFSET, 0)],
    ['a segment cut below its header', (name: string) => fs.truncateSync(path(name), 100)],
  ])('replaces a segment with %s', (_label, damage) => {
    const name = leftRing('unusable');
    const before = ringId(name);
    damage(name);
    const producer = withFastClock(() => track(Producer.create(name, SHAPE)));
    expect(ringId(name)).not.toBe(before);
    expect(producer.sendBytes(message(7))).toBe(true);
    const consumer = track(Consumer.open(name, { from: 'oldest' }));
    expect(consumer.tryReceiveBytes()?.[0]).toBe(7);
  });

  it('never replaces an unusable segment whose lock names a live producer (PRODUCER_ALIVE, with the cause)', () => {
    const name = leftRing('unusable-alive');
    writeI32(name, L.PRODUCER_PID_OFFSET, process.pid);
    writeI32(name, L.LAYOUT_VERSION_OFFSET, L.LAYOUT_VERSION + 1);
    let error: unknown;
    try {
      Producer.create(name, SHAPE);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'PRODUCER_ALIVE', segment: name });
    expect((error as Error).message).toBe(`${name} cannot be used (INCOMPATIBLE_VERSION) but its producer (pid ${process.pid}) is alive`);
    expect(readI32(name, L.LAYOUT_VERSION_OFFSET)).toBe(L.LAYOUT_VERSION + 1);
  });

  it('never touches a file that is not a ring (NOT_A_RING)', () => {
    const name = ringName('foreign');
    fs.writeFileSync(path(name), Buffer.alloc(L.PAGE_LENGTH * 2, 7));
    expect(codeOf(() => Producer.create(name, SHAPE))).toBe('NOT_A_RING');
    expect(fs.readFileSync(path(name)).every((byte) => byte === 7)).toBe(true);
  });
});

describe('startPosition and startSequence', () => {
  it('start a new ring at a given position and sequence, high words included', () => {
    const start = 5 * L.HIGH_WORD + 64 * 3;
    const producer = track(Producer.create(ringName('start'), { ...SHAPE, startPosition: start, startSequence: 7 * L.HIGH_WORD + 9 }));
    const consumer = track(Consumer.open(producer.name));
    expect(producer.nextSequence).toBe(7 * L.HIGH_WORD + 9);
    expect(producer.sendBytes(message(1))).toBe(true);
    const bytes = fs.readFileSync(path(producer.name));
    expect(bytes.readUInt32LE(L.PUBLISHED_TAIL_OFFSET)).toBe(64 * 3 + L.recordLength(PAYLOAD));
    expect(bytes.readUInt32LE(L.PUBLISHED_TAIL_HIGH_OFFSET)).toBe(5);
    expect(bytes.readUInt32LE(L.OLDEST_POSITION_HIGH_OFFSET)).toBe(5);
    expect(consumer.tryReceiveBytes()?.[0]).toBe(1);
    expect(consumer.lastSequence).toBe(7 * L.HIGH_WORD + 9);
  });
});

describe('temporaries of creators that died', () => {
  function plantTemporary(pid: number | string, ageMs: number): string {
    const name = `${CREATING_PREFIX}${pid}-${Math.random().toString(16).slice(2, 14)}`;
    fs.writeFileSync(path(name), Buffer.alloc(100));
    const when = (Date.now() - ageMs) / 1000;
    fs.utimesSync(path(name), when, when);
    onTeardown(() => fs.rmSync(path(name), { force: true }));
    return name;
  }

  // Other test files run beside this one, and every Producer.create sweeps dead creators' temporaries
  // older than 10 s (and `shmring gc` in the CLI's tests, any age): what is listed and what is left is
  // checked, never who removed an old one.
  it('lists and removes those of dead creators old enough, never a live creator’s nor a young one', async () => {
    const dead = await deadPid();
    const young = plantTemporary(dead, 0);
    expect(abandonedTemporaries(0).find((entry) => entry.name === young)).toEqual({ name: young, size: 100, creatorPid: dead });
    const live = plantTemporary(process.pid, 60_000);
    const unnamed = plantTemporary('x', 60_000);
    const old = plantTemporary(dead, 60_000);
    const listed = abandonedTemporaries(10_000).map((entry) => entry.name);
    for (const kept of [young, live, unnamed]) expect(listed).not.toContain(kept);
    removeAbandonedTemporaries(10_000);
    expect(fs.existsSync(path(old))).toBe(false);
    for (const kept of [live, unnamed]) expect(fs.existsSync(path(kept))).toBe(true);
    expect(abandonedTemporaries(10_000).map((entry) => entry.name)).not.toContain(old);
  });

  it('Producer.create removes them on its way', async () => {
    const old = plantTemporary(await deadPid(), 60_000);
    track(Producer.create(ringName('sweeps'), SHAPE));
    expect(fs.existsSync(path(old))).toBe(false);
  });
});
