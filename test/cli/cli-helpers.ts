/**
 * Running the built `shmring` command against real segments and real processes.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as L from '../../src/ring/layout';
import { noteChildOutput } from '../support/children';
import { removeSegment, uniqueName } from '../support/names';

export const MAIN = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const RING_FIXTURE = path.join(__dirname, '..', 'fixtures', 'cli-ring.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli/main.js ...args` to completion (bounded), colour off; as user `uid` when given. */
export function runCli(args: string[], timeoutMs = 20_000, uid?: number): CliResult {
  const result = spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined },
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  noteChildOutput(`shmring ${args.join(' ')} (exit ${result.status}${result.signal ? `, signal ${result.signal}` : ''})`, () => ({ stdout: result.stdout, stderr: result.stderr }));
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export const NOBODY = 65534;

/** Why the command cannot be run as `nobody` here (not root, or dist/ unreadable to it); undefined when it can. */
export function nobodyUnavailable(): string | undefined {
  if (process.geteuid?.() !== 0) return 'not running as root: cannot run the command as nobody';
  const probe = spawnSync(process.execPath, [MAIN, '--version'], { uid: NOBODY, gid: NOBODY, timeout: 10_000, encoding: 'utf8' });
  if (probe.status !== 0) return `user nobody cannot run dist/cli/main.js: ${probe.stderr?.slice(0, 300) || probe.error?.message}`;
  return undefined;
}

/** Runs with --json and parses stdout; fails the test with stderr when it is not JSON. */
export function runJson<T = any>(args: string[], uid?: number): CliResult & { json: T } {
  const result = runCli([...args, '--json'], 20_000, uid);
  try {
    return { ...result, json: JSON.parse(result.stdout) as T };
  } catch {
    throw new Error(`not JSON (exit ${result.code}): ${result.stdout}\n${result.stderr}`);
  }
}

export interface RingSpec {
  name: string;
  capacity?: number;
  maxConsumers?: number;
  messages?: number;
  tail?: number;
  oldest?: number;
  closed?: boolean;
  producer?: boolean;
  tick?: boolean;
  mode?: number;
  consumers?: { self?: boolean; pid?: number; startTime?: number; tethered?: boolean; head?: number; received?: number; lost?: number }[];
}

/** Tracks what a test started, so teardown can remove it also when the test failed. */
export class Fixtures {
  private readonly children: ChildProcess[] = [];
  private readonly names: string[] = [];

  /** A family of names sharing a prefix (for `--prefix`), each also a unique test name. */
  family(tag: string): { prefix: string; name: (suffix: string) => string } {
    const prefix = `${uniqueName(tag)}.`;
    return {
      prefix,
      name: (suffix: string) => {
        const name = `${prefix}${suffix}`;
        this.names.push(name);
        return name;
      },
    };
  }

  track(name: string): string {
    this.names.push(name);
    return name;
  }

  /** Starts a process that creates `spec.name` by hand, maps it and registers itself as its producer. */
  async startRing(spec: RingSpec): Promise<ChildProcess & { pid: number }> {
    this.track(spec.name);
    const child = spawn(process.execPath, [RING_FIXTURE, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      let err = '';
      noteChildOutput(`cli-ring.js ${spec.name} (pid ${child.pid})`, () => ({ stdout: out, stderr: err }));
      const timer = setTimeout(() => reject(new Error(`ring fixture not ready after 10 s: ${err}`)), 10_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        err += chunk.toString();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`ring fixture exited with ${code}: ${err}`));
      });
    });
    return child as ChildProcess & { pid: number };
  }

  /** A ring whose producer was killed with SIGKILL: the segment stays, nothing alive uses it. */
  async deadRing(spec: RingSpec): Promise<number> {
    const child = await this.startRing(spec);
    await killAndWait(child, 'SIGKILL');
    return child.pid;
  }

  /** A ring whose producer is stopped (SIGSTOP): alive, not running. Continued and killed in teardown. */
  async stoppedRing(spec: RingSpec): Promise<number> {
    const child = await this.startRing(spec);
    child.kill('SIGSTOP');
    await waitFor(() => /^[tT]$/.test(processState(child.pid) ?? ''), 'the fixture to stop');
    return child.pid;
  }

  /** A file in /dev/shm with the shmring magic and a header that contradicts itself. */
  corruptRing(name: string, damage: 'capacity' | 'version' | 'short'): void {
    this.track(name);
    const bytes = Buffer.alloc(damage === 'short' ? 16 : 8192);
    Buffer.from(L.MAGIC).copy(bytes, L.MAGIC_OFFSET);
    bytes.writeInt32LE(damage === 'version' ? 99 : L.LAYOUT_VERSION, L.LAYOUT_VERSION_OFFSET);
    if (damage !== 'short') {
      bytes.writeUInt32LE(L.controlLength(4), L.CONTROL_LENGTH_OFFSET);
      bytes.writeUInt32LE(damage === 'capacity' ? 1000 : 4096, L.CAPACITY_OFFSET);
      bytes.writeUInt32LE(100, L.MAX_MESSAGE_LENGTH_OFFSET);
      bytes.writeUInt32LE(4, L.MAX_CONSUMERS_OFFSET);
    }
    fs.writeFileSync(`/dev/shm${name}`, bytes, { mode: 0o600 });
  }

  /** Another program's file in /dev/shm. */
  foreignFile(name: string, content = 'not a ring, somebody else\u2019s data'): void {
    this.track(name);
    fs.writeFileSync(`/dev/shm${name}`, content, { mode: 0o644 });
  }

  async cleanup(): Promise<void> {
    for (const child of this.children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        await killAndWait(child, 'SIGKILL');
      }
    }
    for (const name of this.names.splice(0)) removeSegment(name);
  }
}

export function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

export function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child ${child.pid} did not exit after ${signal}`)), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function exists(name: string): boolean {
  return fs.existsSync(`/dev/shm${name}`);
}
