/** Runs test/fixtures/native-child.js and reads the JSON lines it reports. */
import { spawn, ChildProcess, SpawnOptions } from 'child_process';
import * as path from 'path';
import { noteChildOutput } from '../support/children';

export const FIXTURE = path.join(__dirname, '..', 'fixtures', 'native-child.js');

export interface Child {
  process: ChildProcess;
  /** Resolves with the first reported line that has `key` (rejects if the child exits first or after `timeoutMs`). */
  next(key: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (rejects after `timeoutMs`, killing the child). */
  exit(timeoutMs?: number): Promise<number | null>;
  stderr(): string;
}

export function runChild(command: string, args: object, options: SpawnOptions & { nodeArgs?: string[] } = {}): Child {
  const { nodeArgs = [], ...spawnOptions } = options;
  const child = spawn(process.execPath, [...nodeArgs, FIXTURE, command, JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...spawnOptions,
  });
  const lines: Record<string, unknown>[] = [];
  const listeners: (() => void)[] = [];
  let stdoutRest = '';
  let stderr = '';
  let stdoutAll = '';
  noteChildOutput(`native-child.js ${command} (pid ${child.pid})`, () => ({ stdout: stdoutAll, stderr }));
  let exited = false;
  let exitCode: number | null = null;
  const notify = (): void => listeners.splice(0).forEach((listener) => listener());
  child.stdout!.on('data', (chunk: Buffer) => {
    stdoutRest += chunk.toString();
    stdoutAll += chunk.toString();
    let newline: number;
    while ((newline = stdoutRest.indexOf('\n')) !== -1) {
      lines.push(JSON.parse(stdoutRest.slice(0, newline)) as Record<string, unknown>);
      stdoutRest = stdoutRest.slice(newline + 1);
    }
    notify();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // 'close', not 'exit': 'exit' can come before the last stdout chunk is read (the jest thread may have been
  // blocked in a synchronous wait while the child printed and exited), and a line would be missed.
  child.on('close', (code) => {
    exited = true;
    exitCode = code;
    notify();
  });

  const waitFor = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`child ${command}: no ${what} within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      const attempt = (): void => {
        const value = check();
        if (value !== undefined) {
          clearTimeout(timer);
          resolve(value);
        } else if (exited && what !== 'exit') {
          clearTimeout(timer);
          reject(new Error(`child ${command} exited (${exitCode}) before reporting ${what}; stderr: ${stderr}`));
        } else {
          listeners.push(attempt);
        }
      };
      attempt();
    });

  return {
    process: child,
    next: (key, timeoutMs = 10000) => {
      let seen = 0;
      return waitFor(() => {
        for (; seen < lines.length; seen++) {
          const line = lines[seen]!;
          if (key in line) return line;
        }
        return undefined;
      }, timeoutMs, key);
    },
    exit: (timeoutMs = 10000) =>
      waitFor(() => (exited ? { code: exitCode } : undefined), timeoutMs, 'exit').then((r) => r.code),
    stderr: () => stderr,
  };
}
