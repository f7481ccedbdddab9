/**
 * Process-wide notification of other processes' exits. One native ProcessWatcher (one thread polling
 * pidfds) serves every subscriber in this process, so a collector reading 64 rings pays one thread,
 * not 64. The watcher is unref'd: watching never keeps the process alive. (Each worker thread has its
 * own copy of this module, hence its own watcher.)
 */
import { native, NativeProcessWatcher } from './native';
import { ShmRingError, SystemErrorLike, invalidArgType, outOfRange } from '../errors';

interface Subscription {
  readonly onExit: () => void;
  /** False once called or unsubscribed: each subscription fires at most once. */
  active: boolean;
}

/** Pids in the native watcher's set, with their subscribers (never an empty set). */
const subscribers = new Map<number, Set<Subscription>>();
let watcher: NativeProcessWatcher | undefined;
/** undefined until the first pidfd_open tells whether pidfds work here. */
let supported: boolean | undefined;

const noop = (): void => undefined;

function isPidfdUnavailable(error: unknown): boolean {
  const code = (error as SystemErrorLike | null)?.code;
  // ENOSYS: kernel before 5.3. EPERM: a seccomp filter (older container runtimes) refuses the call.
  return code === 'ENOSYS' || code === 'EPERM';
}

function markUnsupported(): void {
  supported = false;
  watcher?.close();
  watcher = undefined;
}

function sharedWatcher(): NativeProcessWatcher | undefined {
  if (supported === false) return undefined;
  if (watcher === undefined) {
    watcher = new native.ProcessWatcher(deliver);
    watcher.unref();
  }
  return watcher;
}

function deliver(pid: number): void {
  const subscriptions = subscribers.get(pid);
  if (subscriptions === undefined) return;
  subscribers.delete(pid);  // the native watcher has already dropped it
  let failed = false;
  let failure: unknown;
  for (const subscription of subscriptions) {
    if (!subscription.active) continue;
    subscription.active = false;
    try {
      subscription.onExit();
    } catch (error) {
      // One throwing subscriber must not starve the others; the first error is still reported.
      if (!failed) {
        failed = true;
        failure = error;
      }
    }
  }
  if (failed) throw failure;
}

/**
 * Whether exits can be watched here (pidfd_open works). When false, watchExit() is a no-op and the
 * caller must poll liveness itself.
 */
export function exitWatchSupported(): boolean {
  if (supported !== undefined) return supported;
  const probe = sharedWatcher();
  if (probe === undefined) return false;
  try {
    // Our own pid always exists; nobody can be subscribed to it yet (any add would have set `supported`).
    probe.add(process.pid);
    probe.remove(process.pid);
    supported = true;
  } catch (error) {
    if (!isPidfdUnavailable(error)) throw toShmRingError(error, process.pid);
    markUnsupported();
  }
  return supported === true;
}

/**
 * Calls `onExit` once when process `pid` exits (on the next tick if it is already gone). Returns an
 * unsubscribe function (idempotent). Several subscribers per pid are fine. Without pidfd support
 * (see exitWatchSupported) nothing is watched and the returned function does nothing.
 */
export function watchExit(pid: number, onExit: () => void): () => void {
  if (!Number.isInteger(pid) || pid < 1 || pid > 0x7fffffff) {
    throw outOfRange(`watchExit: pid must be a positive integer, got ${String(pid)}`);
  }
  if (typeof onExit !== 'function') {
    throw invalidArgType(`watchExit: onExit must be a function, got ${typeof onExit}`);
  }
  const shared = sharedWatcher();
  if (shared === undefined) return noop;
  const subscription: Subscription = { onExit, active: true };
  let subscriptions = subscribers.get(pid);
  if (subscriptions === undefined) {
    try {
      shared.add(pid);
      supported = true;
    } catch (error) {
      const code = (error as SystemErrorLike | null)?.code;
      if (code === 'ESRCH') {
        supported = true;
        process.nextTick(() => {
          if (!subscription.active) return;
          subscription.active = false;
          onExit();
        });
        return () => {
          subscription.active = false;
        };
      }
      if (isPidfdUnavailable(error)) {
        markUnsupported();
        return noop;
      }
      throw toShmRingError(error, pid);
    }
    subscriptions = new Set();
    subscribers.set(pid, subscriptions);
  }
  subscriptions.add(subscription);
  return () => {
    if (!subscription.active) return;
    subscription.active = false;
    const current = subscribers.get(pid);
    // `current` may be a later subscription round for the same pid: only our own set is touched.
    if (current !== undefined && current.delete(subscription) && current.size === 0) {
      subscribers.delete(pid);
      watcher?.remove(pid);
    }
  };
}

function toShmRingError(error: unknown, pid: number): ShmRingError {
  const system = (error ?? {}) as SystemErrorLike;
  const hint =
    system.code === 'EMFILE' || system.code === 'ENFILE'
      ? 'each watched process holds one file descriptor: raise `ulimit -n`'
      : undefined;
  return new ShmRingError('SYSTEM_ERROR', `cannot watch process ${pid}: ${system.message ?? String(error)}`, {
    ...(system.errno === undefined ? {} : { errno: system.errno }),
    ...(system.syscall === undefined ? {} : { syscall: system.syscall }),
    ...(hint === undefined ? {} : { hint }),
    cause: error,
  });
}
