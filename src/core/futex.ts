/**
 * Cross-process futex waits and wakes on 32-bit words of a shared mapping.
 *
 * `wait`/`waitAny` block the calling thread (for workers and dedicated processes). `waitAsync`,
 * `waitAnyAsync` and `AsyncWaiter` never block the event loop and never use the libuv threadpool: each
 * native Waiter owns one thread that sleeps in the kernel and reports through a thread-safe function.
 */
import * as os from 'os';
import { types } from 'util';
import { AbortError, ShmRingError, invalidArgType, invalidArgValue, outOfRange } from '../errors';
import { native, NativeWaiter, WAITER_CANCELLED } from './native';

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

export interface WaitAnyResult {
  result: WaitResult;
  /** The woken word ('ok'), the first word found differing ('not-equal'), or -1 ('timed-out'). */
  index: number;
}

/** One word to wait on: buffer[byteOffset..+4) while it equals `expected`. */
export interface FutexWord {
  buffer: ArrayBuffer;
  byteOffset: number;
  expected: number;
}

export interface WaitAsyncOptions {
  /** Milliseconds; Infinity waits forever. Default Infinity. */
  timeout?: number;
  /** Cancels the wait: the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** Whether the pending wait keeps the event loop alive. Default true. */
  ref?: boolean;
}

/** Most words one wait can watch (futex_waitv's limit, minus the waiter's own control word). */
export const MAX_WAIT_WORDS = 127;
/** Idle native waiter threads kept for reuse by waitAsync/waitAnyAsync. */
export const MAX_IDLE_WAITERS = 4;

const RESULT_NAMES: readonly WaitResult[] = ['ok', 'not-equal', 'timed-out'];
const ASYNC_OPTION_KEYS = ['timeout', 'signal', 'ref'];

function checkWord(buffer: unknown, byteOffset: unknown, what: string): void {
  // util.types, not instanceof: buffers from the addon and from vm contexts (jest) have other realms.
  if (!types.isArrayBuffer(buffer)) {
    throw invalidArgType(`${what}: buffer must be an ArrayBuffer (a segment mapping), got ${describe(buffer)}`);
  }
  if (buffer.byteLength === 0) {
    throw outOfRange(`${what}: buffer is detached (unmapped) or empty`);
  }
  if (typeof byteOffset !== 'number' || !Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0 ||
      byteOffset + 4 > buffer.byteLength) {
    throw outOfRange(
      `${what}: byteOffset must be a multiple of 4 with byteOffset + 4 <= ${buffer.byteLength}, got ${String(byteOffset)}`,
    );
  }
}

function checkExpected(expected: unknown, what: string): void {
  if (typeof expected !== 'number' || !Number.isInteger(expected) || expected < -0x80000000 || expected > 0xffffffff) {
    throw outOfRange(`${what}: expected must be a 32-bit integer, got ${String(expected)}`);
  }
}

function checkTimeout(timeoutMs: unknown, what: string): number {
  if (timeoutMs === undefined) return Infinity;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw outOfRange(`${what}: timeout must be a number >= 0 (or Infinity), got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}

function checkWords(words: unknown, what: string): FutexWord[] {
  if (!Array.isArray(words) || words.length === 0 || words.length > MAX_WAIT_WORDS) {
    throw outOfRange(`${what}: words must be an array of 1..${MAX_WAIT_WORDS} { buffer, byteOffset, expected }`);
  }
  words.forEach((word: FutexWord, i) => {
    if (typeof word !== 'object' || word === null) throw invalidArgType(`${what}: words[${i}] must be an object`);
    checkWord(word.buffer, word.byteOffset, `${what}: words[${i}]`);
    checkExpected(word.expected, `${what}: words[${i}]`);
  });
  return words as FutexWord[];
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

function errnoError(errno: number, syscall: string): ShmRingError {
  const name = Object.entries(os.constants.errno).find(([, value]) => value === errno)?.[0] ?? `E${errno}`;
  if (name === 'ENOSYS') {
    return new ShmRingError('UNSUPPORTED_KERNEL', `${syscall} is not available (ENOSYS)`, {
      errno,
      syscall,
      hint: 'waiting on several words needs futex_waitv (Linux 5.16+)',
    });
  }
  return new ShmRingError('SYSTEM_ERROR', `${syscall} failed (${name})`, { errno, syscall });
}

function rethrowNative(err: unknown, syscall: string): never {
  const e = err as { code?: string; errno?: number };
  if (e && typeof e.errno === 'number' && typeof e.code === 'string') throw errnoError(e.errno, syscall);
  throw err;
}

/** Index of the first word whose current value differs from its expected value (-1 if none now). */
function firstDiffering(words: readonly FutexWord[]): number {
  return words.findIndex((w) => {
    if (w.buffer.byteLength === 0) return true;
    const current = Atomics.load(new Int32Array(w.buffer, w.byteOffset, 1), 0);
    return current >>> 0 !== w.expected >>> 0;
  });
}

/**
 * Blocks while the 32-bit word at buffer[byteOffset] equals `expected` (like Atomics.wait, but across
 * processes). Restarts after signals against the same deadline.
 */
export function wait(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMs?: number): WaitResult {
  checkWord(buffer, byteOffset, 'wait');
  checkExpected(expected, 'wait');
  const timeout = checkTimeout(timeoutMs, 'wait');
  let code: number;
  try {
    code = native.futexWait(buffer, byteOffset, expected, timeout);
  } catch (err) {
    rethrowNative(err, 'futex');
  }
  return RESULT_NAMES[code] as WaitResult;
}

/** Wakes up to `count` waiters (default: all) on buffer[byteOffset]; returns how many were woken. */
export function wake(buffer: ArrayBuffer, byteOffset: number, count = Infinity): number {
  checkWord(buffer, byteOffset, 'wake');
  if (count !== Infinity && (!Number.isInteger(count) || count < 0)) {
    throw outOfRange(`wake: count must be an integer >= 0 or Infinity, got ${String(count)}`);
  }
  try {
    return native.futexWake(buffer, byteOffset, Math.min(count, 0x7fffffff));
  } catch (err) {
    rethrowNative(err, 'futex');
  }
}

/**
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED): returns once every thread of every process registered for it
 * has executed a full memory barrier. The sleeper's half of the asymmetric publish fence (docs/protocol.md,
 * "The publish fence"). Returns false when the kernel refuses (ENOSYS, EINVAL, a seccomp filter): then a
 * sleep cannot trust the producer's wake.
 */
export function fenceRegisteredProcesses(): boolean {
  try {
    native.membarrierGlobal();
    return true;
  } catch (error) {
    // Only the kernel's refusal means "no fence"; anything else (a stale addon without the call) is a bug.
    if ((error as { syscall?: unknown }).syscall !== 'membarrier') throw error;
    return false;
  }
}

/** Blocks until any of the words is woken (futex_waitv, Linux 5.16+), differs, or the timeout passes. */
export function waitAny(words: FutexWord[], timeoutMs?: number): WaitAnyResult {
  const checked = checkWords(words, 'waitAny');
  const timeout = checkTimeout(timeoutMs, 'waitAny');
  if (checked.length === 1 && !native.futexWaitvSupported()) {
    const only = checked[0]!;
    const result = wait(only.buffer, only.byteOffset, only.expected, timeout);
    return { result, index: result === 'timed-out' ? -1 : 0 };
  }
  let code: number;
  try {
    code = native.futexWaitAny(
      checked.map((w) => w.buffer),
      checked.map((w) => w.byteOffset),
      checked.map((w) => w.expected),
      timeout,
    );
  } catch (err) {
    rethrowNative(err, 'futex_waitv');
  }
  if (code >= 0) return { result: 'ok', index: code };
  if (code === -1) return { result: 'timed-out', index: -1 };
  return { result: 'not-equal', index: firstDiffering(checked) };
}

function abortedError(reason?: unknown): AbortError {
  return new AbortError('the wait was aborted', reason === undefined ? {} : { cause: reason });
}

interface PendingWait {
  words: FutexWord[];
  resolve: (value: WaitAnyResult) => void;
  reject: (reason: unknown) => void;
}

/**
 * One native waiter thread, for a long-lived user (a consumer) that waits again and again. One wait
 * at a time. Call close() when done: an open AsyncWaiter is kept alive by its thread (though an idle one
 * never keeps the process alive).
 */
export class AsyncWaiter {
  private readonly _native: NativeWaiter;
  private _pending: PendingWait | undefined;
  private _closed = false;
  // Cancellations whose (ignored) 'cancelled' callback from the native side has not arrived yet.
  private _cancelsInFlight = 0;

  constructor() {
    this._native = new native.Waiter((result, index) => this._onResult(result, index));
  }

  get closed(): boolean {
    return this._closed;
  }

  get pending(): boolean {
    return this._pending !== undefined;
  }

  /**
   * Resolves when any word is woken ('ok', with its index), differs ('not-equal'), or the timeout
   * passes ('timed-out'). Rejects with an AbortError after cancel() or close().
   */
  wait(words: FutexWord[], timeoutMs?: number): Promise<WaitAnyResult> {
    const checked = checkWords(words, 'AsyncWaiter.wait');
    const timeout = checkTimeout(timeoutMs, 'AsyncWaiter.wait');
    if (this._closed) {
      return Promise.reject(new ShmRingError('CLOSED', 'AsyncWaiter.wait: the waiter is closed'));
    }
    if (this._pending !== undefined) {
      throw new Error('AsyncWaiter.wait: a wait is already pending; await it or cancel() it first');
    }
    return new Promise<WaitAnyResult>((resolve, reject) => {
      this._native.arm(
        checked.map((w) => w.buffer),
        checked.map((w) => w.byteOffset),
        checked.map((w) => w.expected),
        timeout,
      );
      this._pending = { words: checked.slice(), resolve, reject };
    });
  }

  /** Cancels the pending wait (its promise rejects with an AbortError); no-op when none is pending. */
  cancel(reason?: unknown): void {
    const pending = this._pending;
    if (pending === undefined || this._closed) return;
    this._pending = undefined;
    this._cancelsInFlight += 1;
    this._native.cancel();
    pending.reject(abortedError(reason));
  }

  /** A pending wait keeps the event loop alive (the default). */
  ref(): this {
    if (!this._closed) this._native.ref();
    return this;
  }

  /** A pending wait does not keep the event loop alive. */
  unref(): this {
    if (!this._closed) this._native.unref();
    return this;
  }

  /** Stops the thread; a pending wait rejects with an AbortError. Idempotent. */
  close(): void {
    if (this._closed) return;
    this.cancel();
    this._closed = true;
    this._native.close();
  }

  private _onResult(result: number, index: number): void {
    if (result === WAITER_CANCELLED) {
      this._cancelsInFlight -= 1;
      return;
    }
    const pending = this._pending;
    if (pending === undefined) return;
    this._pending = undefined;
    if (result < 0) {
      pending.reject(errnoError(-result, 'futex_waitv'));
      return;
    }
    const name = RESULT_NAMES[result] ?? 'ok';
    if (name === 'not-equal') {
      pending.resolve({ result: name, index: firstDiffering(pending.words) });
    } else {
      pending.resolve({ result: name, index: name === 'ok' ? index : -1 });
    }
  }
}

// Idle waiters kept for reuse: creating a thread per waitAsync would cost ~50 µs each.
const idleWaiters: AsyncWaiter[] = [];

function acquireWaiter(): AsyncWaiter {
  return idleWaiters.pop() ?? new AsyncWaiter();
}

function releaseWaiter(waiter: AsyncWaiter): void {
  if (waiter.closed || waiter.pending) return;
  if (idleWaiters.length < MAX_IDLE_WAITERS) {
    waiter.ref();
    idleWaiters.push(waiter);
  } else {
    waiter.close();
  }
}

/**
 * Like waitAny, without blocking: resolves on the event loop. Rejects with an AbortError (code ABORT_ERR, cause: the
 * signal's reason) when `signal` aborts.
 */
export function waitAnyAsync(words: FutexWord[], options: WaitAsyncOptions = {}): Promise<WaitAnyResult> {
  const checked = checkWords(words, 'waitAnyAsync');
  checkAsyncOptions(options, 'waitAnyAsync');
  const timeout = checkTimeout(options.timeout, 'waitAnyAsync');
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortedError(signal.reason));

  const waiter = acquireWaiter();
  if (options.ref === false) waiter.unref();
  else waiter.ref();
  let promise: Promise<WaitAnyResult>;
  try {
    promise = waiter.wait(checked, timeout);
  } catch (err) {
    releaseWaiter(waiter);
    throw err;
  }
  if (signal === undefined) {
    return promise.finally(() => releaseWaiter(waiter));
  }
  const onAbort = (): void => waiter.cancel(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  return promise.finally(() => {
    signal.removeEventListener('abort', onAbort);
    releaseWaiter(waiter);
  });
}

/**
 * Like wait, without blocking: resolves on the event loop with 'ok' | 'not-equal' | 'timed-out'.
 * Rejects with an AbortError when `signal` aborts. `ref: false` lets the process exit meanwhile.
 */
export function waitAsync(
  buffer: ArrayBuffer,
  byteOffset: number,
  expected: number,
  options: WaitAsyncOptions = {},
): Promise<WaitResult> {
  checkWord(buffer, byteOffset, 'waitAsync');
  checkExpected(expected, 'waitAsync');
  return waitAnyAsync([{ buffer, byteOffset, expected }], options).then(({ result }) => result);
}

function checkAsyncOptions(options: WaitAsyncOptions, what: string): void {
  if (typeof options !== 'object' || options === null) throw invalidArgType(`${what}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!ASYNC_OPTION_KEYS.includes(key)) {
      throw invalidArgValue(`${what}: unknown option ${JSON.stringify(key)} (known: ${ASYNC_OPTION_KEYS.join(', ')})`);
    }
  }
  if (options.ref !== undefined && typeof options.ref !== 'boolean') {
    throw invalidArgType(`${what}: ref must be a boolean`);
  }
  const signal = options.signal as unknown as { aborted?: unknown; addEventListener?: unknown } | undefined;
  if (signal !== undefined && (typeof signal.addEventListener !== 'function' || typeof signal.aborted !== 'boolean')) {
    throw invalidArgType(`${what}: signal must be an AbortSignal`);
  }
}
