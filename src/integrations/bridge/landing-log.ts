/**
 * The landing log of a NATS → ring bridge: a small shared-memory table beside its target ring that
 * says which JetStream message (stream sequence, and the source ring id + sequence from its headers)
 * landed at which sequence of the target ring. It makes delivery into the ring exactly once across a
 * crash of the bridge (docs/bridge.md, "Exactly once into the target ring"):
 *
 * - the bridge writes stream messages into the ring strictly in stream order (a gap in JetStream's
 *   delivery sequence makes it re-create its consumer from the last message it handled);
 * - before it publishes ring record `s`, it stores (s, stream sequence, source) in entry `s mod K`: the
 *   ring sequence field is first made invalid, then the other fields written, then `s` (a crash
 *   mid-entry leaves an invalid entry, never a mix of two messages);
 * - a restarted bridge takes its ring over and reads the ring's next sequence N: entries with s >= N
 *   were stored but their records never published, and the entry with the highest s < N names the last
 *   stream message that is in the ring. It resumes right after it: nothing written twice, nothing skipped.
 *
 * The ring's layout is not touched: the log is its own segment, `/.shmring-bridge-<ring name>`, made
 * under a temporary name and linked into place (like rings), with the ring's permission bits and group,
 * unlinked when the bridge closes cleanly, reused after a crash. Everything read from it is validated (it
 * is shared memory another process could have damaged): a damaged log is CORRUPT_SEGMENT with a hint.
 *
 * Layout (little-endian):
 *   header, 64 bytes: magic "shmrbrg\0" (8), version u32, entry count K u32 (a power of two), the target
 *   ring's RING_ID (16 bytes; another id means the ring was created anew: the log is reset), reserved;
 *   K entries of 48 bytes: ring sequence f64 (-1: none), stream sequence f64, source sequence f64 (-1:
 *   none), source ring id (16 bytes), reserved (8).
 */
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import { fromSystemError, SHM_DIRECTORY, ShmRingError } from '../../errors';
import { Segment } from '../../core/segment';
import { MAX_SEGMENT_NAME_BYTES } from '../../core/names';
import { CREATING_PREFIX } from '../../ring/create';

export const LANDING_LOG_PREFIX = '/.shmring-bridge-';
const MAGIC = Buffer.from('shmrbrg\0', 'latin1');
const VERSION = 1;
const HEADER_LENGTH = 64;
const ENTRY_LENGTH = 48;
const VERSION_OFFSET = 8;
const ENTRIES_OFFSET = 12;
const RING_ID_OFFSET = 16;
// Fields of an entry, as f64 indexes from its start, and the byte offset of the source ring id.
const RING_SEQUENCE_F64 = 0;
const STREAM_SEQUENCE_F64 = 1;
const SOURCE_SEQUENCE_F64 = 2;
const SOURCE_ID_OFFSET = 24;
const NONE = -1;
/** Entries: a landing batch needs as many (the bridge takes at most 1024 messages at once). */
export const DEFAULT_LANDING_LOG_ENTRIES = 4096;
const MIN_ENTRIES = 1024;
const MAX_ENTRIES = 1 << 22;
const HEX_ID = /^[0-9a-f]{32}$/;

/** Where a message came from, as the sending bridge's headers say (hex ring id, sequence there). */
export interface SourceKey {
  ringId: string;
  sequence: number;
}

/** What a log says about its ring after a restart. */
export interface LandingState {
  /** The stream sequence of the last message in the ring (0: the log knows of none). */
  lastStreamSequence: number;
  /** The highest source sequence in the log per source ring id. */
  lastBySource: Map<string, number>;
}

/** The log's segment name for a ring: readable when it fits, a hash of the ring's name when not. */
export function landingLogName(ring: string): string {
  const plain = `${LANDING_LOG_PREFIX}${ring.replace(/^\//, '')}`;
  if (Buffer.byteLength(plain) <= MAX_SEGMENT_NAME_BYTES) return plain;
  return `${LANDING_LOG_PREFIX}${createHash('sha256').update(ring).digest('hex')}`;
}

/** A landing log in /dev/shm whose ring is gone (see orphanedLandingLogs). */
export interface OrphanedLandingLog {
  /** The log's segment name (with its leading '/'). */
  name: string;
  inode: number;
  size: number;
}

/**
 * Landing logs whose ring no longer exists under any name in `segmentNames` (every entry of /dev/shm).
 * Such a log can serve no bridge: a ring created anew under that name is another instance, for which a
 * bridge resets the log anyway. Whether a process still holds one is for the caller to check (`shmring gc`
 * keeps those: a bridge between opening its log and its ring).
 */
export function orphanedLandingLogs(segmentNames: readonly string[]): OrphanedLandingLog[] {
  const present = new Set(segmentNames);
  const logOfRing = new Set(segmentNames.filter((name) => !name.startsWith(LANDING_LOG_PREFIX)).map(landingLogName));
  const orphaned: OrphanedLandingLog[] = [];
  for (const name of present) {
    if (!name.startsWith(LANDING_LOG_PREFIX) || logOfRing.has(name)) continue;
    try {
      const stat = fs.statSync(`${SHM_DIRECTORY}${name}`);
      // Only a file that is a landing log (its magic), never a foreign file or a ring under such a name.
      if (stat.isFile() && hasLandingLogMagic(`${SHM_DIRECTORY}${name}`)) orphaned.push({ name, inode: stat.ino, size: stat.size });
    } catch {
      // removed meanwhile
    }
  }
  return orphaned;
}

function hasLandingLogMagic(path: string): boolean {
  const fd = fs.openSync(path, 'r');
  try {
    const head = Buffer.alloc(MAGIC.length);
    return fs.readSync(fd, head, 0, MAGIC.length, 0) === MAGIC.length && head.equals(MAGIC);
  } finally {
    fs.closeSync(fd);
  }
}

function corrupt(name: string, what: string): ShmRingError {
  return new ShmRingError('CORRUPT_SEGMENT', `landing log ${name} is damaged: ${what}`, {
    segment: name,
    hint:
      `Stop the bridge and remove it (\`rm /dev/shm${name}\`); the bridge then makes a new one and resumes after what its ` +
      'JetStream consumer had acknowledged, so messages written after that may reach the ring a second time.',
  });
}

export class LandingLog {
  readonly name: string;
  readonly entries: number;
  private readonly segment: Segment;
  private readonly f64: Float64Array;
  private readonly bytes: Uint8Array;
  private readonly mask: number;
  private closed = false;

  private constructor(name: string, segment: Segment, entries: number) {
    this.name = name;
    this.segment = segment;
    this.entries = entries;
    this.mask = entries - 1;
    const buffer = segment.map(0, HEADER_LENGTH + entries * ENTRY_LENGTH, { writable: true });
    this.f64 = new Float64Array(buffer);
    this.bytes = new Uint8Array(buffer);
  }

  /**
   * Opens (or creates) the log of `ring`, whose instance is `ringId`; `mode` and `gid`: the ring's. A log
   * of another ring instance is reset (its ring was created anew).
   */
  static open(ring: string, ringId: string, options: { mode: number; gid: number; entries?: number }): LandingLog {
    const name = landingLogName(ring);
    const entries = options.entries ?? DEFAULT_LANDING_LOG_ENTRIES;
    if (!Number.isInteger(entries) || entries < MIN_ENTRIES || entries > MAX_ENTRIES || (entries & (entries - 1)) !== 0) {
      throw new RangeError(`LandingLog: entries must be a power of two in [${MIN_ENTRIES}, ${MAX_ENTRIES}], got ${entries}`);
    }
    for (let attempt = 0; ; attempt++) {
      let segment: Segment | undefined;
      try {
        segment = Segment.open(name, { minSize: HEADER_LENGTH });
      } catch (error) {
        if (!(error instanceof ShmRingError && error.code === 'SEGMENT_NOT_FOUND') || attempt > 3) throw error;
        const made = LandingLog.create(name, ringId, entries, options);
        if (made) return made;
        continue; // someone linked one first: open theirs
      }
      try {
        const log = LandingLog.adopt(name, segment);
        if (log.ringId() !== ringId) log.reset(ringId);
        return log;
      } catch (error) {
        segment.close();
        throw error;
      }
    }
  }

  /** Builds a new log under a temporary name and links it into place; undefined when the name exists. */
  private static create(name: string, ringId: string, entries: number, options: { mode: number; gid: number }): LandingLog | undefined {
    const temporary = `${CREATING_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`;
    const segment = Segment.create(temporary, HEADER_LENGTH + entries * ENTRY_LENGTH, { mode: options.mode, gid: options.gid });
    let linked = false;
    try {
      const log = new LandingLog(name, segment, entries);
      log.bytes.set(MAGIC, 0);
      const view = new DataView(log.bytes.buffer);
      view.setUint32(ENTRIES_OFFSET, entries, true);
      log.reset(ringId);
      view.setUint32(VERSION_OFFSET, VERSION, true);
      try {
        fs.linkSync(`${SHM_DIRECTORY}${temporary}`, `${SHM_DIRECTORY}${name}`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
        throw fromSystemError(error, { segment: name });
      }
      linked = true;
      return log;
    } finally {
      try {
        Segment.unlink(temporary);
      } catch {
        // already gone
      }
      if (!linked) segment.close();
    }
  }

  /** Checks the header of an existing log (untrusted) and maps it. */
  private static adopt(name: string, segment: Segment): LandingLog {
    const header = Buffer.alloc(HEADER_LENGTH);
    fs.readSync(segment.fd, header, 0, HEADER_LENGTH, 0);
    if (!header.subarray(0, 8).equals(MAGIC)) throw corrupt(name, 'no landing-log magic at its start');
    const version = header.readUInt32LE(VERSION_OFFSET);
    if (version !== VERSION) throw corrupt(name, `version ${version}, this bridge reads version ${VERSION}`);
    const entries = header.readUInt32LE(ENTRIES_OFFSET);
    if (entries < MIN_ENTRIES || entries > MAX_ENTRIES || (entries & (entries - 1)) !== 0) throw corrupt(name, `entry count ${entries}`);
    if (segment.size !== HEADER_LENGTH + entries * ENTRY_LENGTH) {
      throw corrupt(name, `${segment.size} bytes, ${HEADER_LENGTH + entries * ENTRY_LENGTH} expected for ${entries} entries`);
    }
    return new LandingLog(name, segment, entries);
  }

  private ringId(): string {
    return Buffer.from(this.bytes.subarray(RING_ID_OFFSET, RING_ID_OFFSET + 16)).toString('hex');
  }

  /** Forgets every entry and names `ringId` as the log's ring. */
  private reset(ringId: string): void {
    for (let i = 0; i < this.entries; i++) this.f64[(HEADER_LENGTH + i * ENTRY_LENGTH) / 8 + RING_SEQUENCE_F64] = NONE;
    this.bytes.set(Buffer.from(ringId, 'hex'), RING_ID_OFFSET);
  }

  /**
   * Reads the log against its ring, whose next sequence is `nextSequence` (from the producer that took
   * it over): drops the entries of records never published, validates the others (CORRUPT_SEGMENT), and
   * says where the ring's messages end in the stream.
   */
  recover(nextSequence: number): LandingState {
    const state: LandingState = { lastStreamSequence: 0, lastBySource: new Map() };
    const entries: { ringSequence: number; streamSequence: number }[] = [];
    for (let i = 0; i < this.entries; i++) {
      const at = (HEADER_LENGTH + i * ENTRY_LENGTH) / 8;
      const ringSequence = this.f64[at + RING_SEQUENCE_F64]!;
      if (ringSequence === NONE) continue;
      if (!Number.isSafeInteger(ringSequence) || ringSequence < 0 || ringSequence % this.entries !== i) {
        throw corrupt(this.name, `entry ${i} holds ring sequence ${ringSequence}`);
      }
      if (ringSequence >= nextSequence) {
        // Stored before a publish that never happened (the bridge died in between).
        this.f64[at + RING_SEQUENCE_F64] = NONE;
        continue;
      }
      const streamSequence = this.f64[at + STREAM_SEQUENCE_F64]!;
      const sourceSequence = this.f64[at + SOURCE_SEQUENCE_F64]!;
      if (!Number.isSafeInteger(streamSequence) || streamSequence < 1) throw corrupt(this.name, `entry ${i} holds stream sequence ${streamSequence}`);
      if (sourceSequence !== NONE && (!Number.isSafeInteger(sourceSequence) || sourceSequence < 0)) {
        throw corrupt(this.name, `entry ${i} holds source sequence ${sourceSequence}`);
      }
      entries.push({ ringSequence, streamSequence });
      if (sourceSequence !== NONE) {
        const source = Buffer.from(this.bytes.buffer, HEADER_LENGTH + i * ENTRY_LENGTH + SOURCE_ID_OFFSET, 16).toString('hex');
        const last = state.lastBySource.get(source);
        if (last === undefined || sourceSequence > last) state.lastBySource.set(source, sourceSequence);
      }
    }
    // Records are written in stream order: a later ring sequence always holds a later stream message.
    entries.sort((a, b) => a.ringSequence - b.ringSequence);
    for (let k = 1; k < entries.length; k++) {
      if (entries[k]!.streamSequence <= entries[k - 1]!.streamSequence) {
        throw corrupt(this.name, `ring sequences ${entries[k - 1]!.ringSequence} and ${entries[k]!.ringSequence} hold stream sequences out of order`);
      }
    }
    state.lastStreamSequence = entries.length === 0 ? 0 : entries[entries.length - 1]!.streamSequence;
    return state;
  }

  /**
   * Records that ring sequence `ringSequence` will hold stream message `streamSequence` from `source`
   * (undefined: a message without source headers). Call before the record is published.
   */
  record(ringSequence: number, streamSequence: number, source: SourceKey | undefined): void {
    const i = ringSequence & this.mask;
    const at = (HEADER_LENGTH + i * ENTRY_LENGTH) / 8;
    // Invalid first, then the fields, then the ring sequence: a crash in between leaves an invalid entry.
    this.f64[at + RING_SEQUENCE_F64] = NONE;
    this.f64[at + STREAM_SEQUENCE_F64] = streamSequence;
    if (source !== undefined && HEX_ID.test(source.ringId)) {
      this.f64[at + SOURCE_SEQUENCE_F64] = source.sequence;
      this.bytes.set(Buffer.from(source.ringId, 'hex'), HEADER_LENGTH + i * ENTRY_LENGTH + SOURCE_ID_OFFSET);
    } else {
      this.f64[at + SOURCE_SEQUENCE_F64] = NONE;
    }
    this.f64[at + RING_SEQUENCE_F64] = ringSequence;
  }

  /** Unmaps; with `unlink`, removes the name too (a clean stop: the ring goes with it). Idempotent. */
  close(unlink: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.segment.close();
    if (unlink) {
      try {
        Segment.unlink(this.name);
      } catch {
        // already gone
      }
    }
  }
}
