/**
 * One look at everything in /dev/shm: each ring summarised (shared by `ls`, `top`, `doctor`), each
 * foreign file with the processes that map it. Read-only, like src/ring/snapshot.ts underneath.
 */
import {
  assessUse,
  isShmringSegment,
  readSnapshot,
  SegmentNotFoundError,
  snapshotAll,
  type RingSnapshot,
  type SegmentKind,
} from '../ring/snapshot';
import { scanShmUsage, type ShmUsage, type ShmUser, type UnreadableProcess } from '../core/procmaps';
import { groupName, itemError, sleep, userName, type JsonItemError } from './common';

/** One word for a ring's condition, as `ls` and `top` show it. */
export type RingStatus =
  | 'live' // producer alive
  | 'stopped' // producer stopped (SIGSTOP, debugger): alive, will resume
  | 'closed' // producer closed cleanly; consumers may still be draining
  | 'producer-dead' // producer died, something alive still uses the ring
  | 'no-producer' // never had a producer (consumers waiting, or being created)
  | 'unknown' // producer in another pid namespace
  | 'abandoned' // nothing alive uses it: `shmring gc` removes it
  | Exclude<SegmentKind, 'ring' | 'foreign'>;

export interface MapperSummary {
  pid: number;
  command: string;
  mapped: boolean;
  writable: boolean;
  openFd: boolean;
}

export interface RingSummary {
  name: string;
  path: string;
  kind: SegmentKind;
  status: RingStatus;
  size: number;
  owner: string;
  group: string;
  uid: number;
  gid: number;
  mode: string;
  error?: JsonItemError;
  layoutVersion: number | null;
  capacity: number | null;
  maxConsumers: number | null;
  producer: { pid: number; status: string } | null;
  consumers: { total: number; alive: number; stopped: number; dead: number; unknown: number; tethered: number };
  messagesSent: number | null;
  bytesSent: number | null;
  lost: number | null;
  /** Largest lag of a consumer, bytes. */
  maxLag: number | null;
  /** Per second, from two samples; null when not sampled (--no-rate) or the counters went backwards. */
  rate: { messages: number; bytes: number; lost: number | null } | null;
  /** Processes that map the segment or hold it open now. */
  mappers: MapperSummary[];
  inUse: boolean;
  /** When the counters above were read (ms since the epoch). */
  takenAtMs: number;
  /** Why it is, or is not, in use. */
  reasons: string[];
  problems: string[];
}

export interface ForeignSummary {
  name: string;
  path: string;
  kind: SegmentKind;
  type: string;
  size: number;
  owner: string;
  group: string;
  mode: string;
  mappers: MapperSummary[];
  /** Why it cannot be read (unreadable files only): PERMISSION_DENIED, with the owner and mode. */
  error?: JsonItemError;
}

export interface Survey {
  takenAtMs: number;
  rings: RingSummary[];
  /** Files that are not shmring rings: other programs' shared memory, never touched. */
  foreign: ForeignSummary[];
  /** Files this user may not read (another user's, mode 0600...): rings or not, cannot be told. */
  unreadable: ForeignSummary[];
  /** Processes whose /proc entries could not be read: mappers may be missing. */
  unreadablePids: number[];
  /** The same, with the files that could not be read and the errno. */
  uninspected: UnreadableProcess[];
  /** Bytes still mapped from unlinked /dev/shm files (memory `df` counts nowhere). */
  deletedMappings: ShmUsage['deletedMappings'];
}

function mapperSummary(user: ShmUser): MapperSummary {
  return { pid: user.pid, command: user.command, mapped: user.mapped, writable: user.writable, openFd: user.openFd };
}

export function summarize(snapshot: RingSnapshot, usage: ShmUsage): RingSummary {
  const use = assessUse(snapshot, usage);
  const consumers = { total: 0, alive: 0, stopped: 0, dead: 0, unknown: 0, tethered: 0 };
  let lost: number | null = snapshot.kind === 'ring' ? 0 : null;
  let maxLag: number | null = null;
  for (const consumer of snapshot.consumers) {
    consumers.total += 1;
    consumers[consumer.status] += 1;
    if (consumer.tethered) consumers.tethered += 1;
    if (lost !== null) lost = consumer.lost === null ? null : lost + consumer.lost;
    if (consumer.lag !== null && consumer.status !== 'dead') maxLag = Math.max(maxLag ?? 0, consumer.lag);
  }
  let status: RingStatus;
  if (snapshot.kind !== 'ring') status = snapshot.kind as RingStatus;
  else if (use.unused) status = 'abandoned';
  else {
    switch (snapshot.producer?.status) {
      case 'alive': status = 'live'; break;
      case 'stopped': status = 'stopped'; break;
      case 'closed': status = 'closed'; break;
      case 'dead': status = 'producer-dead'; break;
      case 'unknown': status = 'unknown'; break;
      default: status = 'no-producer';
    }
  }
  const { file } = snapshot;
  return {
    name: file.name,
    path: file.path,
    kind: snapshot.kind,
    status,
    size: file.size,
    owner: userName(file.uid),
    group: groupName(file.gid),
    uid: file.uid,
    gid: file.gid,
    mode: `0${file.mode.toString(8).padStart(3, '0')}`,
    error: snapshot.error ? itemError(snapshot.error, file.name) : undefined,
    layoutVersion: snapshot.layoutVersion ?? null,
    capacity: snapshot.geometry?.capacity ?? null,
    maxConsumers: snapshot.geometry?.maxConsumers ?? null,
    producer: snapshot.producer ? { pid: snapshot.producer.pid, status: snapshot.producer.status } : null,
    consumers,
    messagesSent: snapshot.counters?.messagesSent ?? null,
    bytesSent: snapshot.counters?.bytesSent ?? null,
    lost,
    maxLag,
    rate: null,
    mappers: use.users.map(mapperSummary),
    inUse: !use.unused,
    takenAtMs: snapshot.takenAtMs,
    reasons: use.reasons,
    problems: snapshot.problems,
  };
}

function foreignSummary(snapshot: RingSnapshot, usage: ShmUsage): ForeignSummary {
  const { file } = snapshot;
  const use = assessUse(snapshot, usage);
  return {
    name: file.name,
    path: file.path,
    kind: snapshot.kind,
    type: file.type,
    size: file.size,
    owner: userName(file.uid),
    group: groupName(file.gid),
    mode: `0${file.mode.toString(8).padStart(3, '0')}`,
    mappers: use.users.map(mapperSummary),
    ...(snapshot.kind === 'unreadable' ? { error: unreadableError(snapshot) } : {}),
  };
}

/**
 * Why a segment cannot be read, for people: which file, owner and mode, who we are, and what to do.
 * (The snapshot only has the errno of the open.)
 */
export function unreadableError(snapshot: RingSnapshot): JsonItemError {
  const { file } = snapshot;
  const code = itemError(snapshot.error ?? { code: 'EACCES', message: '' }, file.name).code;
  if (code !== 'PERMISSION_DENIED') return itemError(snapshot.error ?? { code, message: `cannot read ${file.path}` }, file.name);
  const uid = process.geteuid?.() ?? -1;
  return {
    code,
    message:
      `permission denied reading ${file.path}: it is owned by ${userName(file.uid)}:${groupName(file.gid)} with mode ` +
      `0${file.mode.toString(8).padStart(3, '0')}, and this runs as ${userName(uid)} (uid ${uid})`,
    hint: `Run as its owner (${userName(file.uid)}) or as root to see whether it is a ring and who uses it.`,
  };
}

/** Per-second rates between two summaries of the same ring; null when they cannot be compared. */
export function rateBetween(before: RingSummary, after: RingSummary, elapsedMs: number): RingSummary['rate'] {
  if (elapsedMs <= 0 || before.messagesSent === null || after.messagesSent === null) return null;
  if (before.bytesSent === null || after.bytesSent === null) return null;
  const messages = after.messagesSent - before.messagesSent;
  const bytes = after.bytesSent - before.bytesSent;
  // Counters going backwards: the ring was re-created under the same name between the samples.
  if (messages < 0 || bytes < 0) return null;
  const lostDelta = before.lost !== null && after.lost !== null ? after.lost - before.lost : null;
  return {
    messages: (messages * 1000) / elapsedMs,
    bytes: (bytes * 1000) / elapsedMs,
    lost: lostDelta !== null && lostDelta >= 0 ? (lostDelta * 1000) / elapsedMs : null,
  };
}

export interface SurveyOptions {
  /** Only names starting with this (leading slash optional). */
  prefix?: string;
  /** Sample counters twice, this many ms apart, to compute rates; 0 = no rates. */
  rateSampleMs?: number;
}

export function prefixFilter(prefix: string | undefined): ((name: string) => boolean) | undefined {
  if (prefix === undefined || prefix === '') return undefined;
  const wanted = prefix.startsWith('/dev/shm/') ? `/${prefix.slice(9)}` : prefix.startsWith('/') ? prefix : `/${prefix}`;
  return (name) => name.startsWith(wanted);
}

/** Reads `rings` again (same names, same usage scan): the second sample of a rate. */
export function resample(rings: RingSummary[], usage: ShmUsage): Map<string, RingSummary> {
  const result = new Map<string, RingSummary>();
  for (const ring of rings) {
    if (ring.kind !== 'ring') continue;
    try {
      result.set(ring.name, summarize(readSnapshot(ring.name), usage));
    } catch (error) {
      if (!(error instanceof SegmentNotFoundError)) throw error;
    }
  }
  return result;
}

export async function survey(options: SurveyOptions = {}): Promise<Survey> {
  const filter = prefixFilter(options.prefix);
  const snapshots = snapshotAll(filter);
  const usage = scanShmUsage();
  const takenAtMs = Date.now();
  const rings: RingSummary[] = [];
  const foreign: ForeignSummary[] = [];
  const unreadable: ForeignSummary[] = [];
  for (const snapshot of snapshots) {
    if (isShmringSegment(snapshot)) rings.push(summarize(snapshot, usage));
    else if (snapshot.kind === 'unreadable') unreadable.push(foreignSummary(snapshot, usage));
    else foreign.push(foreignSummary(snapshot, usage));
  }
  const sampleMs = options.rateSampleMs ?? 0;
  if (sampleMs > 0 && rings.some((r) => r.kind === 'ring')) {
    await sleep(sampleMs);
    const later = resample(rings, usage);
    for (const ring of rings) {
      const after = later.get(ring.name);
      if (!after) continue;
      ring.rate = rateBetween(ring, after, after.takenAtMs - ring.takenAtMs);
      ring.takenAtMs = after.takenAtMs;
      // Show the newer counters: they are the ones the rate ends at.
      ring.messagesSent = after.messagesSent;
      ring.bytesSent = after.bytesSent;
      ring.lost = after.lost;
    }
  }
  return {
    takenAtMs,
    rings,
    foreign,
    unreadable,
    unreadablePids: usage.unreadablePids,
    uninspected: usage.unreadable,
    deletedMappings: usage.deletedMappings,
  };
}
