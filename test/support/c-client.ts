/**
 * Running the C client's programs (built from native/ by scripts/build-c.js into build/c/) and their
 * TypeScript twin (test/fixtures/c-peer.js) as child processes that print JSON lines.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FIXTURES, linesOf, within } from './children';

const { build, MSGPACK_HEADER: msgpackHeader } = require('../../scripts/build-c.js') as {
  build(options?: { asan?: boolean; only?: string[] }): string;
  MSGPACK_HEADER: string;
};

/** msgpack-c's header: the C programs that decode MessagePack are built only where it is installed. */
export const MSGPACK_HEADER = msgpackHeader;

export const ROOT = path.join(__dirname, '..', '..');

/** Builds the C library, tools and examples (also with ASan + UBSan when `asan`); returns build/c. */
export function buildC(options: { asan?: boolean } = {}): string {
  return build(options);
}

/** Which implementation a peer runs: the C tool (optionally its sanitized build) or the TypeScript fixture. */
export type Language = 'c' | 'c-asan' | 'ts';

export interface Peer {
  process: ChildProcess;
  pid: number;
  /** Resolves with the exit code, the signal and everything printed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** The first JSON line matching `predicate` (bounded). */
  line(predicate: (msg: any) => boolean, timeoutMs?: number): Promise<any>;
  output(): string;
}

const live = new Set<ChildProcess>();

/**
 * Starts a program (absolute path) with arguments, collecting JSON lines; `stdin: 'pipe'` to feed it input,
 * `user` to run it as that uid and gid.
 */
export function runProgram(file: string, args: string[], env: NodeJS.ProcessEnv = {}, stdin: 'ignore' | 'pipe' = 'ignore', user?: number): Peer {
  const ids = user === undefined ? {} : { uid: user, gid: user };
  const child = spawn(file, args, { stdio: [stdin, 'pipe', 'pipe'], env: { ...process.env, ...env }, ...ids });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk;
    for (const waiter of waiters.slice()) waiter();
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      live.delete(child);
      for (const waiter of waiters.slice()) waiter();
      resolve({ code, signal, stdout, stderr });
    });
  });
  const describe = (): string => `${path.basename(file)} ${args.join(' ')}\nstdout: ${stdout.slice(-3000)}\nstderr: ${stderr.slice(-3000)}`;
  return {
    process: child,
    pid: child.pid!,
    exited,
    output: describe,
    line(predicate, timeoutMs = 20000) {
      return within(
        new Promise((resolve, reject) => {
          const look = (): void => {
            const found = linesOf(stdout).find(predicate);
            if (found !== undefined) {
              waiters.splice(waiters.indexOf(look), 1);
              resolve(found);
            } else if (child.exitCode !== null || child.signalCode !== null) {
              waiters.splice(waiters.indexOf(look), 1);
              reject(new Error(`exited without the expected line: ${describe()}`));
            }
          };
          waiters.push(look);
          look();
        }),
        timeoutMs,
        `waiting for a line of ${describe()}`,
      );
    },
  };
}

/** Runs `shmring_tool COMMAND NAME ...` in C, or the same through c-peer.js in TypeScript. */
export function runPeer(
  language: Language,
  command: 'send' | 'recv',
  name: string,
  options: Record<string, string | number> = {},
  stdin: 'ignore' | 'pipe' = options.start === 'stdin' ? 'pipe' : 'ignore',
): Peer {
  const args = [command, name, ...Object.entries(options).map(([key, value]) => `${key}=${value}`)];
  if (language === 'ts') return runProgram(process.execPath, [path.join(FIXTURES, 'c-peer.js'), ...args], {}, stdin);
  const directory = path.join(ROOT, 'build', 'c', language === 'c-asan' ? 'asan' : '');
  return runProgram(path.join(directory, 'shmring_tool'), args, { ASAN_OPTIONS: 'abort_on_error=1:detect_leaks=1' }, stdin);
}

/** Waits (bounded) for a peer to exit 0 and returns its `done` line; fails with its output otherwise. */
export async function finished(peer: Peer, timeoutMs = 60000): Promise<any> {
  const result = await within(peer.exited, timeoutMs, `exit of ${peer.output()}`);
  if (result.code !== 0) throw new Error(`exit code ${result.code} (signal ${result.signal}): ${peer.output()}`);
  const done = linesOf(result.stdout).find((line) => line.done || line.closed || line.error);
  if (done === undefined) throw new Error(`no final line: ${peer.output()}`);
  return linesOf(result.stdout).find((line) => line.done) ?? done;
}

/** SIGKILLs every peer still running (afterEach). */
export function killPeers(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  live.clear();
}

/** Reads `length` bytes of ring `name` at `offset` through a file descriptor (no mapping). */
export function readRing(name: string, offset: number, length: number): Buffer {
  const fd = fs.openSync(`/dev/shm${name}`, 'r');
  try {
    const bytes = Buffer.alloc(length);
    fs.readSync(fd, bytes, 0, length, offset);
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}
