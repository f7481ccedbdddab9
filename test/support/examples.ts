import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import { noteChildOutput, within } from './children';

export const ROOT = path.join(__dirname, '..', '..');

export interface ExampleRun {
  child: ChildProcess;
  /** Everything the example printed so far, stdout and stderr interleaved. */
  output: () => string;
  /** Resolves with the exit code once the example's streams have closed. */
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];

/**
 * Runs an example's launcher (`script`, relative to the project root) in its own process group, so that a
 * test can SIGINT all of it like Ctrl-C does and killExamples() can take the whole group down.
 * `killAfterMs` SIGKILLs the launcher if it has not exited by then.
 */
export function runExample(script: string, args: string[], options: { killAfterMs?: number } = {}): ExampleRun {
  const child = spawn(process.execPath, [path.resolve(ROOT, script), ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let output = '';
  noteChildOutput(`example ${script} ${args.join(' ')} (pid ${child.pid}; stdout and stderr interleaved)`, () => ({ stdout: output, stderr: '' }));
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    }),
  );
  return { child, output: () => output, exited };
}

/** SIGKILLs the process group of every example still running (for afterEach). */
export function killExamples(): void {
  for (const child of running.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL'); // its own process group: the example and its children
    } catch {
      // already gone
    }
  }
}

/** Resolves once `output()` matches `pattern`; rejects with `what` after `ms`. */
export async function waitForOutput(output: () => string, pattern: RegExp, ms: number, what = `output matching ${pattern}`): Promise<void> {
  await within(new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (pattern.test(output())) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  }), ms, what);
}
