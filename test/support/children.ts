import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as path from 'path';

export const FIXTURES = path.join(__dirname, '..', 'fixtures');

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Child {
  process: ChildProcess;
  /** Resolves with the child's exit code and everything it printed. */
  exited: Promise<ChildExit>;
  /** Resolves with the first stdout line that parses as JSON and matches `predicate`. */
  waitForLine(predicate: (msg: any) => boolean, timeoutMs?: number): Promise<any>;
  /** What the child printed so far (for failure messages). */
  output(): { stdout: string; stderr: string };
  /** `exited`, bounded: the rejection on timeout carries what the child printed so far. */
  exitedWithin(ms: number, what?: string): Promise<ChildExit>;
}

/** The tail of a child's stdout and stderr, for a failure message. */
export function describeOutput(output: { stdout: string; stderr: string }, limit = 3000): string {
  return `\n--- child stdout (last ${limit} chars) ---\n${output.stdout.slice(-limit)}\n--- child stderr (last ${limit} chars) ---\n${output.stderr.slice(-limit)}`;
}

/**
 * Fails (throws) unless the child exited as `expected` (by default: code 0, no signal); the failure
 * message holds the child's stdout and stderr, so a child that failed says why.
 */
export function expectExit(result: ChildExit, expected: { code?: number | null; signal?: NodeJS.Signals | null } = { code: 0, signal: null }, what = 'child'): void {
  const codeOk = !('code' in expected) || result.code === expected.code;
  const signalOk = !('signal' in expected) || result.signal === expected.signal;
  if (!codeOk || !signalOk) {
    throw new Error(`${what} exited with code ${result.code}, signal ${result.signal}; expected ${JSON.stringify(expected)}${describeOutput(result)}`);
  }
}

/**
 * Runs `assertions` (expect calls on the child's result); if one fails, the error is rethrown with the
 * child's stdout and stderr appended.
 */
export function withChildOutput<T>(output: { stdout: string; stderr: string }, assertions: () => T, what = 'child'): T {
  try {
    return assertions();
  } catch (error) {
    if (error instanceof Error) {
      error.message += `\n(${what})${describeOutput(output)}`;
      throw error;
    }
    throw error;
  }
}

const live = new Set<ChildProcess>();

/**
 * Registers what a child process printed (`output` is called only if the current test fails): the jest
 * environment (test/support/environment.js) appends it to the failure of the test that started the child.
 */
export function noteChildOutput(label: string, output: () => { stdout: string; stderr: string }): void {
  const registry = (globalThis as { __shmringChildOutputs?: Array<{ label: string; output: () => { stdout: string; stderr: string } }> }).__shmringChildOutputs;
  registry?.push({ label, output });
}

/** Runs a fixture script (test/fixtures/NAME) in a child Node process. */
export function runFixture(script: string, args: string[] = [], options: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {}): Child {
  const child = spawn(process.execPath, [path.join(FIXTURES, script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
    uid: options.uid,
    gid: options.gid,
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  noteChildOutput(`fixture ${script} ${args.join(' ')} (pid ${child.pid})`, () => ({ stdout, stderr }));
  const lineWaiters: Array<{ predicate: (msg: any) => boolean; resolve: (msg: any) => void }> = [];
  const seen: any[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk;
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      let msg: any;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      seen.push(msg);
      for (let i = lineWaiters.length - 1; i >= 0; i--) {
        if (lineWaiters[i].predicate(msg)) {
          lineWaiters[i].resolve(msg);
          lineWaiters.splice(i, 1);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const exited = new Promise<ChildExit>((resolve) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      // 'exit' can precede the last 'data' events: wait for the streams to close.
      let pending = 2;
      const done = (): void => {
        if (--pending === 0) resolve({ code, signal, stdout, stderr });
      };
      child.stdout!.once('close', done);
      child.stderr!.once('close', done);
      if (child.stdout!.closed) done();
      if (child.stderr!.closed) done();
    });
  });
  return {
    process: child,
    exited,
    output: () => ({ stdout, stderr }),
    exitedWithin(ms, what = script) {
      let timer: NodeJS.Timeout;
      return Promise.race([
        exited.finally(() => clearTimeout(timer)),
        new Promise<ChildExit>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${what}: not exited within ${ms} ms${describeOutput({ stdout, stderr })}`)), ms);
        }),
      ]);
    },
    waitForLine(predicate, timeoutMs = 15000) {
      const already = seen.find(predicate);
      if (already !== undefined) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${script}: no matching line within ${timeoutMs} ms; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`)), timeoutMs);
        lineWaiters.push({
          predicate,
          resolve: (msg) => {
            clearTimeout(timer);
            resolve(msg);
          },
        });
      });
    },
  };
}

/** Kills every child still running (for afterEach). */
export function killAllChildren(): void {
  for (const child of live) {
    try {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** Rejects after `ms` with a message: for bounding waits on promises that may never settle. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
    }),
  ]);
}

export const sleep = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Every line of a child's stdout that parses as JSON, in order. */
export function linesOf(stdout: string): any[] {
  const lines: any[] = [];
  for (const line of stdout.split('\n')) {
    try {
      lines.push(JSON.parse(line));
    } catch {
      // a partial line (cut by a kill) or not JSON
    }
  }
  return lines;
}

/** The pid of a process that has exited (for "a dead creator / reclaimer" fixtures). */
export function exitedPid(): number {
  const child = spawnSync(process.execPath, ['-e', ''], { timeout: 10000 });
  if (!(child.pid > 0) || child.status !== 0) throw new Error(`could not run a short-lived child: ${child.error ?? child.status}`);
  return child.pid;
}
