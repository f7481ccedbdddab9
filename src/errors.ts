/**
 * One error class for failures of the environment or of a segment, with a closed set of codes.
 * Misuse (bad arguments) is a TypeError/RangeError instead, thrown before any system call.
 */
import * as fs from 'fs';
import * as os from 'os';

export type ShmRingErrorCode =
  // segments and the environment
  | 'SEGMENT_EXISTS'
  | 'SEGMENT_NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'NO_SPACE'
  | 'SEGMENT_TOO_SMALL'
  | 'FOREIGN_OWNER'
  | 'LIMIT_EXCEEDED'
  | 'UNSUPPORTED_PLATFORM'
  | 'UNSUPPORTED_KERNEL'
  | 'NATIVE_MISSING'
  | 'CLOSED'
  | 'DECODE_ERROR'
  | 'RING_REPLACED'
  | 'SYSTEM_ERROR'
  // the ring
  | 'INCOMPATIBLE_VERSION'
  | 'CORRUPT_SEGMENT'
  | 'NOT_A_RING'
  | 'PRODUCER_ALIVE'
  | 'PRODUCER_DIED'
  | 'PRODUCER_ABORTED'
  | 'MESSAGE_TOO_LARGE'
  | 'NO_FREE_SLOT'
  | 'CONSUMER_EVICTED'
  | 'TIMEOUT'
  | 'INIT_TIMEOUT'
  // values the default codec cannot carry
  | 'UNSUPPORTED_VALUE'
  | 'TOO_DEEP'
  // misuse that only shows at run time
  | 'CONFLICTING_READERS';

export interface ShmRingErrorOptions {
  /** errno number of the failed system call, if one failed. */
  errno?: number;
  /** Name of the failed system call, e.g. 'shm_open'. */
  syscall?: string;
  /** Segment name, e.g. '/telemetry'. */
  segment?: string;
  /** What a person can do about it. */
  hint?: string;
  cause?: unknown;
}

export class ShmRingError extends Error {
  readonly code: ShmRingErrorCode;
  readonly errno?: number;
  readonly syscall?: string;
  readonly segment?: string;
  readonly hint?: string;

  constructor(code: ShmRingErrorCode, message: string, options: ShmRingErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ShmRingError';
    this.code = code;
    if (options.errno !== undefined) this.errno = options.errno;
    if (options.syscall !== undefined) this.syscall = options.syscall;
    if (options.segment !== undefined) this.segment = options.segment;
    if (options.hint !== undefined) this.hint = options.hint;
  }
}

/**
 * The error an aborted wait rejects with, shaped as Node core's own (`events.once`, `timers/promises`,
 * `fs` with a signal): name 'AbortError', code 'ABORT_ERR', and the signal's reason as `cause`.
 */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR' as const;
  /** The ring whose wait was aborted, when there is one. */
  readonly segment?: string;

  constructor(message = 'The operation was aborted', options: { cause?: unknown; segment?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = 'AbortError';
    if (options.segment !== undefined) this.segment = options.segment;
  }
}

/** Node core's codes for argument errors; the classes stay TypeError/RangeError, as Node's own do. */
export type ArgumentErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE';

function withCode<E extends Error>(error: E, code: ArgumentErrorCode): E & { code: ArgumentErrorCode } {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  return error as E & { code: ArgumentErrorCode };
}

/** A value of the wrong type (TypeError, ERR_INVALID_ARG_TYPE). */
export function invalidArgType(message: string): TypeError & { code: ArgumentErrorCode } {
  return withCode(new TypeError(message), 'ERR_INVALID_ARG_TYPE');
}

/**
 * A value of the right type that breaks a rule, e.g. a misspelled option or a malformed name
 * (ERR_INVALID_ARG_VALUE; a TypeError, or a RangeError for a value outside a set of choices, as in Node).
 */
export function invalidArgValue(message: string, kind: 'type' | 'range' = 'type'): (TypeError | RangeError) & { code: ArgumentErrorCode } {
  return withCode(kind === 'range' ? new RangeError(message) : new TypeError(message), 'ERR_INVALID_ARG_VALUE');
}

/** A number outside its range, or a value outside its set of choices (RangeError, ERR_OUT_OF_RANGE). */
export function outOfRange(message: string): RangeError & { code: ArgumentErrorCode } {
  return withCode(new RangeError(message), 'ERR_OUT_OF_RANGE');
}

/** Longest string quoted whole in an error message; longer ones are cut (a message is not a data dump). */
const MAX_QUOTED_LENGTH = 64;

/** A string as JSON for an error message, cut to MAX_QUOTED_LENGTH characters with its full length stated. */
export function quote(value: string): string {
  if (value.length <= MAX_QUOTED_LENGTH) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, MAX_QUOTED_LENGTH))}... (${value.length} characters)`;
}

export function isShmRingError(value: unknown, code?: ShmRingErrorCode): value is ShmRingError {
  return value instanceof ShmRingError && (code === undefined || value.code === code);
}

/** The mount point behind POSIX shared memory on Linux. */
export const SHM_DIRECTORY = '/dev/shm';

/** Shape of the errors thrown by the native addon (and by Node's fs). */
export interface SystemErrorLike {
  message?: string;
  code?: string;
  errno?: number;
  syscall?: string;
}

export interface SystemErrorContext {
  /** Segment name, as given by the caller. */
  segment: string;
  /** Bytes the caller asked for, when relevant (create). */
  size?: number;
}

/** Bytes, as a person reads them, in powers of 1024 and labelled so: 512 B, 3.2 MiB, 24 GiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** Total and free bytes of the filesystem behind /dev/shm, or undefined when it cannot be read. */
export function shmDirectoryStatsOrUndefined(): { totalBytes: number; freeBytes: number } | undefined {
  try {
    const stats = fs.statfsSync(SHM_DIRECTORY);
    return { totalBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize };
  } catch {
    return undefined;
  }
}

function describeOwner(segment: string): string {
  const me = `this process runs as uid ${process.geteuid?.() ?? '?'}`;
  try {
    const st = fs.statSync(`${SHM_DIRECTORY}${segment}`);
    return `${SHM_DIRECTORY}${segment} is owned by uid ${st.uid} (gid ${st.gid}) with mode ` +
      `${(st.mode & 0o7777).toString(8).padStart(4, '0')}; ${me}`;
  } catch {
    return me;
  }
}

/**
 * What access a user of the ring needs, and how to grant it. A consumer writes its slot (its position,
 * for the producer to see), so it opens the segment read-write: read permission alone (e.g. 0o644) is
 * not enough to join.
 */
function accessAdvice(segment: string): string {
  let mode: number | undefined;
  try {
    mode = fs.statSync(`${SHM_DIRECTORY}${segment}`).mode & 0o777;
  } catch {
    mode = undefined;
  }
  const readOnlyForOthers = mode !== undefined && (mode & 0o044) !== 0 && (mode & 0o022) === 0;
  return (
    (readOnlyForOthers ? `Mode ${mode!.toString(8).padStart(4, '0')} lets other users read the file but not join the ring as tethered consumers: ` : '') +
    'a tethered consumer needs read AND write permission (it records its position in the ring); with read permission ' +
    'alone, only an untethered consumer (`{ tethered: false }`) can join. Run as the owner, or have the producer ' +
    'create the ring with `mode: 0o660` and a `gid` both users share (or `mode: 0o666`)'
  );
}

function errnoName(errno: number | undefined, code: string | undefined): string {
  if (code !== undefined && /^E[A-Z0-9]+$/.test(code)) return code;
  if (errno === undefined) return 'UNKNOWN';
  for (const [name, value] of Object.entries(os.constants.errno)) {
    if (value === errno) return name;
  }
  return `E${errno}`;
}

interface HintEntry {
  code: ShmRingErrorCode;
  summary: (ctx: SystemErrorContext) => string;
  hint: (ctx: SystemErrorContext, syscall: string) => string;
}

const ulimitLockHint = (): string =>
  'the locked-memory limit is too low for `lock: true`: raise it with `ulimit -l` (or LimitMEMLOCK= in a ' +
  'systemd unit, --ulimit memlock=... in Docker), or map without `lock`';

/** Every errno we explain, with what it means for a segment and what a person can do. */
const HINTS: Record<string, HintEntry> = {
  EEXIST: {
    code: 'SEGMENT_EXISTS',
    summary: (c) => `segment ${c.segment} already exists`,
    hint: (c) =>
      `another producer may be running, or an old one exited without removing it. Inspect it with ` +
      `\`npx shmring inspect ${c.segment}\`; remove it with \`npx shmring rm ${c.segment}\` if nothing uses it ` +
      '(`npx shmring gc` removes every ring dead processes left)',
  },
  ENOENT: {
    code: 'SEGMENT_NOT_FOUND',
    summary: (c) => `segment ${c.segment} does not exist`,
    hint: () =>
      'the producer may not have created it yet, or has closed it; list rings with `npx shmring ls`, or wait for ' +
      'the ring with `await Consumer.connect(name, { timeout })`',
  },
  EACCES: {
    code: 'PERMISSION_DENIED',
    summary: (c) => `permission denied for segment ${c.segment}`,
    hint: (c) => `${describeOwner(c.segment)}. ${accessAdvice(c.segment)}`,
  },
  EPERM: {
    code: 'PERMISSION_DENIED',
    summary: (c) => `operation not permitted on segment ${c.segment}`,
    hint: (c) => `${describeOwner(c.segment)}. ${accessAdvice(c.segment)}`,
  },
  ENOSPC: {
    code: 'NO_SPACE',
    summary: (c) => `no space in ${SHM_DIRECTORY} for segment ${c.segment}`,
    hint: (c) => {
      const stats = shmDirectoryStatsOrUndefined();
      const asked = c.size !== undefined ? `${formatBytes(c.size)} (${c.size} bytes) were asked for` : 'the segment did not fit';
      const have = stats
        ? `${SHM_DIRECTORY} has ${formatBytes(stats.freeBytes)} free of ${formatBytes(stats.totalBytes)}`
        : `${SHM_DIRECTORY} is full`;
      return `${have} and ${asked}. Remove what dead processes left (\`npx shmring gc\`; \`npx shmring ls\` lists every ring), grow it with ` +
        `\`mount -o remount,size=... ${SHM_DIRECTORY}\`, or in Docker run with \`--shm-size\` ` +
        '(the default is 64 MiB), or ask for a smaller ring';
    },
  },
  EFBIG: {
    code: 'NO_SPACE',
    summary: (c) => `segment ${c.segment} is too large for ${SHM_DIRECTORY}`,
    hint: (c) => `${c.size !== undefined ? `${c.size} bytes were asked for; ` : ''}ask for a smaller ring or raise the file-size limit (\`ulimit -f\`)`,
  },
  EMFILE: {
    code: 'LIMIT_EXCEEDED',
    summary: () => 'this process has too many open files',
    hint: () => 'raise the per-process open-file limit (`ulimit -n`) or close unused segments',
  },
  ENFILE: {
    code: 'LIMIT_EXCEEDED',
    summary: () => 'the system has too many open files',
    hint: () => 'raise fs.file-max (`sysctl fs.file-max`) or close unused segments and files',
  },
  ENOMEM: {
    code: 'LIMIT_EXCEEDED',
    summary: (c) => `not enough memory (or address space) to map segment ${c.segment}`,
    hint: (_c, syscall) =>
      syscall === 'mlock'
        ? ulimitLockHint()
        : 'check `ulimit -v`, vm.max_map_count (`sysctl vm.max_map_count`) and free memory, or map a smaller region',
  },
  EAGAIN: {
    code: 'LIMIT_EXCEEDED',
    summary: (c) => `the kernel refused to lock segment ${c.segment} in memory`,
    hint: () => ulimitLockHint(),
  },
  ELOOP: {
    code: 'NOT_A_RING',
    summary: (c) => `${SHM_DIRECTORY}${c.segment} is a symbolic link, not a shared-memory segment`,
    hint: (c) => `${describeOwner(c.segment)}. Another program or user put it there; shmring never follows links. Remove it or pick another name`,
  },
  EISDIR: {
    code: 'NOT_A_RING',
    summary: (c) => `${SHM_DIRECTORY}${c.segment} is a directory, not a shared-memory segment`,
    hint: (c) => `${describeOwner(c.segment)}. Another program or user put it there. Remove it or pick another name`,
  },
  ENOSYS: {
    code: 'UNSUPPORTED_KERNEL',
    summary: () => 'this kernel lacks a system call shmring needs',
    hint: (_c, syscall) =>
      syscall === 'futex_waitv'
        ? 'waiting on several words at once needs futex_waitv (Linux 5.16+); upgrade the kernel or wait on one word'
        : 'shmring needs Linux with POSIX shared memory and futexes',
  },
};

/**
 * Maps an errno-carrying error (from the native addon or Node) to a ShmRingError whose message names
 * the segment and the failed system call, with a hint a person can act on.
 */
function isDirectory(path: string): boolean {
  try {
    return fs.lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

export function fromSystemError(err: unknown, context: SystemErrorContext): ShmRingError {
  if (err instanceof ShmRingError) return err;
  const system = (typeof err === 'object' && err !== null ? err : {}) as SystemErrorLike;
  const errno = typeof system.errno === 'number' ? Math.abs(system.errno) : undefined;
  const name = errnoName(errno, system.code);
  const syscall = system.syscall ?? 'unknown';
  let entry = HINTS[name];
  // glibc's shm_open reports a directory under the name as EINVAL.
  if (syscall === 'shm_open' && name === 'EINVAL' && isDirectory(`${SHM_DIRECTORY}${context.segment}`)) entry = HINTS.EISDIR;
  if (syscall === 'mlock' && (name === 'EPERM' || name === 'ENOMEM' || name === 'EAGAIN')) {
    entry = { code: 'LIMIT_EXCEEDED', summary: (c) => `cannot lock segment ${c.segment} in memory`, hint: ulimitLockHint };
  }
  const code: ShmRingErrorCode = entry?.code ?? 'SYSTEM_ERROR';
  const summary = entry ? entry.summary(context) : `system call failed for segment ${context.segment}`;
  const hint = entry?.hint(context, syscall);
  const message = `${summary} (${syscall}: ${name})${hint ? `: ${hint}` : ''}`;
  return new ShmRingError(code, message, {
    ...(errno !== undefined ? { errno } : {}),
    syscall,
    segment: context.segment,
    ...(hint !== undefined ? { hint } : {}),
    cause: err,
  });
}
