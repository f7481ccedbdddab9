/** The process-wide exit watcher: one native thread serves every watched pid (real child processes). */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { exitWatchSupported, watchExit } from '../../src/core/exit-watch';
import { within } from '../support/children';

const sleepers = new Set<ChildProcess>();

/** A `sleep` child that lives until killed (or 60 s). */
function sleeper(): ChildProcess {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  sleepers.add(child);
  child.on('exit', () => sleepers.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

const threadCount = (): number => fs.readdirSync('/proc/self/task').length;

/** Open pidfds of this process: each watched pid holds exactly one. */
function pidfdCount(): number {
  let count = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:[pidfd]') count++;
    } catch {
      // the fd used by readdir itself is gone by now
    }
  }
  return count;
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

afterEach(() => {
  for (const child of sleepers) child.kill('SIGKILL');
});

// Runs first: the shared native watcher (and its thread) is created by the first watchExit.
it('serves 20 pids from one thread: the task count grows by at most 1', async () => {
  const children = Array.from({ length: 20 }, sleeper);
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('spawn', resolve))));
  const before = threadCount();
  const unsubscribes = children.map((child) => watchExit(child.pid!, () => undefined));
  expect(threadCount()).toBeLessThanOrEqual(before + 1);
  expect(pidfdCount()).toBeGreaterThanOrEqual(20);
  unsubscribes.forEach((unsubscribe) => unsubscribe());
});

it('is supported here (pidfd_open works on this kernel)', () => {
  expect(exitWatchSupported()).toBe(true);
});

it('calls each onExit once, for the right pid, as 20 children are killed at different times', async () => {
  const children = Array.from({ length: 20 }, sleeper);
  await Promise.all(children.map((child) => new Promise((resolve) => child.once('spawn', resolve))));
  const killed = new Set<number>();
  const calls = new Map<number, number>();
  const wrong: string[] = [];
  const all = Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          const pid = child.pid!;
          watchExit(pid, () => {
            if (!killed.has(pid)) wrong.push(`onExit(${pid}) before it was killed`);
            calls.set(pid, (calls.get(pid) ?? 0) + 1);
            resolve();
          });
        }),
    ),
  );
  // Kill in an interleaved order, a few ms apart, while other pids are still being watched.
  const order = [...children.keys()].sort((a, b) => (a % 3) - (b % 3) || b - a);
  for (const index of order) {
    killed.add(children[index].pid!);
    children[index].kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 5 + (index % 4) * 5));
  }
  await within(all, 15_000, 'every onExit');
  await Promise.all(children.map(exited));
  await new Promise((resolve) => setTimeout(resolve, 50)); // room for a duplicate call to show up
  expect(wrong).toEqual([]);
  expect([...calls.keys()].sort()).toEqual(children.map((child) => child.pid!).sort());
  expect([...calls.values()].every((count) => count === 1)).toBe(true);
});

it('stops calling an unsubscribed onExit, and drops the pid when its last subscriber leaves', async () => {
  const [kept, dropped] = [sleeper(), sleeper()];
  await Promise.all([kept, dropped].map((child) => new Promise((resolve) => child.once('spawn', resolve))));
  const baseline = pidfdCount();
  const calls: string[] = [];
  const keptFired = new Promise<void>((resolve) =>
    watchExit(kept.pid!, () => {
      calls.push('kept');
      resolve();
    }),
  );
  const keptOther = watchExit(kept.pid!, () => calls.push('kept-unsubscribed'));
  const droppedOnly = watchExit(dropped.pid!, () => calls.push('dropped'));
  expect(pidfdCount()).toBe(baseline + 2);
  keptOther();
  keptOther(); // idempotent
  droppedOnly();
  // The watcher thread closes a removed pid's pidfd when it next wakes.
  await until(() => pidfdCount() === baseline + 1, 5_000, 'the dropped pid leaves the native set');
  dropped.kill('SIGKILL');
  kept.kill('SIGKILL');
  await within(keptFired, 10_000, 'onExit of the kept subscriber');
  await Promise.all([exited(kept), exited(dropped)]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(calls).toEqual(['kept']);
  expect(pidfdCount()).toBe(baseline);
});

it('calls onExit on the next tick for a pid that has already exited (ESRCH)', async () => {
  const child = spawn('true', { stdio: 'ignore' });
  await exited(child); // reaped by Node: the pid no longer exists
  let called = 0;
  const fired = new Promise<void>((resolve) =>
    watchExit(child.pid!, () => {
      called++;
      resolve();
    }),
  );
  expect(called).toBe(0);
  await within(fired, 5_000, 'onExit of an exited pid');
  expect(called).toBe(1);

  // Unsubscribing before the tick cancels it.
  const cancelled = jest.fn();
  watchExit(child.pid!, cancelled)();
  await new Promise((resolve) => setImmediate(resolve));
  expect(cancelled).not.toHaveBeenCalled();
});

it('does not keep the process alive: a child watching its (live) parent exits by itself', async () => {
  const script = `
    const { watchExit } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist', 'core', 'exit-watch.js'))});
    watchExit(process.ppid, () => console.log('parent exited?'));
    setTimeout(() => console.log(JSON.stringify({ watching: true })), 20);
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  sleepers.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const status = await within(
    new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on('exit', (code, signal) => {
        sleepers.delete(child);
        resolve({ code, signal });
      }),
    ),
    15_000,
    'exit of the watching child',
  );
  expect({ ...status, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  expect(stdout).toContain('"watching":true');
});

it('rejects misuse before any system call', () => {
  expect(() => watchExit(0, () => undefined)).toThrow(RangeError);
  expect(() => watchExit(1.5, () => undefined)).toThrow(RangeError);
  expect(() => watchExit(2 ** 31, () => undefined)).toThrow(RangeError);
  expect(() => watchExit(process.pid, undefined as unknown as () => void)).toThrow(TypeError);
});

it('without pidfd (ENOSYS/EPERM) reports unsupported and returns a no-op unsubscribe', () => {
  jest.isolateModules(() => {
    const closed = jest.fn();
    class RefusingWatcher {
      add(): void {
        throw Object.assign(new Error('pidfd_open failed: Operation not permitted (EPERM)'), { code: 'EPERM', syscall: 'pidfd_open' });
      }
      remove(): void {}
      ref(): void {}
      unref(): void {}
      close(): void {
        closed();
      }
    }
    jest.doMock('../../src/core/native', () => ({ native: { ProcessWatcher: RefusingWatcher } }));
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const isolated = require('../../src/core/exit-watch') as typeof import('../../src/core/exit-watch');
    const onExit = jest.fn();
    const unsubscribe = isolated.watchExit(process.pid, onExit);
    expect(isolated.exitWatchSupported()).toBe(false);
    expect(closed).toHaveBeenCalledTimes(1);
    expect(() => unsubscribe()).not.toThrow();
    expect(isolated.watchExit(process.pid, onExit)).toBeInstanceOf(Function);
    expect(onExit).not.toHaveBeenCalled();
  });
});
