/**
 * Creating a ring, taking over one whose producer died, and replacing a segment that cannot be continued.
 *
 * Exactly one live producer per ring: the PRODUCER_PID word is a lock taken by CAS. A producer restarted
 * under the same name takes over a ring whose producer is dead (positions and sequence numbers carry on,
 * so live consumers continue), and replaces a segment it cannot use (another layout version, other
 * geometry, corrupt) when no live producer holds it.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import { fromSystemError, SHM_DIRECTORY, ShmRingError } from '../errors';
import { currentProcess, liveness, ProcessIdentity } from '../core/liveness';
import { Segment } from '../core/segment';
import { RingGeometry, writeHeader } from './header';
import * as L from './layout';
import {
  BYTES_SENT_F64,
  MESSAGES_SENT_F64,
  distance,
  distance64,
  loadPair,
  loadPairNumber,
  RECORD_LENGTH_I32,
  RECORD_SEQUENCE_HIGH_I32,
  RECORD_SEQUENCE_I32,
  RECORD_TYPE_I32,
  sequenceOf,
  NEXT_SEQUENCE_I32,
  OLDEST_POSITION_I32,
  PRODUCER_EPOCH_I32,
  PRODUCER_PUBLISH_FENCE_I32,
  PRODUCER_PID_I32,
  PRODUCER_PID_NAMESPACE_F64,
  PRODUCER_START_TIME_F64,
  PRODUCER_STATE_I32,
  PRODUCER_WAITING_CI32,
  PUBLISHED_TAIL_I32,
  RingMemory,
  TAIL_INTENT_I32,
  TAKEOVERS_F64,
} from './memory';
import { DEFAULT_INIT_TIMEOUT_MS, openRing } from './open';
import type { WriterStart } from './writer';

/** What creating or taking over needs to know (a subset of the producer's options). */
export interface CreateOptions {
  mode: number;
  gid: number | undefined;
  prefault: boolean;
  lock: boolean;
  hugePages: boolean;
  existing: 'takeover' | 'replace' | 'fail';
  startPosition: number;
  startSequence: number;
}

/**
 * Creates the ring `name`, or takes over / replaces what is there (see CreateOptions.existing).
 * Throws PRODUCER_ALIVE, SEGMENT_EXISTS, NOT_A_RING, FOREIGN_OWNER and the segment's own errors.
 */
export function createOrTakeOver(name: string, geometry: RingGeometry, options: CreateOptions): Opened {
  for (let attempt = 0; attempt < 3; attempt++) {
    const created = tryCreateFresh(name, geometry, options);
    if (created) return created;
    const existing = tryUseExisting(name, geometry, options);
    if (existing) return existing;
    // The old segment was unlinked (replaced, or vanished under us): create again.
  }
  throw new ShmRingError('SEGMENT_EXISTS', `${name} kept reappearing while replacing it`, {
    segment: name,
    hint: 'Another process is creating rings under the same name at the same time; give each producer its own name.',
  });
}

export interface Opened {
  segment: Segment;
  memory: RingMemory;
  start: WriterStart;
  tookOver: boolean;
}

/** How old a dead creator's temporary segment must be before Producer.create removes it on the way. */
const ABANDONED_MIN_AGE_MS = 10_000;

/** Prefix of the temporary name a ring is built under before it is linked into place. */
export const CREATING_PREFIX = '/.shmring-creating-';

/**
 * Creates the ring complete under a temporary name, then links it to `name` atomically (link(2) never
 * replaces an existing name), so no opener ever sees a half-made ring and a creator killed half-way
 * leaves nothing under the ring's name. Returns undefined when `name` exists.
 */
function tryCreateFresh(name: string, geometry: RingGeometry, options: CreateOptions): Opened | undefined {
  if (fs.existsSync(`${SHM_DIRECTORY}${name}`)) return undefined;
  // Housekeeping on the way: what creators that died building a ring left (not just now: `gc` takes those).
  removeAbandonedTemporaries(ABANDONED_MIN_AGE_MS);
  const temporary = `${CREATING_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`;
  let segment: Segment;
  try {
    segment = Segment.create(temporary, geometry.segmentLength, {
      mode: options.mode,
      gid: options.gid,
      prefault: options.prefault,
      lock: options.lock,
      hugePages: options.hugePages,
    });
  } catch (error) {
    throw asRingError(error, temporary, name);
  }
  let linked = false;
  try {
    const control = segment.map(0, geometry.controlLength, { writable: true });
    const data = segment.map(geometry.controlLength, geometry.capacity, { writable: true });
    const memory = new RingMemory(name, geometry, control, data);
    const me = currentProcess();
    // Take the producer lock before the header is published: a producer racing us that opens the
    // segment after it is linked finds it held.
    lockProducer(memory, me, 0);
    writeHeader(control, geometry, { ...me, createdAtMs: Date.now() });
    const start = options.startPosition | 0; // the low word (ToInt32 is modulo 2^32)
    const startHigh = Math.floor(options.startPosition / L.HIGH_WORD) | 0;
    try {
      fs.linkSync(`${SHM_DIRECTORY}${temporary}`, `${SHM_DIRECTORY}${name}`);
      linked = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw fromSystemError(error, { segment: name });
    }
    return {
      segment,
      memory,
      start: { tail: start, tailHigh: startHigh, tailIntent: start, oldest: start, sequence: options.startSequence },
      tookOver: false,
    };
  } catch (error) {
    throw asRingError(error, temporary, name);
  } finally {
    try {
      Segment.unlink(temporary);
    } catch {
      // already gone
    }
    if (!linked) segment.close();
  }
}

/** An error about the temporary segment, told about the ring. */
function asRingError(error: unknown, temporary: string, name: string): unknown {
  if (!(error instanceof ShmRingError)) return error;
  return new ShmRingError(error.code, error.message.split(temporary).join(name), {
    segment: name,
    errno: error.errno,
    syscall: error.syscall,
    hint: error.hint?.split(temporary).join(name),
    cause: error.cause,
  });
}

/** A temporary segment left by a creator that died before linking it into place. */
export interface AbandonedTemporary {
  /** The segment name (with its leading '/'). */
  name: string;
  size: number;
  creatorPid: number;
}

/**
 * Temporary segments of creators whose process is gone (pid no longer running), last modified at least
 * `minAgeMs` ago.
 */
export function abandonedTemporaries(minAgeMs = 0): AbandonedTemporary[] {
  const prefix = CREATING_PREFIX.slice(1);
  let entries: string[];
  try {
    entries = fs.readdirSync(SHM_DIRECTORY);
  } catch {
    return [];
  }
  const found: AbandonedTemporary[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const creatorPid = Number.parseInt(entry.slice(prefix.length), 10);
    if (!(creatorPid > 0) || liveness({ pid: creatorPid, startTime: 0, pidNamespace: 0 }) !== 'dead') continue;
    let stat: fs.Stats;
    try {
      stat = fs.statSync(`${SHM_DIRECTORY}/${entry}`);
    } catch {
      continue; // removed meanwhile
    }
    if (Date.now() - stat.mtimeMs < minAgeMs) continue;
    found.push({ name: `/${entry}`, size: stat.size, creatorPid });
  }
  return found;
}

/** Unlinks the temporary segments of dead creators (see abandonedTemporaries); returns those it removed. */
export function removeAbandonedTemporaries(minAgeMs = 0): AbandonedTemporary[] {
  const removed: AbandonedTemporary[] = [];
  for (const temporary of abandonedTemporaries(minAgeMs)) {
    try {
      fs.unlinkSync(`${SHM_DIRECTORY}${temporary.name}`);
      removed.push(temporary);
    } catch {
      // removed by someone else, or not ours to remove
    }
  }
  return removed;
}

/**
 * The name exists. Returns the ring taken over, or undefined after unlinking a segment that had to be
 * replaced (the caller creates again). Throws PRODUCER_ALIVE, NOT_A_RING, FOREIGN_OWNER, SEGMENT_EXISTS.
 */
function tryUseExisting(name: string, geometry: RingGeometry, options: CreateOptions): Opened | undefined {
  let opened;
  try {
    opened = openRing(name, { writableData: true, allowForeignOwner: false, initTimeoutMs: DEFAULT_INIT_TIMEOUT_MS });
  } catch (error) {
    if (!(error instanceof ShmRingError)) throw error;
    if (error.code === 'SEGMENT_NOT_FOUND') return undefined; // vanished under us: create again
    if (error.code === 'SEGMENT_TOO_SMALL' && growsWithin(name, DEFAULT_INIT_TIMEOUT_MS)) {
      return undefined; // a creator was between shm_open and ftruncate: look again
    }
    if (
      error.code === 'INCOMPATIBLE_VERSION' ||
      error.code === 'CORRUPT_SEGMENT' ||
      error.code === 'INIT_TIMEOUT' ||
      error.code === 'SEGMENT_TOO_SMALL' // left by a creator killed before ftruncate, or truncated
    ) {
      replaceUnusable(name, options, error);
      return undefined;
    }
    throw error; // NOT_A_RING (never clobber someone else's file), FOREIGN_OWNER, PERMISSION_DENIED...
  }
  const { segment, memory } = opened;
  try {
    const words = memory.controlI32;
    const doubles = memory.controlF64;
    const holder: ProcessIdentity = {
      pid: Atomics.load(words, PRODUCER_PID_I32),
      startTime: doubles[PRODUCER_START_TIME_F64],
      pidNamespace: doubles[PRODUCER_PID_NAMESPACE_F64],
    };
    if (holder.pid !== 0 && liveness(holder) !== 'dead') {
      throw new ShmRingError('PRODUCER_ALIVE', `${name} already has a live producer (pid ${holder.pid})`, {
        segment: name,
        hint: `Only one producer per ring. Stop pid ${holder.pid} first, or give this producer another name (for fan-in, one ring per producer).`,
      });
    }
    if (options.existing === 'fail') {
      throw new ShmRingError('SEGMENT_EXISTS', `${name} exists (left by a producer that is no longer running)`, {
        segment: name,
        hint: "Remove it with `npx shmring rm NAME`, or create with { existing: 'takeover' } to continue it.",
      });
    }
    const sameShape =
      memory.geometry.capacity === geometry.capacity &&
      memory.geometry.maxConsumers === geometry.maxConsumers &&
      memory.geometry.maxMessageLength === geometry.maxMessageLength;
    const start = sameShape && options.existing === 'takeover' ? readWriterStart(memory) : undefined;
    if (start === undefined) {
      segment.close();
      replaceUnusable(name, options, undefined);
      return undefined;
    }
    if (!lockProducer(memory, currentProcess(), holder.pid)) {
      throw new ShmRingError('PRODUCER_ALIVE', `another producer took over ${name} at the same time`, {
        segment: name,
        hint: 'Only one producer per ring; make sure a single process restarts it.',
      });
    }
    Atomics.add(words, PRODUCER_EPOCH_I32, 1);
    // Our publishes are sequentially consistent (Atomics): consumers need no membarrier before they sleep,
    // whatever the producer before us (a C producer, maybe) asked of them. Stored before our first publish.
    Atomics.store(words, PRODUCER_PUBLISH_FENCE_I32, L.PublishFence.FULL);
    doubles[TAKEOVERS_F64] += 1;
    Atomics.store(memory.consumerI32, PRODUCER_WAITING_CI32, 0);
    return { segment, memory, start, tookOver: true };
  } catch (error) {
    segment.close();
    throw error;
  }
}

/** Unlinks a segment that cannot be continued, unless a live producer still holds it. */
function replaceUnusable(name: string, options: CreateOptions, cause: ShmRingError | undefined): void {
  if (options.existing === 'fail') {
    throw new ShmRingError('SEGMENT_EXISTS', `${name} exists and cannot be used${cause ? `: ${cause.message}` : ''}`, {
      segment: name,
      hint: 'Remove it with `npx shmring rm NAME`.',
      cause,
    });
  }
  // Whatever else is wrong with it, a ring whose lock word names a live producer is that producer's:
  // never pull it from under it (someone may have damaged its header; that is for a person to look at).
  const holder = producerInFile(name);
  if (holder !== undefined && liveness(holder) !== 'dead') {
    throw new ShmRingError('PRODUCER_ALIVE', `${name} cannot be used${cause ? ` (${cause.code})` : ''} but its producer (pid ${holder.pid}) is alive`, {
      segment: name,
      hint: `Stop pid ${holder.pid} first; \`npx shmring inspect ${name}\` shows what is wrong with the ring.`,
      cause,
    });
  }
  try {
    Segment.unlink(name);
  } catch (error) {
    if (!(error instanceof ShmRingError && error.code === 'SEGMENT_NOT_FOUND')) throw error;
  }
}

/** The producer identity recorded in a segment's lock words, read with plain file I/O (no mapping). */
function producerInFile(name: string): ProcessIdentity | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(`/dev/shm${name}`, 'r');
    const block = Buffer.alloc(L.PRODUCER_PID_NAMESPACE_OFFSET + 8);
    if (fs.readSync(fd, block, 0, block.length, 0) < block.length) return undefined;
    const pid = block.readInt32LE(L.PRODUCER_PID_OFFSET);
    if (pid <= 0) return undefined;
    return {
      pid,
      startTime: block.readDoubleLE(L.PRODUCER_START_TIME_OFFSET),
      pidNamespace: block.readDoubleLE(L.PRODUCER_PID_NAMESPACE_OFFSET),
    };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Whether /dev/shm/<name> reaches a page within `ms` (its creator was still sizing it). */
function growsWithin(name: string, ms: number): boolean {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (fs.statSync(`/dev/shm${name}`).size >= L.PAGE_LENGTH) return true;
    } catch {
      return true; // gone: the caller creates it again
    }
    if (Date.now() >= deadline) return false;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
}

/** Takes the producer lock: CAS from `expectedHolder` (0, or a dead producer's pid) to us. */
function lockProducer(memory: RingMemory, me: ProcessIdentity, expectedHolder: number): boolean {
  const words = memory.controlI32;
  if (Atomics.compareExchange(words, PRODUCER_PID_I32, expectedHolder, me.pid) !== expectedHolder) return false;
  memory.controlF64[PRODUCER_START_TIME_F64] = me.startTime;
  memory.controlF64[PRODUCER_PID_NAMESPACE_F64] = me.pidNamespace;
  Atomics.store(words, PRODUCER_STATE_I32, L.ProducerState.LIVE);
  return true;
}

/**
 * The dead producer's published words, validated: they come from shared memory. Returns undefined when
 * they are inconsistent (the ring is then replaced rather than continued).
 *
 * The next sequence number is derived from the records themselves (the last one published, walking from
 * the oldest), not taken from NEXT_SEQUENCE: a producer killed inside commit() may have stored
 * NEXT_SEQUENCE and its counters for a record it never published. The counters are corrected to match.
 */
function readWriterStart(memory: RingMemory): WriterStart | undefined {
  const words = memory.controlI32;
  const low = new Int32Array(1);
  const tailHigh = loadPair(words, PUBLISHED_TAIL_I32, low);
  const tail = low[0];
  const tailIntentHigh = loadPair(words, TAIL_INTENT_I32, low);
  const tailIntent = low[0];
  const oldestHigh = loadPair(words, OLDEST_POSITION_I32, low);
  const oldest = low[0];
  const storedSequence = loadPairNumber(words, NEXT_SEQUENCE_I32);
  const aligned = (tail & (L.RECORD_ALIGNMENT - 1)) === 0 && (oldest & (L.RECORD_ALIGNMENT - 1)) === 0;
  const intentAhead = distance64(tailIntent, tailIntentHigh, tail, tailHigh);
  const retained = distance64(tail, tailHigh, oldest, oldestHigh);
  if (!aligned || intentAhead < 0 || intentAhead > memory.capacity || retained < 0 || retained > memory.capacity) {
    return undefined;
  }
  const walked = lastPublishedSequence(memory, oldest, tail);
  if (walked === null) return undefined;
  const sequence = walked ?? storedSequence;
  const phantom = storedSequence - sequence;
  if (phantom > 0 && phantom <= memory.capacity / L.RECORD_ALIGNMENT) {
    // Killed between storing its counters (with NEXT_SEQUENCE) and publishing the tail: uncount the
    // messages that never appeared (one, or a batch), and their bytes, read from the unpublished records.
    const doubles = memory.controlF64;
    doubles[MESSAGES_SENT_F64] = Math.max(0, doubles[MESSAGES_SENT_F64] - phantom);
    doubles[BYTES_SENT_F64] = Math.max(0, doubles[BYTES_SENT_F64] - unpublishedBytes(memory, tail, phantom));
  }
  return { tail, tailHigh, tailIntent, oldest, sequence };
}

/**
 * Payload bytes of the first `count` message records written past `tail` and never published (a dead
 * producer's last batch). Stops at the first record that does not add up: the counters are then only
 * partly corrected, which is all that can be known.
 */
function unpublishedBytes(memory: RingMemory, tail: number, count: number): number {
  const { dataI32: data, capacity, mask } = memory;
  let position = tail;
  let bytes = 0;
  for (let found = 0, steps = 0; found < count && steps <= capacity / L.RECORD_ALIGNMENT; steps++) {
    const offset = position & mask;
    const payloadLength = data[(offset >> 2) + RECORD_LENGTH_I32];
    const type = data[(offset >> 2) + RECORD_TYPE_I32];
    const length = type === L.RecordType.PADDING ? capacity - offset : L.recordLength(payloadLength);
    if (payloadLength < 0 || payloadLength > memory.geometry.maxMessageLength || offset + length > capacity) break;
    if (type === L.RecordType.MESSAGE || type === L.RecordType.BYTES) {
      bytes += payloadLength;
      found++;
    } else if (type !== L.RecordType.PADDING) break;
    position = (position + length) | 0;
  }
  return bytes;
}

/**
 * Walks the records from `oldest` to `tail` (less than a ring apart, checked by the caller). Returns the
 * sequence the next message must carry, undefined when no message is retained, or null when the records
 * do not add up (a corrupt ring).
 */
function lastPublishedSequence(memory: RingMemory, oldest: number, tail: number): number | undefined | null {
  const { dataI32: data, capacity, mask } = memory;
  const maxSteps = capacity / L.RECORD_ALIGNMENT + 1;
  let next: number | undefined;
  let position = oldest;
  for (let steps = 0; distance(tail, position) > 0; steps++) {
    const index = (position & mask) >> 2;
    const offset = position & mask;
    const payloadLength = data[index + RECORD_LENGTH_I32];
    const type = data[index + RECORD_TYPE_I32];
    const sequence = sequenceOf(data[index + RECORD_SEQUENCE_I32], data[index + RECORD_SEQUENCE_HIGH_I32]);
    const length = type === L.RecordType.PADDING ? capacity - offset : L.recordLength(payloadLength);
    const valid =
      steps < maxSteps &&
      type >= L.RecordType.MESSAGE &&
      type <= L.RecordType.ABORT &&
      payloadLength >= 0 &&
      payloadLength <= memory.geometry.maxMessageLength &&
      offset + length <= capacity &&
      length <= distance(tail, position);
    if (!valid) return null;
    if (type === L.RecordType.MESSAGE || type === L.RecordType.BYTES) next = sequence + 1;
    else if (type === L.RecordType.END || type === L.RecordType.ABORT) next = sequence;
    position = (position + length) | 0;
  }
  return position === tail ? next : null;
}
