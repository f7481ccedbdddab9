/** Producer options: their documentation, defaults, and validation (once, in Producer.create). */
import { Codec, createMessagePackCodec } from './codec';
import { invalidArgType, invalidArgValue, outOfRange } from '../errors';
import { isPowerOfTwo } from '../ring/header';
import * as L from '../ring/layout';
import { booleanOption, checkOptionsObject, describe, durationOption, integerOption, rejectUnknownKeys } from './options';

export interface ProducerOptions {
  /** Bytes in the data region; a power of two from 4 KiB to 1 GiB. Default: DEFAULT_CAPACITY (1 MiB). */
  capacity?: number;
  /** Consumer slots (tethered and untethered consumers each take one). Default: DEFAULT_MAX_CONSUMERS (16). */
  maxConsumers?: number;
  /** Largest payload accepted, in bytes; at most capacity/2 - 16. Default: capacity/4 - 16. */
  maxMessageLength?: number;
  /** Permission bits of the segment, applied exactly (the umask cannot change them). Default: 0o600. */
  mode?: number;
  /** Group that owns the segment (share a ring with a group: mode 0o660 and gid). Default: the process's. */
  gid?: number;
  /** Codec for send()/sendAsync(). Default: MessagePack with typed-array and Date extensions. */
  codec?: Codec;
  /** Fault the pages in at creation (MAP_POPULATE). Default: false. */
  prefault?: boolean;
  /** Pin the pages in RAM (mlock; needs `ulimit -l`). Default: false. */
  lock?: boolean;
  /** Ask for transparent huge pages where the kernel allows them for shmem. Default: false. */
  hugePages?: boolean;
  /** Remove the segment's name on close() (consumers keep reading what they have mapped). Default: true. */
  unlinkOnClose?: boolean;
  /** Zero the data region on close(), so no message outlives the producer in memory. Default: false. */
  wipeOnClose?: boolean;
  /**
   * Close the producer when the process exits normally (the 'exit' event: the event loop ran out, or
   * process.exit()), so consumers get a clean end and the segment is unlinked. A process killed by a
   * signal it does not handle (SIGKILL, a default SIGTERM) cannot: its consumers see PRODUCER_DIED.
   * Default: true.
   */
  closeOnExit?: boolean;
  /**
   * What to do when the name exists and its producer is dead: 'takeover' continues the ring when it is
   * compatible (else replaces it), 'replace' always starts a fresh ring, 'fail' throws SEGMENT_EXISTS.
   * A live producer always gives PRODUCER_ALIVE. Default: 'takeover'.
   */
  existing?: 'takeover' | 'replace' | 'fail';
  /** How often a producer held back by tethered consumers checks whether they are still alive. Default: 500 ms. */
  livenessIntervalMs?: number;
  /** @internal Start positions here (tests of positions passing 2^32). Default: 0. */
  startPosition?: number;
  /** @internal Start message sequence numbers here (tests of sequences passing 2^32). Default: 0. */
  startSequence?: number;
}

export const DEFAULT_MODE = 0o600;
export const DEFAULT_LIVENESS_INTERVAL_MS = 500;
export { DEFAULT_CAPACITY, DEFAULT_MAX_CONSUMERS } from '../ring/layout';

export const PRODUCER_OPTION_KEYS = [
  'capacity', 'maxConsumers', 'maxMessageLength', 'mode', 'gid', 'codec', 'prefault', 'lock', 'hugePages',
  'unlinkOnClose', 'wipeOnClose', 'closeOnExit', 'existing', 'livenessIntervalMs', 'startPosition', 'startSequence',
] as const;

export interface ResolvedProducerOptions {
  capacity: number;
  maxConsumers: number;
  maxMessageLength: number;
  mode: number;
  gid: number | undefined;
  codec: Codec;
  prefault: boolean;
  lock: boolean;
  hugePages: boolean;
  unlinkOnClose: boolean;
  wipeOnClose: boolean;
  closeOnExit: boolean;
  existing: 'takeover' | 'replace' | 'fail';
  livenessIntervalMs: number;
  startPosition: number;
  startSequence: number;
}

export function resolveProducerOptions(input: unknown): ResolvedProducerOptions {
  const what = 'Producer.create';
  const options = checkOptionsObject(what, input);
  rejectUnknownKeys(what, options, PRODUCER_OPTION_KEYS);
  const capacity = integerOption(what, 'capacity', options.capacity, L.DEFAULT_CAPACITY, L.MIN_CAPACITY, L.MAX_CAPACITY);
  if (!isPowerOfTwo(capacity)) throw outOfRange(`${what}: capacity must be a power of two, got ${capacity}`);
  const maxConsumers = integerOption(what, 'maxConsumers', options.maxConsumers, L.DEFAULT_MAX_CONSUMERS, 1, L.MAX_CONSUMERS_LIMIT);
  const maxMessageLength = integerOption(
    what, 'maxMessageLength', options.maxMessageLength, L.defaultMaxMessageLength(capacity), 1, L.maxMessageLengthLimit(capacity),
  );
  const mode = integerOption(what, 'mode', options.mode, DEFAULT_MODE, 0, 0o777);
  const gid = options.gid === undefined ? undefined : integerOption(what, 'gid', options.gid, 0, 0, 0x7fffffff);
  const codec = options.codec === undefined ? createMessagePackCodec() : (options.codec as Codec);
  if (typeof codec?.encode !== 'function' || typeof codec?.decode !== 'function') {
    throw invalidArgType(`${what}: codec must have encode() and decode() methods`);
  }
  const existing = options.existing ?? 'takeover';
  if (existing !== 'takeover' && existing !== 'replace' && existing !== 'fail') {
    throw invalidArgValue(`${what}: existing must be 'takeover', 'replace' or 'fail', got ${describe(existing)}`, 'range');
  }
  return {
    capacity,
    maxConsumers,
    maxMessageLength,
    mode,
    gid,
    codec,
    prefault: booleanOption(what, 'prefault', options.prefault, false),
    lock: booleanOption(what, 'lock', options.lock, false),
    hugePages: booleanOption(what, 'hugePages', options.hugePages, false),
    unlinkOnClose: booleanOption(what, 'unlinkOnClose', options.unlinkOnClose, true),
    wipeOnClose: booleanOption(what, 'wipeOnClose', options.wipeOnClose, false),
    closeOnExit: booleanOption(what, 'closeOnExit', options.closeOnExit, true),
    existing,
    livenessIntervalMs: durationOption(what, 'livenessIntervalMs', options.livenessIntervalMs, DEFAULT_LIVENESS_INTERVAL_MS, false),
    startPosition: Math.floor(integerOption(what, 'startPosition', options.startPosition ?? 0, 0, 0, Number.MAX_SAFE_INTEGER) / L.RECORD_ALIGNMENT) * L.RECORD_ALIGNMENT,
    startSequence: integerOption(what, 'startSequence', options.startSequence ?? 0, 0, 0, Number.MAX_SAFE_INTEGER),
  };
}

