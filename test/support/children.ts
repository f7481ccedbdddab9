import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';

export const FIXTURES = path.join(__dirname, '..', 'fixtures');

export interface Child {
  process: ChildProcess;
  /** Resolves with the child's exit code and everything it printed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Resolves with the first stdout line that parses as JSON and matches `predicate`. */
  waitForLine(predicate: (msg: any) => boolean, timeoutMs?: number): Promise<any>;
}

const live = new Set<ChildProcess>();

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
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
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
