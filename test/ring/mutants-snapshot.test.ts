/**
 * What `shmring inspect`, `ls`, `rm` and `gc` are told about a segment (src/ring/snapshot.ts: readSnapshot
 * and assessUse), in this process so that mutation testing sees it: the commands' own tests run them as
 * child processes. Written against mutants of snapshot.ts that survived the suite (docs/testing.md,
 * "Mutation testing"). Each field is checked exactly, for a healthy ring and for every damaged word the
 * snapshot must report as a problem (written with plain file I/O at offsets named in src/ring/layout.ts),
 * and each kind of segment that is not a ring.
 */
import * as fs from 'fs';
import { Consumer, Producer } from '../../src';
import { currentProcess } from '../../src/core/liveness';
import type { ShmUsage } from '../../src/core/procmaps';
import * as L from '../../src/ring/layout';
import { assessUse, describeStatus, isShmringSegment, listSegmentNames, readSnapshot, RingSnapshot, SegmentNotFoundError, snapshotAll } from '../../src/ring/snapshot';
import { CREATING_PREFIX } from '../../src/ring/create';
import { bellPath } from '../../src/ring/bells';
import { CAPACITY, MAX_CONSUMERS, PAYLOAD, RECORD, deadPid, memoryOf, message, segmentPath as path, writeF64, writeI32, writePair } from './mutant-fixtures';
import { trackRings } from '../support/teardown';

const { ringName, track, onTeardown } = trackRings();

const slotField = (slot: number, field: number) => L.slotOffset(slot) + field;

/** A live ring of this process: `sent` messages, a tethered consumer (slot 0) that read them all, an untethered one (slot 1) that read none. */
function liveRing(tag: string, sent = 3): { producer: Producer; name: string } {
  const producer = track(Producer.create(ringName(tag), { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
  const tethered = track(Consumer.open(producer.name, { tethered: true }));
  track(Consumer.open(producer.name, { tethered: false }));
  for (let n = 0; n < sent; n++) expect(producer.sendBytes(message(n))).toBe(true);
  for (let n = 0; n < sent; n++) expect(tethered.tryReceiveBytes()).toBeDefined();
  // The consumer's head and counters reach its slot when it releases (caught up), not per message.
  expect(tethered.tryReceiveBytes()).toBeUndefined();
  return { producer, name: producer.name };
}

function ring(snapshot: RingSnapshot): RingSnapshot {
  expect(snapshot.kind).toBe('ring');
  expect(snapshot.error).toBeUndefined();
  return snapshot;
}

describe('readSnapshot of a healthy ring', () => {
  it('reports every field of the producer, positions, counters and consumers exactly', () => {
    const { name } = liveRing('healthy');
    const me = currentProcess();
    const snapshot = ring(readSnapshot(name));
    expect(snapshot.file).toMatchObject({ name, path: path(name), type: 'file', size: L.controlLength(MAX_CONSUMERS) + CAPACITY });
    expect(snapshot.file.mode).toBe(fs.statSync(path(name)).mode & 0o7777);
    expect(snapshot.layoutVersion).toBe(L.LAYOUT_VERSION);
    expect(snapshot.geometry).toEqual({
      layoutVersion: L.LAYOUT_VERSION,
      controlLength: L.controlLength(MAX_CONSUMERS),
      capacity: CAPACITY,
      maxMessageLength: L.defaultMaxMessageLength(CAPACITY),
      maxConsumers: MAX_CONSUMERS,
      segmentLength: L.controlLength(MAX_CONSUMERS) + CAPACITY,
    });
    expect(snapshot.creator?.pid).toBe(process.pid);
    expect(snapshot.producer).toEqual({
      pid: process.pid,
      startTime: me.startTime,
      pidNamespace: me.pidNamespace,
      state: 'live',
      aborted: false,
      epoch: expect.any(Number),
      publishFence: 'full',
      status: 'alive',
    });
    // TAIL_INTENT runs ahead of the tail in steps (src/ring/writer.ts), within a ring.
    expect(snapshot.positions).toEqual({ publishedTail: 3 * RECORD, tailIntent: expect.any(Number), oldest: 0, nextSequence: 3, used: 3 * RECORD });
    expect(snapshot.positions!.tailIntent).toBeGreaterThanOrEqual(3 * RECORD);
    expect(snapshot.positions!.tailIntent).toBeLessThanOrEqual(3 * RECORD + CAPACITY);
    expect(snapshot.counters).toEqual({
      messagesSent: 3,
      bytesSent: 3 * PAYLOAD,
      producerStalls: 0,
      wakesSent: expect.any(Number),
      consumersReclaimed: 0,
      takeovers: 0,
      // Stored by the producer's liveness tick, which has not run: this test never yields to the event loop.
      lastSendAtMs: null,
    });
    expect(snapshot.waiting).toEqual({ dataWaiters: 0, producerWaiting: 0 });
    expect(snapshot.consumers).toEqual([
      {
        slot: 0, state: 'active', tethered: true, pid: process.pid, startTime: me.startTime, pidNamespace: me.pidNamespace,
        status: 'alive', head: 3 * RECORD, lag: 0, lapped: false, received: 3, lost: 0, joinedAtMs: expect.any(Number),
      },
      {
        slot: 1, state: 'active', tethered: false, pid: process.pid, startTime: me.startTime, pidNamespace: me.pidNamespace,
        status: 'alive', head: 0, lag: 3 * RECORD, lapped: false, received: 0, lost: 0, joinedAtMs: expect.any(Number),
      },
    ]);
    expect(snapshot.problems).toEqual([]);
    expect(isShmringSegment(snapshot)).toBe(true);
  });

  it('reports a closed producer as closed, and an aborted one as aborted', () => {
    const closed = track(Producer.create(ringName('closed'), { capacity: CAPACITY, unlinkOnClose: false }));
    closed.close();
    expect(ring(readSnapshot(closed.name)).producer).toMatchObject({ state: 'closed', status: 'closed', aborted: false });
    const aborted = track(Producer.create(ringName('aborted'), { capacity: CAPACITY, unlinkOnClose: false }));
    aborted.abort(new Error('stop'));
    expect(ring(readSnapshot(aborted.name)).producer).toMatchObject({ state: 'closed', status: 'closed', aborted: true });
  });

  it('reports a ring whose producer never started as none, and one whose producer died as dead', async () => {
    const { name } = liveRing('no-producer', 0);
    writeI32(name, L.PRODUCER_PID_OFFSET, 0);
    writeI32(name, L.PRODUCER_STATE_OFFSET, L.ProducerState.NONE);
    expect(ring(readSnapshot(name)).producer).toMatchObject({ state: 'none', status: 'none' });
    writeI32(name, L.PRODUCER_PID_OFFSET, await deadPid());
    writeI32(name, L.PRODUCER_STATE_OFFSET, L.ProducerState.LIVE);
    expect(ring(readSnapshot(name)).producer).toMatchObject({ state: 'live', status: 'dead' });
    writeI32(name, L.PRODUCER_PID_OFFSET, process.pid);
  });

  it.each([
    [L.PublishFence.FULL, 'full'],
    [L.PublishFence.MEMBARRIER, 'membarrier'],
    [7, 'unknown'],
  ])('reports publish fence word %i as %s, never as a problem', (word, expected) => {
    const { name } = liveRing('fence', 0);
    writeI32(name, L.PRODUCER_PUBLISH_FENCE_OFFSET, word);
    const snapshot = ring(readSnapshot(name));
    expect(snapshot.producer?.publishFence).toBe(expected);
    expect(snapshot.problems).toEqual([]);
  });
});

describe('readSnapshot of damaged words', () => {
  // [label, the damage (given the ring's name), the problems expected, more fields expected]
  const cases: Array<[string, (name: string) => void | Promise<void>, string[], (snapshot: RingSnapshot) => void]> = [
    ['a producer state word out of range', (name) => writeI32(name, L.PRODUCER_STATE_OFFSET, 9), ['producer state word is 9'],
      (s) => expect(s.producer?.state).toBe('invalid')],
    ['a negative producer pid', (name) => writeI32(name, L.PRODUCER_PID_OFFSET, -3), ['producer pid is -3'], () => undefined],
    ['an oldest position ahead of the tail', (name) => writePair(name, L.OLDEST_POSITION_OFFSET, 4 * RECORD),
      [`oldest position ${4 * RECORD} is not within one capacity behind the tail ${3 * RECORD}`], (s) => expect(s.positions?.used).toBeNull()],
    ['an oldest position more than a ring behind', (name) => { writePair(name, L.PUBLISHED_TAIL_OFFSET, CAPACITY + 4 * RECORD); writePair(name, L.TAIL_INTENT_OFFSET, CAPACITY + 4 * RECORD); },
      [`oldest position 0 is not within one capacity behind the tail ${CAPACITY + 4 * RECORD}`, `tethered consumer slot 0 lags ${CAPACITY + RECORD} bytes, more than the capacity ${CAPACITY}`], (s) => expect(s.positions?.used).toBeNull()],
    ['an oldest position exactly a ring behind (full, not a problem)', (name) => { writePair(name, L.PUBLISHED_TAIL_OFFSET, CAPACITY); writePair(name, L.TAIL_INTENT_OFFSET, CAPACITY); writePair(name, slotField(0, L.SLOT_HEAD_OFFSET), CAPACITY); writePair(name, slotField(1, L.SLOT_HEAD_OFFSET), CAPACITY); },
      [], (s) => expect(s.positions?.used).toBe(CAPACITY)],
    ['a tail intent behind the tail', (name) => writePair(name, L.TAIL_INTENT_OFFSET, 2 * RECORD),
      [`tail intent ${2 * RECORD} is not within one capacity ahead of the tail ${3 * RECORD}`], () => undefined],
    ['a tail intent more than a ring ahead', (name) => writePair(name, L.TAIL_INTENT_OFFSET, 3 * RECORD + CAPACITY + 16),
      [`tail intent ${3 * RECORD + CAPACITY + 16} is not within one capacity ahead of the tail ${3 * RECORD}`], () => undefined],
    ['a tail intent exactly a ring ahead (not a problem)', (name) => writePair(name, L.TAIL_INTENT_OFFSET, 3 * RECORD + CAPACITY), [], () => undefined],
    ['a tail off the record alignment', (name) => { writePair(name, L.PUBLISHED_TAIL_OFFSET, 3 * RECORD + 8); writePair(name, L.TAIL_INTENT_OFFSET, 3 * RECORD + 8); },
      [`tail ${3 * RECORD + 8} is not record-aligned`], () => undefined],
    ['an oldest position off the record alignment', (name) => writePair(name, L.OLDEST_POSITION_OFFSET, 8),
      ['oldest position 8 is not record-aligned'], () => undefined],
    ['a count that is not a number', (name) => writeF64(name, L.MESSAGES_SENT_OFFSET, NaN), ['messages sent is NaN, not a count'],
      (s) => expect(s.counters?.messagesSent).toBeNull()],
    ['a negative count', (name) => writeF64(name, L.BYTES_SENT_OFFSET, -1), ['bytes sent is -1, not a count'], (s) => expect(s.counters?.bytesSent).toBeNull()],
    ['a fractional count', (name) => writeF64(name, L.PRODUCER_STALLS_OFFSET, 1.5), ['producer stalls is 1.5, not a count'], () => undefined],
    ['a count past 2^53', (name) => writeF64(name, L.WAKES_SENT_OFFSET, 2 ** 54), [`wakes sent is ${2 ** 54}, not a count`], () => undefined],
    ['the largest exact count (not a problem)', (name) => writeF64(name, L.TAKEOVERS_OFFSET, Number.MAX_SAFE_INTEGER), [],
      (s) => expect(s.counters?.takeovers).toBe(Number.MAX_SAFE_INTEGER)],
    ['a reclaim count of zero (not a problem)', (name) => writeF64(name, L.CONSUMERS_RECLAIMED_OFFSET, 0), [], (s) => expect(s.counters?.consumersReclaimed).toBe(0)],
    ['a negative time', (name) => writeF64(name, L.LAST_SEND_AT_MS_OFFSET, -5), ['last send time is -5, not a time'], (s) => expect(s.counters?.lastSendAtMs).toBeNull()],
    ['a time past the last a Date holds', (name) => writeF64(name, L.LAST_SEND_AT_MS_OFFSET, 8.64e15 + 1), [`last send time is ${8.64e15 + 1}, not a time`], () => undefined],
    ['an infinite time', (name) => writeF64(name, L.LAST_SEND_AT_MS_OFFSET, Infinity), ['last send time is Infinity, not a time'], () => undefined],
    ['the last time a Date holds (not a problem)', (name) => writeF64(name, L.LAST_SEND_AT_MS_OFFSET, 8.64e15), [], (s) => expect(s.counters?.lastSendAtMs).toBe(8.64e15)],
    ['no send yet', (name) => writeF64(name, L.LAST_SEND_AT_MS_OFFSET, 0), [], (s) => expect(s.counters?.lastSendAtMs).toBeNull()],
    ['a slot state word out of range', (name) => writeI32(name, slotField(1, L.SLOT_STATE_OFFSET), 7), ['consumer slot 1 has state word 7'],
      (s) => expect(s.consumers[1].state).toBe('invalid')],
    ['a slot still claiming', (name) => writeI32(name, slotField(1, L.SLOT_STATE_OFFSET), L.SlotState.CLAIMING), [], (s) => expect(s.consumers[1].state).toBe('claiming')],
    ['a slot marked free with its pid still set', (name) => writeI32(name, slotField(1, L.SLOT_STATE_OFFSET), L.SlotState.FREE), [], (s) => expect(s.consumers[1].state).toBe('claiming')],
    ['a slot being reclaimed (negative pid)', (name) => writeI32(name, slotField(1, L.SLOT_PID_OFFSET), -5), [], (s) => expect(s.consumers.map((c) => c.slot)).toEqual([0])],
    ['a consumer head beyond the tail', (name) => writePair(name, slotField(1, L.SLOT_HEAD_OFFSET), 4 * RECORD),
      [`consumer slot 1 is at ${4 * RECORD}, beyond the tail ${3 * RECORD}`], (s) => expect(s.consumers[1]).toMatchObject({ lag: null, lapped: false })],
    ['a tethered consumer more than a ring behind', (name) => { writePair(name, L.PUBLISHED_TAIL_OFFSET, CAPACITY + 2 * RECORD); writePair(name, L.TAIL_INTENT_OFFSET, CAPACITY + 2 * RECORD); writePair(name, L.OLDEST_POSITION_OFFSET, 2 * RECORD); writePair(name, slotField(0, L.SLOT_HEAD_OFFSET), RECORD); writePair(name, slotField(1, L.SLOT_HEAD_OFFSET), 2 * RECORD); },
      [`tethered consumer slot 0 lags ${CAPACITY + RECORD} bytes, more than the capacity ${CAPACITY}`],
      (s) => { expect(s.consumers[0]).toMatchObject({ lag: null, lapped: true }); expect(s.consumers[1]).toMatchObject({ lag: CAPACITY, lapped: false }); }],
    ['an untethered consumer more than a ring behind (not a problem)', (name) => { writePair(name, L.PUBLISHED_TAIL_OFFSET, CAPACITY + 2 * RECORD); writePair(name, L.TAIL_INTENT_OFFSET, CAPACITY + 2 * RECORD); writePair(name, L.OLDEST_POSITION_OFFSET, 2 * RECORD); writePair(name, slotField(0, L.SLOT_HEAD_OFFSET), 2 * RECORD); writePair(name, slotField(1, L.SLOT_HEAD_OFFSET), RECORD); },
      [], (s) => expect(s.consumers[1]).toMatchObject({ lag: CAPACITY + RECORD, lapped: true })],
    ['an untethered consumer behind the oldest record, within a ring', (name) => writePair(name, L.OLDEST_POSITION_OFFSET, RECORD),
      [], (s) => { expect(s.consumers[1]).toMatchObject({ head: 0, lag: 3 * RECORD, lapped: true }); expect(s.consumers[0].lapped).toBe(false); }],
    ['a consumer count that is not a number', (name) => writeF64(name, slotField(0, L.SLOT_RECEIVED_OFFSET), NaN), ['consumer slot 0 received is NaN, not a count'],
      (s) => expect(s.consumers[0].received).toBeNull()],
    ['a consumer loss count that is negative', (name) => writeF64(name, slotField(0, L.SLOT_LOST_OFFSET), -2), ['consumer slot 0 lost is -2, not a count'], () => undefined],
    ['a consumer join time that is not a time', (name) => writeF64(name, slotField(0, L.SLOT_JOINED_AT_MS_OFFSET), -1), ['consumer slot 0 join time is -1, not a time'],
      (s) => expect(s.consumers[0].joinedAtMs).toBeNull()],
    ['a consumer with a damaged start time', (name) => writeF64(name, slotField(1, L.SLOT_START_TIME_OFFSET), NaN), ['consumer slot 1 has an invalid start time or pid namespace'],
      (s) => expect(s.consumers[1].status).toBe('unknown')],
    ['a producer with a damaged pid namespace', (name) => writeF64(name, L.PRODUCER_PID_NAMESPACE_OFFSET, Infinity), ['producer has an invalid start time or pid namespace'],
      (s) => expect(s.producer?.status).toBe('unknown')],
    ['a consumer that died', async (name) => writeI32(name, slotField(1, L.SLOT_PID_OFFSET), await deadPid()), [], (s) => expect(s.consumers[1].status).toBe('dead')],
  ];

  it.each(cases)('reports %s', async (_label, damage, problems, check) => {
    const { name } = liveRing('damaged');
    await damage(name);
    const snapshot = ring(readSnapshot(name));
    expect(snapshot.problems).toHaveLength(problems.length);
    problems.forEach((problem, index) => expect(snapshot.problems[index].startsWith(problem)).toBe(true));
    check(snapshot);
    // Put back what the consumers of this process own, so that teardown can close them.
    writeI32(name, slotField(0, L.SLOT_PID_OFFSET), process.pid);
    writeI32(name, slotField(1, L.SLOT_PID_OFFSET), process.pid);
    writeI32(name, L.PRODUCER_PID_OFFSET, process.pid);
  });
});

describe('readSnapshot of what is not a ring', () => {
  function plantFile(tag: string, bytes: Uint8Array): string {
    const name = ringName(tag);
    fs.writeFileSync(path(name), bytes);
    return name;
  }

  function header(version: number, size = L.PAGE_LENGTH): Uint8Array {
    const bytes = new Uint8Array(size);
    bytes.set(L.MAGIC, L.MAGIC_OFFSET);
    new DataView(bytes.buffer).setInt32(L.LAYOUT_VERSION_OFFSET, version, true);
    new DataView(bytes.buffer).setUint32(L.CREATOR_PID_OFFSET, process.pid, true);
    return bytes;
  }

  it('names a missing segment with SegmentNotFoundError', () => {
    const name = ringName('missing');
    expect(() => readSnapshot(name)).toThrow(SegmentNotFoundError);
    try {
      readSnapshot(name);
    } catch (error) {
      expect(error).toMatchObject({ code: 'ENOENT', segment: name, name: 'SegmentNotFoundError', message: `no segment ${name} in /dev/shm` });
    }
  });

  it('accepts the name as /name, name or /dev/shm/name', () => {
    const { name } = liveRing('names', 0);
    for (const form of [name, name.slice(1), path(name)]) expect(readSnapshot(form).file.name).toBe(name);
  });

  it('reports a directory and a symlink as foreign', () => {
    const directory = ringName('directory');
    fs.mkdirSync(path(directory));
    onTeardown(() => fs.rmSync(path(directory), { recursive: true, force: true }));
    const dir = readSnapshot(directory);
    expect(dir).toMatchObject({ kind: 'foreign', error: { code: 'NOT_A_RING', message: `${directory} is a directory, not a ring` } });
    expect(dir.file.type).toBe('directory');
    expect(isShmringSegment(dir)).toBe(false);
    const link = ringName('symlink');
    fs.symlinkSync('/etc/hostname', path(link));
    onTeardown(() => fs.rmSync(path(link), { force: true }));
    expect(readSnapshot(link)).toMatchObject({ kind: 'foreign', file: { type: 'symlink' }, error: { code: 'NOT_A_RING', message: `${link} is a symlink, not a ring` } });
  });

  it('reports a file without the magic as foreign', () => {
    const name = plantFile('no-magic', new Uint8Array(L.PAGE_LENGTH).fill(1));
    expect(readSnapshot(name)).toMatchObject({ kind: 'foreign', error: { code: 'NOT_A_RING', message: `${name} is not a shmring ring (no shmring magic)` } });
  });

  it('reports a header cut short as corrupt', () => {
    const name = plantFile('short', header(L.LAYOUT_VERSION, L.HEADER_LENGTH - 1));
    expect(readSnapshot(name)).toMatchObject({
      kind: 'corrupt',
      error: { code: 'CORRUPT_SEGMENT', message: `${name} is ${L.HEADER_LENGTH - 1} bytes, smaller than a ring header (${L.HEADER_LENGTH})` },
    });
  });

  it('reports a header without a layout version as initialising, with its creator', () => {
    const name = plantFile('initialising', header(0));
    const snapshot = readSnapshot(name);
    expect(snapshot).toMatchObject({ kind: 'initialising', layoutVersion: 0, error: { code: 'INITIALISING' } });
    expect(snapshot.creator?.pid).toBe(process.pid);
    expect(assessUse(snapshot, emptyUsage()).reasons).toEqual([`creator pid ${process.pid} is alive and still initialising the ring`]);
  });

  it('reports another layout version as incompatible, and a bad geometry as corrupt', () => {
    const other = plantFile('incompatible', header(L.LAYOUT_VERSION + 1));
    expect(readSnapshot(other)).toMatchObject({ kind: 'incompatible', layoutVersion: L.LAYOUT_VERSION + 1, error: { code: 'INCOMPATIBLE_VERSION' } });
    const bad = plantFile('bad-geometry', header(L.LAYOUT_VERSION));
    const snapshot = readSnapshot(bad);
    expect(snapshot).toMatchObject({ kind: 'corrupt', layoutVersion: L.LAYOUT_VERSION, error: { code: 'CORRUPT_SEGMENT' } });
    expect(snapshot.error?.message).toMatch(/max consumers 0/);
  });
});

function emptyUsage(): ShmUsage {
  return { byInode: new Map(), unreadablePids: [], unreadable: [], deletedMappings: [] };
}

describe('assessUse', () => {
  it('counts live producers and consumers and the processes that map the segment', () => {
    const { name } = liveRing('use', 0);
    const snapshot = readSnapshot(name);
    const usage = emptyUsage();
    usage.byInode.set(snapshot.file.ino, [
      { pid: 4242, command: 'reader', mapped: true, writable: false, openFd: false },
      { pid: 4243, command: '', mapped: true, writable: true, openFd: true },
      { pid: 4244, command: 'holder', mapped: false, writable: false, openFd: true },
    ] as never);
    const use = assessUse(snapshot, usage);
    expect(use.unused).toBe(false);
    expect(use.pids).toEqual([4242, 4243, 4244, process.pid].sort((a, b) => a - b));
    expect(use.reasons).toEqual([
      'pid 4242 (reader) maps it read-only',
      'pid 4243 maps it read-write and holds it open',
      'pid 4244 (holder) holds it open',
      `producer pid ${process.pid} is alive`,
      `consumer pid ${process.pid} (slot 0) is alive`,
      `consumer pid ${process.pid} (slot 1) is alive`,
    ]);
  });

  it('says why a ring is unused: producer closed, dead consumers, nobody maps it', async () => {
    const { name, producer } = liveRing('unused', 0);
    const dead = await deadPid();
    writeI32(name, slotField(0, L.SLOT_PID_OFFSET), dead);
    writeI32(name, slotField(1, L.SLOT_PID_OFFSET), dead);
    writeI32(name, L.PRODUCER_STATE_OFFSET, L.ProducerState.CLOSED);
    const closed = assessUse(readSnapshot(name), emptyUsage());
    expect(closed).toMatchObject({ unused: true, pids: [], reasons: ['producer closed, 2 consumers dead, no process maps it'] });
    writeI32(name, slotField(1, L.SLOT_PID_OFFSET), 0);
    writeI32(name, L.PRODUCER_STATE_OFFSET, L.ProducerState.LIVE);
    writeI32(name, L.PRODUCER_PID_OFFSET, dead);
    expect(assessUse(readSnapshot(name), emptyUsage()).reasons).toEqual([`producer pid ${dead} is dead, 1 consumer dead, no process maps it`]);
    writeI32(name, L.PRODUCER_PID_OFFSET, 0);
    writeI32(name, L.PRODUCER_STATE_OFFSET, L.ProducerState.NONE);
    expect(assessUse(readSnapshot(name), emptyUsage()).reasons).toEqual(['producer never started, 1 consumer dead, no process maps it']);
    // Teardown closes this process's endpoints: give their words back.
    writeI32(name, slotField(0, L.SLOT_PID_OFFSET), process.pid);
    writeI32(name, slotField(1, L.SLOT_PID_OFFSET), process.pid);
    writeI32(name, L.PRODUCER_PID_OFFSET, process.pid);
    writeI32(name, L.PRODUCER_STATE_OFFSET, L.ProducerState.LIVE);
    void producer;
  });

  it('counts a process in another pid namespace as in use', () => {
    const { name } = liveRing('namespace', 0);
    writeF64(name, slotField(1, L.SLOT_PID_NAMESPACE_OFFSET), currentProcess().pidNamespace + 1);
    const use = assessUse(readSnapshot(name), emptyUsage());
    expect(use.reasons).toContain(`consumer pid ${process.pid} (slot 1) is in another pid namespace (cannot be checked)`);
    writeF64(name, slotField(1, L.SLOT_PID_NAMESPACE_OFFSET), currentProcess().pidNamespace);
  });

  it('describes each status in words', () => {
    expect(describeStatus('stopped')).toBe('alive (stopped)');
    expect(describeStatus('unknown')).toBe('in another pid namespace (cannot be checked)');
    expect(describeStatus('dead')).toBe('dead');
  });
});

describe('listSegmentNames and snapshotAll', () => {
  it('list every entry of /dev/shm but temporaries and doorbells, sorted; snapshotAll follows a filter', () => {
    const { name, producer } = liveRing('listed', 0);
    const other = track(Producer.create(ringName('listed-b'), { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const temporary = `${CREATING_PREFIX}${process.pid}-abcdef123456`;
    fs.writeFileSync(path(temporary), Buffer.alloc(10));
    onTeardown(() => fs.rmSync(path(temporary), { force: true }));
    const bell = bellPath(memoryOf(producer), 0);
    const bellName = bell.slice('/dev/shm'.length);
    fs.writeFileSync(bell, '');
    onTeardown(() => fs.rmSync(bell, { force: true }));
    const names = listSegmentNames();
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining([name, other.name]));
    expect(names).not.toContain(temporary);
    expect(names).not.toContain(bellName);
    const mine = snapshotAll((entry) => entry === name || entry === other.name);
    expect(mine.map((snapshot) => snapshot.file.name)).toEqual([name, other.name].sort());
    expect(mine.every((snapshot) => snapshot.kind === 'ring')).toBe(true);
  });
});
