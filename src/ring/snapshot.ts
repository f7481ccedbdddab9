/**
 * A read-only snapshot of a ring, for the CLI and for tools.
 *
 * Taking a snapshot never joins the ring: it claims no consumer slot, writes nothing, and maps nothing.
 * It reads the control region with pread(2) on a read-only descriptor, so it cannot disturb the producer
 * or any consumer, works without the native addon, and cannot take SIGBUS if the segment was truncated
 * (a read past the end is a short read, not a fault).
 *
 * The bytes come from shared memory that anyone with write access may have damaged, and they are not read
 * atomically as a whole (the producer keeps writing while we read). So every field is validated before it
 * is reported: a value that cannot be right is reported as a problem and shown as `null`, never trusted,
 * and a file that is not a ring at all is classified, never a crash.
 *
 * Size: one validating parser of the whole control region (header, producer, counters, every slot) and
 * the judgement built on it; splitting it would scatter the checks that must agree with each other.
 */
import { isBellName } from './bells';
import * as fs from 'fs';
import { invalidArgType, outOfRange } from '../errors';
import { hasMagic, readCreator, readGeometry, type CreatorInfo, type RingGeometry } from './header';
import { CREATING_PREFIX } from './create';
import * as L from './layout';
import { isProcessStopped, liveness, type Liveness, type ProcessIdentity } from '../core/liveness';
import { SHM_DIRECTORY, usersOf, type ShmUsage, type ShmUser } from '../core/procmaps';
import { validateSegmentName } from '../core/names';

export { SHM_DIRECTORY };

/**
 * - `ring`: a valid ring of this layout version;
 * - `initialising`: shmring magic, version word still 0 (a creator is writing the header, or died doing so);
 * - `incompatible`: a ring of another layout version;
 * - `corrupt`: shmring magic but a header that contradicts itself or the file size;
 * - `foreign`: not a shmring segment (another program's shared memory, a directory, a symlink...);
 * - `unreadable`: cannot be opened by this user, so what it is cannot be told.
 */
export type SegmentKind = 'ring' | 'initialising' | 'incompatible' | 'corrupt' | 'foreign' | 'unreadable';

export interface FileInfo {
  /** POSIX shared-memory name, with its leading slash: `/telemetry`. */
  name: string;
  /** `/dev/shm/telemetry` */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  uid: number;
  gid: number;
  /** Permission bits, e.g. 0o600. */
  mode: number;
  ino: number;
  mtimeMs: number;
}

/** What a process registered in the ring is, as far as /proc can tell. */
export type ProcessStatus = 'alive' | 'stopped' | 'dead' | 'unknown';

export interface ProducerSnapshot {
  pid: number;
  startTime: number;
  pidNamespace: number;
  /** PRODUCER_STATE as a word: 'none', 'live', 'closed', or 'invalid' (a value no producer writes). */
  state: 'none' | 'live' | 'closed' | 'invalid';
  /** Closed with an error (Producer#abort): consumers fail with PRODUCER_ABORTED. */
  aborted: boolean;
  epoch: number;
  /**
   * PRODUCER_PUBLISH_FENCE: `full` (every publish is a full barrier: the TypeScript producer) or `membarrier`
   * (a release store; consumers call membarrier before they sleep: the C producer); `unknown` for any other
   * value, which consumers treat as `membarrier`.
   */
  publishFence: 'full' | 'membarrier' | 'unknown';
  /**
   * One word for people: `none` (never had a producer), `closed` (closed cleanly), or the liveness of the
   * registered process. A stopped process (SIGSTOP, a debugger) is `stopped`, which is alive.
   */
  status: ProcessStatus | 'none' | 'closed';
}

export interface ConsumerSnapshot {
  slot: number;
  /** 'active', or 'claiming' while a consumer is filling its slot in (pid set, state not yet active). */
  state: 'active' | 'claiming' | 'invalid';
  tethered: boolean;
  pid: number;
  startTime: number;
  pidNamespace: number;
  status: ProcessStatus;
  /** The consumer's published position. */
  head: number;
  /** Bytes published and not yet read by this consumer; null when the head is not within the ring. */
  lag: number | null;
  /** The producer has overwritten records this (untethered) consumer has not read yet. */
  lapped: boolean;
  received: number | null;
  lost: number | null;
  joinedAtMs: number | null;
}

export interface RingPositions {
  publishedTail: number;
  tailIntent: number;
  oldest: number;
  nextSequence: number;
  /** Bytes between oldest and tail: the part of the ring holding readable records; null if invalid. */
  used: number | null;
}

export interface RingCounters {
  messagesSent: number | null;
  bytesSent: number | null;
  producerStalls: number | null;
  wakesSent: number | null;
  consumersReclaimed: number | null;
  takeovers: number | null;
  lastSendAtMs: number | null;
}

export interface RingSnapshot {
  file: FileInfo;
  kind: SegmentKind;
  /** Why the segment is not a usable ring (kinds other than `ring`). */
  error?: { code: string; message: string; hint?: string };
  takenAtMs: number;
  /** Layout version found in the segment (when it has the shmring magic). */
  layoutVersion?: number;
  geometry?: RingGeometry;
  creator?: CreatorInfo;
  producer?: ProducerSnapshot;
  positions?: RingPositions;
  /** Consumers asleep on the data futex / producer asleep for space (shared words, as read). */
  waiting?: { dataWaiters: number; producerWaiting: number };
  counters?: RingCounters;
  /** Occupied consumer slots only. */
  consumers: ConsumerSnapshot[];
  /** Values that contradict the rest of the ring (a damaged segment, or one read mid-update). */
  problems: string[];
}

/** A name as given by a user: `telemetry`, `/telemetry` or `/dev/shm/telemetry`. */
export function normalizeName(input: string): { name: string; path: string } {
  if (typeof input !== 'string') throw invalidArgType(`ring name must be a string, got ${typeof input}`);
  let base = input;
  if (base.startsWith(`${SHM_DIRECTORY}/`)) base = base.slice(SHM_DIRECTORY.length + 1);
  else if (base.startsWith('/')) base = base.slice(1);
  try {
    // The library's rule and words (core/names.ts): the command states the same limit.
    validateSegmentName(`/${base}`);
  } catch (error) {
    throw outOfRange((error as Error).message);
  }
  return { name: `/${base}`, path: `${SHM_DIRECTORY}/${base}` };
}

export class SegmentNotFoundError extends Error {
  readonly code = 'ENOENT';
  constructor(readonly segment: string) {
    super(`no segment ${segment} in ${SHM_DIRECTORY}`);
    this.name = 'SegmentNotFoundError';
  }
}

function fileInfo(name: string, path: string, stat: fs.Stats): FileInfo {
  return {
    name,
    path,
    type: stat.isFile() ? 'file' : stat.isDirectory() ? 'directory' : stat.isSymbolicLink() ? 'symlink' : 'other',
    size: stat.size,
    uid: stat.uid,
    gid: stat.gid,
    mode: stat.mode & 0o7777,
    ino: stat.ino,
    mtimeMs: stat.mtimeMs,
  };
}

/** Reads up to `length` bytes at `position`; returns fewer when the file is shorter. */
function readAt(fd: number, position: number, length: number): ArrayBuffer {
  const buffer = new ArrayBuffer(length);
  const bytes = new Uint8Array(buffer);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, bytes, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buffer : buffer.slice(0, done);
}

/**
 * Takes a snapshot of the segment `input` (any form normalizeName accepts). Throws SegmentNotFoundError
 * when there is no such file, RangeError for a malformed name; every other condition is in the result.
 */
export function readSnapshot(input: string): RingSnapshot {
  const { name, path } = normalizeName(input);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new SegmentNotFoundError(name);
    throw error;
  }
  const base = { file: fileInfo(name, path, stat), takenAtMs: Date.now(), consumers: [], problems: [] };
  if (!stat.isFile()) {
    return { ...base, kind: 'foreign', error: { code: 'NOT_A_RING', message: `${name} is a ${base.file.type}, not a ring` } };
  }

  let fd: number;
  try {
    // O_NOFOLLOW: a symlink swapped in after the lstat is not followed; O_NONBLOCK: a FIFO swapped in
    // cannot block the tool.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new SegmentNotFoundError(name);
    if (e.code === 'ELOOP') {
      return { ...base, kind: 'foreign', error: { code: 'NOT_A_RING', message: `${name} is a symlink, not a ring` } };
    }
    return {
      ...base,
      kind: 'unreadable',
      error: {
        code: e.code ?? 'EIO',
        message: `cannot open ${path} for reading: ${e.message}`,
        hint: e.code === 'EACCES' ? 'Run as the owner of the segment (`npx shmring ls` shows each owner) or as root.' : undefined,
      },
    };
  }
  try {
    const opened = fs.fstatSync(fd);
    const result = { ...base, file: fileInfo(name, path, opened) };
    if (!opened.isFile()) {
      return { ...result, kind: 'foreign', error: { code: 'NOT_A_RING', message: `${name} is not a regular file` } };
    }
    return snapshotFromDescriptor(fd, result);
  } finally {
    fs.closeSync(fd);
  }
}

type SnapshotBase = Pick<RingSnapshot, 'file' | 'takenAtMs' | 'consumers' | 'problems'>;

function snapshotFromDescriptor(fd: number, base: SnapshotBase): RingSnapshot {
  const { name, size } = base.file;
  const header = readAt(fd, 0, Math.min(size, L.HEADER_LENGTH));
  if (!hasMagic(new Uint8Array(header))) {
    return { ...base, kind: 'foreign', error: { code: 'NOT_A_RING', message: `${name} is not a shmring ring (no shmring magic)` } };
  }
  if (header.byteLength < L.HEADER_LENGTH) {
    return {
      ...base,
      kind: 'corrupt',
      error: { code: 'CORRUPT_SEGMENT', message: `${name} is ${size} bytes, smaller than a ring header (${L.HEADER_LENGTH})` },
    };
  }
  const layoutVersion = new DataView(header).getInt32(L.LAYOUT_VERSION_OFFSET, true);
  const creator = readCreator(header);
  if (layoutVersion === 0) {
    return {
      ...base,
      kind: 'initialising',
      layoutVersion,
      creator,
      error: {
        code: 'INITIALISING',
        message: `${name} has no layout version yet: its creator is still writing the header, or died doing so`,
      },
    };
  }
  let geometry: RingGeometry;
  try {
    geometry = readGeometry(header, size, name);
  } catch (error) {
    const e = error as { code?: string; message?: string; hint?: string };
    return {
      ...base,
      kind: e.code === 'INCOMPATIBLE_VERSION' ? 'incompatible' : 'corrupt',
      layoutVersion,
      error: { code: e.code ?? 'CORRUPT_SEGMENT', message: e.message ?? String(error), hint: e.hint },
    };
  }

  const control = readAt(fd, 0, geometry.controlLength);
  if (control.byteLength < geometry.controlLength) {
    // The file shrank between the header read and this one.
    return {
      ...base,
      kind: 'corrupt',
      layoutVersion,
      error: { code: 'CORRUPT_SEGMENT', message: `${name} was truncated while being read` },
    };
  }
  const problems: string[] = [];
  const view = new DataView(control);
  const i32 = (offset: number) => view.getInt32(offset, true);
  // A 64-bit position or sequence (low word, high word) as a Number: exact below 2^53, enough for display
  // and for the differences shown (the words were not read atomically as a pair: a tool tolerates that).
  const u64 = (offset: number) => view.getUint32(offset, true) + view.getUint32(offset + 4, true) * L.HIGH_WORD;
  const count = (label: string, offset: number): number | null => {
    const value = view.getFloat64(offset, true);
    if (Number.isInteger(value) && value >= 0 && value <= Number.MAX_SAFE_INTEGER) return value;
    problems.push(`${label} is ${value}, not a count`);
    return null;
  };
  const time = (label: string, offset: number): number | null => {
    const value = view.getFloat64(offset, true);
    if (value === 0) return null;
    // 8.64e15 ms is the last instant a JS Date can hold.
    if (Number.isFinite(value) && value > 0 && value <= 8.64e15) return value;
    problems.push(`${label} is ${value}, not a time`);
    return null;
  };
  const { capacity } = geometry;

  // Producer.
  const producerPid = i32(L.PRODUCER_PID_OFFSET);
  const producerStateWord = i32(L.PRODUCER_STATE_OFFSET);
  const producerIdentity: ProcessIdentity = {
    pid: producerPid,
    startTime: view.getFloat64(L.PRODUCER_START_TIME_OFFSET, true),
    pidNamespace: view.getFloat64(L.PRODUCER_PID_NAMESPACE_OFFSET, true),
  };
  const producerState =
    producerStateWord === L.ProducerState.NONE ? 'none'
    : producerStateWord === L.ProducerState.LIVE ? 'live'
    : producerStateWord === L.ProducerState.CLOSED || producerStateWord === L.ProducerState.ABORTED ? 'closed'
    : 'invalid';
  if (producerState === 'invalid') problems.push(`producer state word is ${producerStateWord}`);
  if (producerPid < 0) problems.push(`producer pid is ${producerPid}`);
  // Not a problem when unknown: consumers take any value but FULL as MEMBARRIER (a later producer's kind).
  const publishFenceWord = i32(L.PRODUCER_PUBLISH_FENCE_OFFSET);
  let producerStatus: ProducerSnapshot['status'];
  if (producerState === 'closed') producerStatus = 'closed';
  else if (producerPid === 0) producerStatus = 'none';
  else producerStatus = statusOf(producerIdentity, problems, 'producer');
  const producer: ProducerSnapshot = {
    ...producerIdentity,
    state: producerState,
    aborted: producerStateWord === L.ProducerState.ABORTED,
    epoch: i32(L.PRODUCER_EPOCH_OFFSET) >>> 0,
    publishFence: publishFenceWord === L.PublishFence.FULL ? 'full' : publishFenceWord === L.PublishFence.MEMBARRIER ? 'membarrier' : 'unknown',
    status: producerStatus,
  };

  // Positions: 64-bit, each checked against the capacity.
  const publishedTail = u64(L.PUBLISHED_TAIL_OFFSET);
  const tailIntent = u64(L.TAIL_INTENT_OFFSET);
  const oldest = u64(L.OLDEST_POSITION_OFFSET);
  const usedDistance = publishedTail - oldest;
  let used: number | null = usedDistance;
  if (usedDistance < 0 || usedDistance > capacity) {
    problems.push(`oldest position ${oldest} is not within one capacity behind the tail ${publishedTail}`);
    used = null;
  }
  const intentAhead = tailIntent - publishedTail;
  if (intentAhead < 0 || intentAhead > capacity) {
    problems.push(`tail intent ${tailIntent} is not within one capacity ahead of the tail ${publishedTail}`);
  }
  if (publishedTail % L.RECORD_ALIGNMENT !== 0) problems.push(`tail ${publishedTail} is not record-aligned`);
  if (oldest % L.RECORD_ALIGNMENT !== 0) problems.push(`oldest position ${oldest} is not record-aligned`);
  const positions: RingPositions = {
    publishedTail,
    tailIntent,
    oldest,
    nextSequence: u64(L.NEXT_SEQUENCE_OFFSET),
    used,
  };

  const counters: RingCounters = {
    messagesSent: count('messages sent', L.MESSAGES_SENT_OFFSET),
    bytesSent: count('bytes sent', L.BYTES_SENT_OFFSET),
    producerStalls: count('producer stalls', L.PRODUCER_STALLS_OFFSET),
    wakesSent: count('wakes sent', L.WAKES_SENT_OFFSET),
    consumersReclaimed: count('consumers reclaimed', L.CONSUMERS_RECLAIMED_OFFSET),
    takeovers: count('takeovers', L.TAKEOVERS_OFFSET),
    lastSendAtMs: time('last send time', L.LAST_SEND_AT_MS_OFFSET),
  };

  // Consumer slots. The pid word is the slot's lock (0 = free, negative = being reclaimed), so a slot is in use
  // when its pid is set, whatever its state word says yet.
  const consumers: ConsumerSnapshot[] = [];
  for (let slot = 0; slot < geometry.maxConsumers; slot++) {
    const at = L.slotOffset(slot);
    const pid = i32(at + L.SLOT_PID_OFFSET);
    if (pid <= 0) continue; // free, or being reclaimed (the pid of the reclaimer, negated)
    const stateWord = i32(at + L.SLOT_STATE_OFFSET);
    const state =
      stateWord === L.SlotState.ACTIVE ? 'active'
      : stateWord === L.SlotState.CLAIMING || stateWord === L.SlotState.FREE ? 'claiming'
      : 'invalid';
    if (state === 'invalid') problems.push(`consumer slot ${slot} has state word ${stateWord}`);
    const tethered = (i32(at + L.SLOT_FLAGS_OFFSET) & L.SLOT_FLAG_TETHERED) !== 0;
    const head = u64(at + L.SLOT_HEAD_OFFSET);
    const behind = publishedTail - head;
    let lag: number | null = behind;
    let lapped = false;
    if (behind < 0) {
      problems.push(`consumer slot ${slot} is at ${head}, beyond the tail ${publishedTail}`);
      lag = null;
    } else if (behind > capacity) {
      // An untethered consumer may legitimately fall further behind than the ring holds (it learns that it
      // lost messages on its next read); a tethered one never may.
      if (tethered) problems.push(`tethered consumer slot ${slot} lags ${behind} bytes, more than the capacity ${capacity}`);
      lapped = true;
      lag = tethered ? null : behind;
    } else if (oldest - head > 0) {
      lapped = true;
    }
    const identity: ProcessIdentity = {
      pid,
      startTime: view.getFloat64(at + L.SLOT_START_TIME_OFFSET, true),
      pidNamespace: view.getFloat64(at + L.SLOT_PID_NAMESPACE_OFFSET, true),
    };
    consumers.push({
      slot,
      state,
      tethered,
      ...identity,
      status: statusOf(identity, problems, `consumer slot ${slot}`),
      head,
      lag,
      lapped,
      received: count(`consumer slot ${slot} received`, at + L.SLOT_RECEIVED_OFFSET),
      lost: count(`consumer slot ${slot} lost`, at + L.SLOT_LOST_OFFSET),
      joinedAtMs: time(`consumer slot ${slot} join time`, at + L.SLOT_JOINED_AT_MS_OFFSET),
    });
  }

  return {
    ...base,
    kind: 'ring',
    layoutVersion,
    geometry,
    creator,
    producer,
    positions,
    waiting: { dataWaiters: i32(L.DATA_WAITERS_OFFSET), producerWaiting: i32(L.PRODUCER_WAITING_OFFSET) },
    counters,
    consumers,
    problems,
  };
}

function statusOf(identity: ProcessIdentity, problems: string[], who: string): ProcessStatus {
  if (!Number.isFinite(identity.startTime) || !Number.isFinite(identity.pidNamespace)) {
    problems.push(`${who} has an invalid start time or pid namespace`);
    // Cannot be checked: never declare a process dead on the strength of a damaged identity.
    return 'unknown';
  }
  const state: Liveness = liveness(identity);
  if (state === 'alive') return isProcessStopped(identity.pid) ? 'stopped' : 'alive';
  return state;
}

/** Every entry of /dev/shm as a POSIX name (with its leading slash), sorted. */
export function listSegmentNames(): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(SHM_DIRECTORY);
  } catch {
    return [];
  }
  // A ring still being built (or whose creator died building it) is not a ring yet: `gc` deals with those.
  // Doorbell FIFOs (src/ring/bells.ts) belong to rings; gc sweeps them on its own.
  return entries.filter((entry) => !entry.startsWith(CREATING_PREFIX.slice(1)) && !isBellName(entry)).sort().map((entry) => `/${entry}`);
}

/** Snapshots of every entry of /dev/shm (rings and foreign files); entries that vanish meanwhile are skipped. */
export function snapshotAll(filter?: (name: string) => boolean): RingSnapshot[] {
  const result: RingSnapshot[] = [];
  for (const name of listSegmentNames()) {
    if (filter && !filter(name)) continue;
    try {
      result.push(readSnapshot(name));
    } catch (error) {
      if (error instanceof SegmentNotFoundError) continue;
      if (error instanceof RangeError) continue; // a name POSIX shm could not have made
      throw error;
    }
  }
  return result;
}

export function isShmringSegment(snapshot: RingSnapshot): boolean {
  return snapshot.kind !== 'foreign' && snapshot.kind !== 'unreadable';
}

// ---------------------------------------------------------------------------------------------------
// Who is using a segment, and may it be removed.
// ---------------------------------------------------------------------------------------------------

export interface UseAssessment {
  /** Nobody alive uses the segment: removing it cannot hurt a running process. */
  unused: boolean;
  /** Pids that make the segment in use (registered and alive, or mapping/holding it now). */
  pids: number[];
  /** One line per reason it is in use, or why it is considered abandoned. */
  reasons: string[];
  users: ShmUser[];
}

/**
 * Whether anything alive uses `snapshot`'s segment: a registered producer or consumer that is alive,
 * stopped or cannot be checked (another pid namespace), or any process that maps it or holds it open.
 * A stopped process counts as alive: it will carry on when continued.
 */
export function assessUse(snapshot: RingSnapshot, usage: ShmUsage): UseAssessment {
  const pids = new Set<number>();
  const reasons: string[] = [];
  const users = usersOf(usage, snapshot.file.ino);
  for (const user of users) {
    pids.add(user.pid);
    const how = [user.mapped ? (user.writable ? 'maps it read-write' : 'maps it read-only') : '', user.openFd ? 'holds it open' : '']
      .filter(Boolean)
      .join(' and ');
    reasons.push(`pid ${user.pid}${user.command ? ` (${user.command})` : ''} ${how}`);
  }
  const producer = snapshot.producer;
  if (producer && (producer.status === 'alive' || producer.status === 'stopped' || producer.status === 'unknown')) {
    pids.add(producer.pid);
    reasons.push(`producer pid ${producer.pid} is ${describeStatus(producer.status)}`);
  }
  for (const consumer of snapshot.consumers) {
    if (consumer.status === 'dead') continue;
    pids.add(consumer.pid);
    reasons.push(`consumer pid ${consumer.pid} (slot ${consumer.slot}) is ${describeStatus(consumer.status)}`);
  }
  if (snapshot.kind === 'initialising' && snapshot.creator) {
    const creator = { pid: snapshot.creator.pid, startTime: snapshot.creator.startTime, pidNamespace: snapshot.creator.pidNamespace };
    const status = creator.pid > 0 ? statusOf(creator, [], 'creator') : 'dead';
    if (status !== 'dead') {
      pids.add(creator.pid);
      reasons.push(`creator pid ${creator.pid} is ${describeStatus(status)} and still initialising the ring`);
    }
  }
  const unused = pids.size === 0;
  if (unused) {
    const why: string[] = [];
    if (producer) why.push(`producer ${producer.status === 'none' ? 'never started' : producer.status === 'closed' ? 'closed' : `pid ${producer.pid} is dead`}`);
    const dead = snapshot.consumers.length;
    if (dead > 0) why.push(`${dead} consumer${dead === 1 ? '' : 's'} dead`);
    why.push('no process maps it');
    reasons.push(why.join(', '));
  }
  return { unused, pids: [...pids].sort((a, b) => a - b), reasons, users };
}

export function describeStatus(status: ProcessStatus | 'none' | 'closed'): string {
  switch (status) {
    case 'stopped':
      return 'alive (stopped)';
    case 'unknown':
      return 'in another pid namespace (cannot be checked)';
    default:
      return status;
  }
}
