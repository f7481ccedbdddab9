import { Segment } from '../../src/core/segment';
import { wait, wake, waitAny, waitAsync, waitAnyAsync, AsyncWaiter, FutexWord, fenceRegisteredProcesses } from '../../src/core/futex';
import { native } from '../../src/core/native';
import { uniqueName, removeSegment } from '../support/names';
import { runChild, Child } from './child';

const WAKE_TIMEOUT_MS = 10000;

let segmentName: string;
let segment: Segment;
let buffer: ArrayBuffer;
let i32: Int32Array;
const children: Child[] = [];

beforeEach(() => {
  segmentName = uniqueName('futex');
  segment = Segment.create(segmentName, 4096);
  buffer = segment.map();
  i32 = new Int32Array(buffer);
});

afterEach(() => {
  for (const child of children.splice(0)) child.process.kill('SIGKILL');
  segment.close();
  removeSegment(segmentName);
});

function child(command: string, args: object, options = {}): Child {
  const c = runChild(command, { name: segmentName, ...args }, options);
  children.push(c);
  return c;
}

describe('blocking wait/wake', () => {
  it("returns 'not-equal' when the word already differs and 'timed-out' after the timeout", () => {
    i32[1] = 5;
    expect(wait(buffer, 4, 4, 1000)).toBe('not-equal');
    expect(wait(buffer, 4, 5, 20)).toBe('timed-out');
    expect(wait(buffer, 4, 5, 0)).toBe('timed-out');
    expect(wake(buffer, 4)).toBe(0);
  });

  it('treats expected as a 32-bit pattern (-1 and 0xffffffff are the same word)', () => {
    i32[2] = -1;
    expect(wait(buffer, 8, 0xffffffff, 0)).toBe('timed-out');
    expect(wait(buffer, 8, -1, 0)).toBe('timed-out');
  });

  it("wakes a child blocked in wait from this process's wake (the child reports 'ok')", async () => {
    const waiter = child('wait', { offset: 16, expected: 0, timeout: WAKE_TIMEOUT_MS });
    await waiter.next('ready');
    // Wake (without changing the word) until the child is asleep in the kernel and gets woken.
    let woken = 0;
    const deadline = Date.now() + WAKE_TIMEOUT_MS;
    while (woken === 0 && Date.now() < deadline) {
      woken = wake(buffer, 16, 1);
      if (woken === 0) await new Promise((r) => setTimeout(r, 2));
    }
    expect(woken).toBe(1);
    expect((await waiter.next('result')).result).toBe('ok');
    expect(await waiter.exit()).toBe(0);
  });
});

describe('waitAny', () => {
  const offsets = [0, 64, 128];
  const words = (): FutexWord[] => offsets.map((byteOffset) => ({ buffer, byteOffset, expected: 0 }));

  it.each([0, 1, 2])('wakes on word %i woken by another process, reporting its index', (index) => {
    // The child wakes until someone is woken, so this blocking wait is what it reaches.
    const waker = child('wakeUntilWoken', { offset: offsets[index], timeout: WAKE_TIMEOUT_MS });
    expect(waitAny(words(), WAKE_TIMEOUT_MS)).toEqual({ result: 'ok', index });
    return waker.next('woken').then((line) => expect(line.woken).toBe(1));
  });

  it("reports 'not-equal' with the index of the differing word, and 'timed-out'", () => {
    expect(waitAny(words(), 10)).toEqual({ result: 'timed-out', index: -1 });
    i32[128 / 4] = 3;
    expect(waitAny(words(), 1000)).toEqual({ result: 'not-equal', index: 2 });
  });

  it('reports futex_waitv support', () => {
    expect(native.futexWaitvSupported()).toBe(true);
  });
});

describe('membarrier (the publish fence)', () => {
  it('MEMBARRIER_CMD_GLOBAL_EXPEDITED succeeds on this kernel, so consumers of C producers sleep on wakes', () => {
    // The CI machine's kernel (like any since 4.16) has it; without it consumers would poll every 10 ms.
    expect(fenceRegisteredProcesses()).toBe(true);
    expect(fenceRegisteredProcesses()).toBe(true);
  });
});

describe('waitAsync', () => {
  it('resolves when another process wakes it, while the event loop keeps running timers', async () => {
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 5);
    try {
      const pending = waitAsync(buffer, 32, 0, { timeout: WAKE_TIMEOUT_MS });
      child('storeAndWake', { offset: 32, value: 1, delay: 150 });
      await expect(pending).resolves.toBe('ok');
      expect(ticks).toBeGreaterThan(3);
      expect(i32[8]).toBe(1);
    } finally {
      clearInterval(timer);
    }
  });

  it("resolves 'not-equal' and 'timed-out'", async () => {
    i32[0] = 2;
    await expect(waitAsync(buffer, 0, 1)).resolves.toBe('not-equal');
    await expect(waitAsync(buffer, 0, 2, { timeout: 20 })).resolves.toBe('timed-out');
  });

  it('rejects with an AbortError when the signal aborts, and at once for an aborted signal', async () => {
    const controller = new AbortController();
    const pending = waitAsync(buffer, 0, 0, { signal: controller.signal, timeout: WAKE_TIMEOUT_MS });
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: new Error('stop') });
    await expect(waitAsync(buffer, 0, 0, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORT_ERR' });
    // The pool keeps working after a cancellation.
    await expect(waitAsync(buffer, 0, 0, { timeout: 10 })).resolves.toBe('timed-out');
  });

  it('runs many waits at once, each on its own word', async () => {
    const pending = [0, 1, 2, 3, 4, 5].map((i) => waitAsync(buffer, i * 4, 0, { timeout: WAKE_TIMEOUT_MS }));
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 6; i++) {
      Atomics.store(i32, i, 1);
      wake(buffer, i * 4);
    }
    // 'ok' if the waiter slept before the store, 'not-equal' if it armed after it: never a timeout.
    for (const result of await Promise.all(pending)) expect(['ok', 'not-equal']).toContain(result);
  });

  it('waitAnyAsync reports the index of the word another process woke', async () => {
    const pending = waitAnyAsync(
      [0, 64, 128].map((byteOffset) => ({ buffer, byteOffset, expected: 0 })),
      { timeout: WAKE_TIMEOUT_MS },
    );
    const waker = child('wakeUntilWoken', { offset: 64, timeout: WAKE_TIMEOUT_MS });
    await expect(pending).resolves.toEqual({ result: 'ok', index: 1 });
    expect((await waker.next('woken')).woken).toBe(1);
  });

  it('an unref\'d pending wait does not keep a process alive; a ref\'d one does until it ends', async () => {
    const unrefd = child('waitAsync', { offset: 0, expected: 0, ref: false });
    await unrefd.next('armed');
    expect(await unrefd.exit(WAKE_TIMEOUT_MS)).toBe(0);

    const refd = child('waitAsync', { offset: 0, expected: 0, ref: true, timeout: 300 });
    expect((await refd.next('result')).result).toBe('timed-out');
    expect(await refd.exit()).toBe(0);
  });
});

describe('AsyncWaiter', () => {
  let waiter: AsyncWaiter;
  beforeEach(() => {
    waiter = new AsyncWaiter();
  });
  afterEach(() => waiter.close());

  it('waits again and again on one thread; cancel() rejects with an AbortError; close() is idempotent', async () => {
    const word = { buffer, byteOffset: 0, expected: 0 };
    await expect(waiter.wait([word], 10)).resolves.toEqual({ result: 'timed-out', index: -1 });
    const cancelled = waiter.wait([word], WAKE_TIMEOUT_MS);
    expect(() => waiter.wait([word], 10)).toThrow(/already pending/);
    waiter.cancel();
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    // Re-arming at once must not be confused by the cancellation still in flight.
    const next = waiter.wait([word, { buffer, byteOffset: 8, expected: 0 }], WAKE_TIMEOUT_MS);
    setTimeout(() => {
      Atomics.store(i32, 2, 1);
      wake(buffer, 8);
    }, 20);
    await expect(next).resolves.toEqual({ result: 'ok', index: 1 });
    const last = waiter.wait([word], WAKE_TIMEOUT_MS);
    waiter.close();
    waiter.close();
    await expect(last).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    await expect(waiter.wait([word], 10)).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('misuse', () => {
  it.each([
    ['unaligned', 2],
    ['past the end', 4096],
    ['negative', -4],
    ['fractional', 4.5],
    ['not a number', '4'],
  ])('rejects a %s byteOffset with RangeError before the syscall', (_what, offset) => {
    const o = offset as number;
    expect(() => wait(buffer, o, 0, 0)).toThrow(RangeError);
    expect(() => wake(buffer, o)).toThrow(RangeError);
    expect(() => waitAny([{ buffer, byteOffset: o, expected: 0 }], 0)).toThrow(RangeError);
    expect(() => waitAsync(buffer, o, 0)).toThrow(RangeError);
    const asyncWaiter = new AsyncWaiter();
    expect(() => asyncWaiter.wait([{ buffer, byteOffset: o, expected: 0 }])).toThrow(RangeError);
    asyncWaiter.close();
  });

  it('rejects bad offsets in the addon too (RangeError, never a fault)', () => {
    // Errors made by the addon belong to Node's main realm, not jest's: compare by name.
    const rangeError = expect.objectContaining({ name: 'RangeError' });
    expect(() => native.futexWait(buffer, 4094, 0, 0)).toThrow(rangeError);
    expect(() => native.futexWake(buffer, 4096, 1)).toThrow(rangeError);
    expect(() => native.futexWaitAny([buffer], [1], [0], 0)).toThrow(rangeError);
    const nativeWaiter = new native.Waiter(() => undefined);
    expect(() => nativeWaiter.arm([buffer], [4097], [0], 0)).toThrow(rangeError);
    nativeWaiter.close();
  });

  it('rejects a detached buffer, a non-ArrayBuffer, a bad timeout and unknown options', () => {
    const scratch = Segment.create(uniqueName('detached'), 4096);
    const detached = scratch.map();
    scratch.close();
    Segment.unlink(scratch.name);
    expect(() => wait(detached, 0, 0, 0)).toThrow(RangeError);
    expect(() => native.futexWait(detached, 0, 0, 0)).toThrow(expect.objectContaining({ name: 'RangeError' }));
    expect(() => wait(new Int32Array(4) as unknown as ArrayBuffer, 0, 0, 0)).toThrow(TypeError);
    expect(() => wait(buffer, 0, 0, -1)).toThrow(RangeError);
    expect(() => wait(buffer, 0, 2 ** 32, 0)).toThrow(RangeError);
    expect(() => waitAsync(buffer, 0, 0, { timout: 5 } as never)).toThrow(TypeError);
    expect(() => waitAny([], 0)).toThrow(RangeError);
  });
});
