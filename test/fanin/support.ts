/**
 * Helpers shared by the fan-in tests: producer child processes (test/fixtures/fanin-producer.js) and
 * bounded waits. Every child is tracked so afterEach can kill whatever a failing test left running.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { noteChildOutput } from '../support/children';
import { uniqueName } from '../support/names';

const FIXTURE = path.join(__dirname, '..', 'fixtures', 'fanin-producer.js');

export interface ProducerSpec {
  names: string[];
  count?: number;
  mode?: 'close' | 'hang' | 'flood';
  seed?: number;
  gapMs?: number;
  gapChance?: number;
  capacity?: number;
  padBytes?: number;
  waitForConsumerMs?: number;
}

export interface ProducerReport {
  event: 'created' | 'sent' | 'done';
  sent: Record<string, number>;
}

export interface ProducerChild {
  child: ChildProcess;
  reports: ProducerReport[];
  /** Resolves with the first report of `event` (rejects after `timeoutMs`). */
  report(event: ProducerReport['event'], timeoutMs?: number): Promise<ProducerReport>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  stderr(): string;
}

const children = new Set<ChildProcess>();

export function startProducer(spec: ProducerSpec): ProducerChild {
  const child = spawn(process.execPath, [FIXTURE, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const reports: ProducerReport[] = [];
  const listeners: (() => void)[] = [];
  let buffered = '';
  let stderr = '';
  let stdoutAll = '';
  noteChildOutput(`fanin-producer.js ${spec.names.join(' ')} (pid ${child.pid})`, () => ({ stdout: stdoutAll, stderr }));
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    stdoutAll += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() === '') continue;
      reports.push(JSON.parse(line) as ProducerReport);
      for (const listener of listeners.splice(0)) listener();
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
  });
  // 'close', not 'exit': 'exit' can come before the last stdout chunk is read, and a report would be missed.
  let closed = false;
  const exited = new Promise<number | string>((resolve) => {
    child.on('close', (code, signal) => {
      closed = true;
      children.delete(child);
      for (const listener of listeners.splice(0)) listener();
      resolve(code ?? signal ?? -1);
    });
  });
  const report = (event: ProducerReport['event'], timeoutMs = 15000): Promise<ProducerReport> =>
    new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const check = (): void => {
        const found = reports.find((r) => r.event === event);
        if (found) return resolve(found);
        if (closed) {
          return reject(new Error(`producer ${spec.names[0]} exited before "${event}": ${stderr}`));
        }
        if (Date.now() >= deadline) return reject(new Error(`no "${event}" from producer ${spec.names[0]} within ${timeoutMs} ms`));
        listeners.push(check);
        setTimeout(check, Math.min(100, Math.max(1, deadline - Date.now())));
      };
      check();
    });
  return { child, reports, report, exited, stderr: () => stderr };
}

/** Kills every producer child still running (afterEach). */
export async function killAllProducers(): Promise<void> {
  const running = [...children];
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  children.clear();
}

/** Polls `condition` every few ms; rejects with `what` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Segments in /dev/shm whose name starts with `prefix` ('/shmring-test.x' form). */
export function segmentsWithPrefix(prefix: string): string[] {
  const start = prefix.slice(1);
  return fs.readdirSync('/dev/shm').filter((file) => file.startsWith(start)).map((file) => `/${file}`);
}

const prefixes: string[] = [];

/** A unique prefix for this test's rings; removeTrackedPrefixes() removes whatever is left under it. */
export function newPrefix(tag: string): string {
  const prefix = `${uniqueName(tag)}.`;
  prefixes.push(prefix);
  return prefix;
}

/** Removes every segment under the prefixes newPrefix() gave out since the last call (afterEach). */
export function removeTrackedPrefixes(): void {
  for (const prefix of prefixes.splice(0)) removeSegmentsWithPrefix(prefix);
}

export function removeSegmentsWithPrefix(prefix: string): void {
  for (const name of segmentsWithPrefix(prefix)) {
    try {
      fs.unlinkSync(`/dev/shm${name}`);
    } catch {
      // raced with its producer's close
    }
  }
}
