/**
 * The one place that loads the native addon (build/Release/shmring.node or a prebuild), with a typed
 * interface. Everything here is low level: each function does one system call's job and throws an
 * Error with `code` (errno name), `errno` and `syscall`. src/core/segment.ts and src/core/futex.ts add
 * validation and ShmRingError mapping; use those instead.
 */
import * as path from 'path';
import { ShmRingError } from '../errors';

export interface NativeShmOpenFlags {
  create: boolean;
  exclusive: boolean;
  readWrite: boolean;
}

export interface NativeStat {
  size: number;
  uid: number;
  gid: number;
  /** Full st_mode (file type bits included). */
  mode: number;
  ino: number;
  dev: number;
}

export interface NativeMapOptions {
  /** MAP_POPULATE: prefault every page now. */
  populate?: boolean;
  /** mlock the pages (EPERM/ENOMEM/EAGAIN with syscall 'mlock' when RLIMIT_MEMLOCK is too low). */
  lock?: boolean;
  /** madvise(MADV_HUGEPAGE), best effort. */
  hugePages?: boolean;
}

/** Waiter callback result codes. */
export const WAITER_OK = 0;
export const WAITER_NOT_EQUAL = 1;
export const WAITER_TIMED_OUT = 2;
export const WAITER_CANCELLED = 3;

export interface NativeWaiter {
  /**
   * Arms one wait (one outstanding per Waiter; throws if one is armed). The callback later receives
   * (result, index): 0 ok (index = woken word), 1 not-equal, 2 timed-out, 3 cancelled (after cancel()),
   * or a negative -errno (index -1). Keeps the buffers alive while armed.
   */
  arm(buffers: ArrayBuffer[], byteOffsets: number[], expected: number[], timeoutMs: number): void;
  /** Disarms; the callback gets 3 (cancelled) on a later turn of the event loop. */
  cancel(): void;
  /** An armed wait keeps the event loop alive (the default). An idle Waiter never does. */
  ref(): void;
  /** An armed wait does not keep the event loop alive. */
  unref(): void;
  /** Stops and joins the thread; an armed wait is dropped without a callback. Idempotent. */
  close(): void;
}

/**
 * Watches any number of processes from one native thread (pidfd_open + poll). Calls back once per
 * exited pid, on the JS thread; that pid is then no longer watched.
 */
export interface NativeProcessWatcher {
  /** Starts watching (no-op if watched). Throws code ESRCH (no such process), ENOSYS or EPERM (no pidfd). */
  add(pid: number): void;
  /** Stops watching; an exit already reported by the thread but not yet delivered is dropped. */
  remove(pid: number): void;
  /** While at least one pid is watched, keep the event loop alive (the default). */
  ref(): void;
  /** Never keep the event loop alive. */
  unref(): void;
  /** Stops and joins the thread, closes every pidfd; pending callbacks are dropped. Idempotent. */
  close(): void;
}

export type NativeProcessWatcherConstructor = new (callback: (pid: number) => void) => NativeProcessWatcher;

/** Polls a doorbell FIFO on this thread's event loop (uv_poll); see native/addon/doorbell_poll.h. */
export interface NativeDoorbellPoll {
  /** Keep the event loop alive while polling (the default is not to). */
  ref(): void;
  unref(): void;
  /** Stops polling; call before closing the fd. Idempotent. */
  close(): void;
}

export interface NativeAddon {
  shmOpen(name: string, flags: NativeShmOpenFlags, mode: number): number;
  shmUnlink(name: string): void;
  fstat(fd: number): NativeStat;
  fchmod(fd: number, mode: number): void;
  /** uid or gid -1 leaves it unchanged. */
  fchown(fd: number, uid: number, gid: number): void;
  ftruncate(fd: number, size: number): void;
  /** posix_fallocate(fd, 0, size). */
  fallocate(fd: number, size: number): void;
  close(fd: number): void;
  /** An external ArrayBuffer over MAP_SHARED pages; unmapped by the GC if never munmap'ed. */
  mmap(fd: number, offset: number, length: number, writable: boolean, options: NativeMapOptions): ArrayBuffer;
  /** Detaches the buffer (byteLength becomes 0) and unmaps it. Idempotent. */
  munmap(buffer: ArrayBuffer): void;
  /** 0 ok | 1 not-equal | 2 timed-out. timeoutMs Infinity or < 0: forever. Blocks the thread. */
  futexWait(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): number;
  futexWake(buffer: ArrayBuffer, byteOffset: number, count: number): number;
  /** Index of a woken word | -1 timed-out | -2 not-equal. Throws code ENOSYS before Linux 5.16. */
  futexWaitAny(buffers: ArrayBuffer[], byteOffsets: number[], expected: number[], timeoutMs: number): number;
  /** mkfifo(path, mode) (the umask applies). */
  mkfifo(path: string, mode: number): void;
  /** Opens a FIFO O_NONBLOCK|O_CLOEXEC|O_NOFOLLOW; throws code ENXIO (writing, no reader) or EINVAL (not a FIFO). */
  openFifo(path: string, forWriting: boolean): number;
  /** Writes one byte: 1 written, 0 full (already rung), or -errno (never throws for errno). */
  ringFifo(fd: number): number;
  unlink(path: string): void;
  /** Starts polling fd for readable; the callback gets the bytes drained, or -errno. */
  DoorbellPoll: new (fd: number, callback: (result: number) => void) => NativeDoorbellPoll;
  Waiter: new (callback: (result: number, index: number) => void) => NativeWaiter;
  /** One thread for any number of watched processes; see NativeProcessWatcher. */
  ProcessWatcher: NativeProcessWatcherConstructor;
  pageSize(): number;
  futexWaitvSupported(): boolean;
  /** membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED); throws (code, syscall 'membarrier') on failure. */
  membarrierGlobal(): void;
}

/** Package root: dist/core/../.. when built, src/core/../.. under ts-jest. */
const PACKAGE_ROOT = path.join(__dirname, '..', '..');

function loadNative(): NativeAddon {
  if (process.platform !== 'linux') {
    throw new ShmRingError(
      'UNSUPPORTED_PLATFORM',
      `shmring needs Linux (futex, POSIX shared memory in /dev/shm); this is ${process.platform}`,
      { hint: 'run it on Linux, or in a Linux container' },
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const load = require('node-gyp-build') as (dir: string) => unknown;
    return load(PACKAGE_ROOT) as NativeAddon;
  } catch (cause) {
    const hint =
      'rebuild it with `npm rebuild shmring` (needs g++, make and python3; on Debian/Ubuntu ' +
      '`apt-get install g++ make python3`)';
    throw new ShmRingError(
      'NATIVE_MISSING',
      `shmring's native addon could not be loaded from ${PACKAGE_ROOT}: ${(cause as Error)?.message ?? cause}; ${hint}`,
      { hint, cause },
    );
  }
}

export const native: NativeAddon = loadNative();
