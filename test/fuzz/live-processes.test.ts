/**
 * Seeded fuzzing across processes: a producer process and four consumer processes (tethered and
 * untethered; tryReceive, tryReceiveBytes, receiveSync with a small timeout, for-await bounded by a timer)
 * keep using a ring while this process writes hostile values into it with fs.writeSync on
 * /dev/shm/NAME, and the CLI (`inspect --json`, `ls --json`, `tail -n 5`) reads it meanwhile.
 *
 * Every child must exit on its own, without a signal (no SIGSEGV/SIGBUS), within its time bound, with no
 * violation (anything thrown that is not a ShmRingError), and with its RSS under 300 MB. The CLI must
 * exit with one of its documented codes and never print a stack trace.
 *
 *   SHMRING_FUZZ_RUNS=30 npx jest test/fuzz/live-processes    more sessions
 *   SHMRING_FUZZ_SEED=1234 npx jest test/fuzz/live-processes  replay a seed
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import * as L from '../../src/layout';
import { killAllChildren, runFixture, within, type Child } from '../support/children';
import { removeSegment, uniqueName } from '../support/names';

const RSS_LIMIT = 300 * 1024 * 1024;
const CLI = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const CAPACITY = 8192;
const MAX_CONSUMERS = 8;
const CONTROL_LENGTH = L.controlLength(MAX_CONSUMERS);
const SESSION_MS = 2500;
const CLI_EXIT_CODES = [0, 1, 3, 5, 6];

const seed = Number(process.env.SHMRING_FUZZ_SEED ?? Date.now() % 1_000_000_007);
const sessions = Number(process.env.SHMRING_FUZZ_RUNS ?? 3);

let names: string[] = [];
afterEach(() => {
  killAllChildren();
  for (const name of names) removeSegment(name);
  names = [];
});

function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  } catch {
    return 0;
  }
}

/** [label, byte offset, width] of every field of the control region worth damaging. */
function fields(): Array<[string, number, 1 | 4 | 8]> {
  const list: Array<[string, number, 1 | 4 | 8]> = [
    ['magic', L.MAGIC_OFFSET, 1], ['layoutVersion', L.LAYOUT_VERSION_OFFSET, 4], ['controlLength', L.CONTROL_LENGTH_OFFSET, 4],
    ['capacity', L.CAPACITY_OFFSET, 4], ['maxMessageLength', L.MAX_MESSAGE_LENGTH_OFFSET, 4], ['maxConsumers', L.MAX_CONSUMERS_OFFSET, 4],
    ['producerPid', L.PRODUCER_PID_OFFSET, 4], ['producerState', L.PRODUCER_STATE_OFFSET, 4], ['producerEpoch', L.PRODUCER_EPOCH_OFFSET, 4],
    ['producerStartTime', L.PRODUCER_START_TIME_OFFSET, 8], ['publishedTail', L.PUBLISHED_TAIL_OFFSET, 4], ['tailIntent', L.TAIL_INTENT_OFFSET, 4],
    ['oldestPosition', L.OLDEST_POSITION_OFFSET, 4], ['nextSequence', L.NEXT_SEQUENCE_OFFSET, 4], ['dataWaiters', L.DATA_WAITERS_OFFSET, 4],
    ['producerWaiting', L.PRODUCER_WAITING_OFFSET, 4], ['spaceWake', L.SPACE_WAKE_OFFSET, 4], ['messagesSent', L.MESSAGES_SENT_OFFSET, 8],
  ];
  for (let slot = 0; slot < 5; slot++) {
    const at = L.slotOffset(slot);
    list.push(
      [`slot${slot}.state`, at + L.SLOT_STATE_OFFSET, 4], [`slot${slot}.flags`, at + L.SLOT_FLAGS_OFFSET, 4],
      [`slot${slot}.head`, at + L.SLOT_HEAD_OFFSET, 4], [`slot${slot}.pid`, at + L.SLOT_PID_OFFSET, 4],
      [`slot${slot}.startTime`, at + L.SLOT_START_TIME_OFFSET, 8], [`slot${slot}.sleeping`, at + L.SLOT_SLEEPING_OFFSET, 4],
    );
  }
  return list;
}
const FIELDS = fields();

const value = fc.oneof(
  fc.constantFrom(0, 1, -1, 3, 16, 4096, CAPACITY, CAPACITY + 16, 0x7fffffff, -0x80000000),
  fc.record({ nearTail: fc.integer({ min: -3 * CAPACITY, max: 3 * CAPACITY }) }),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
);
const write = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('field' as const), field: fc.nat(FIELDS.length - 1), value }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('record' as const), back: fc.nat(40), field: fc.constantFrom(0, 4, 8), value }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('payload' as const), back: fc.nat(40), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
);
const session = fc.array(fc.record({ pauseMs: fc.integer({ min: 5, max: 150 }), writes: fc.array(write, { minLength: 1, maxLength: 4 }) }), { minLength: 5, maxLength: 20 });

function readTail(fd: number): number {
  const buffer = Buffer.alloc(4);
  fs.readSync(fd, buffer, 0, 4, L.PUBLISHED_TAIL_OFFSET);
  return buffer.readInt32LE(0);
}

function applyWrite(fd: number, w: fc.RecordValue<any>): void {
  const tail = readTail(fd);
  const resolve = (v: number | { nearTail: number }): number => (typeof v === 'number' ? v : (tail + v.nearTail) | 0);
  const buffer = Buffer.alloc(8);
  if (w.kind === 'field') {
    const [, offset, width] = FIELDS[w.field];
    const v = resolve(w.value);
    if (width === 1) buffer.writeUInt8(v & 255, 0);
    else if (width === 4) buffer.writeInt32LE(v, 0);
    else buffer.writeDoubleLE(v === 0x7fffffff ? NaN : v, 0);
    fs.writeSync(fd, buffer, 0, width, offset);
  } else {
    // Record-aligned offsets just behind the tail: where the records the consumers are reading live.
    const offset = (tail - 16 * (w.back + 1)) & (CAPACITY - 1);
    if (w.kind === 'record') {
      buffer.writeInt32LE(resolve(w.value), 0);
      fs.writeSync(fd, buffer, 0, 4, CONTROL_LENGTH + offset + w.field);
    } else {
      fs.writeSync(fd, w.bytes, 0, Math.min(w.bytes.length, CAPACITY - offset - 16), CONTROL_LENGTH + offset + 16);
    }
  }
}

interface CliRun {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

function runCli(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ args, code, signal, stderr, stdout });
    });
  });
}

/** What is wrong with a CLI run, or undefined. */
function cliProblem(run: CliRun): string | undefined {
  if (run.signal !== null) return `killed by ${run.signal}${run.signal === 'SIGKILL' ? ' (hung for 15 s)' : ''}`;
  if (!CLI_EXIT_CODES.includes(run.code!)) return `exit code ${run.code}`;
  if (/\bat .*\.js:\d+/.test(run.stderr) || /TypeError|RangeError|ReferenceError/.test(run.stderr)) return `stack trace: ${run.stderr.slice(0, 800)}`;
  if (run.args.includes('--json') && run.code === 0) {
    try {
      JSON.parse(run.stdout);
    } catch {
      return `--json output is not JSON: ${run.stdout.slice(0, 200)}`;
    }
  }
  return undefined;
}

describe('fuzzing a live ring shared by five processes and the CLI', () => {
  it('no child crashes, hangs, grows or throws anything but a ShmRingError; the CLI never crashes', async () => {
    console.log(`live-processes fuzz: seed ${seed}, ${sessions} sessions (replay with SHMRING_FUZZ_SEED=${seed})`);
    let cases = 0;
    let crashes = 0;
    let cliRuns = 0;
    const problems: string[] = [];
    const codes: Record<string, number> = {};
    let delivered = 0;
    let maxRss = 0;
    try {
      await fc.assert(
        fc.asyncProperty(session, async (steps) => {
          const name = uniqueName('fuzz-procs');
          names.push(name);
          const producer = runFixture('fuzz-producer.js', [name, String(SESSION_MS + 500)]);
          await producer.waitForLine((m) => m.ready, 15000);
          const consumers: Array<[string, Child]> = [
            ['tethered try', runFixture('fuzz-consumer.js', [name, 'tethered', 'try', String(SESSION_MS)])],
            ['untethered bytes', runFixture('fuzz-consumer.js', [name, 'untethered', 'bytes', String(SESSION_MS)])],
            ['tethered sync', runFixture('fuzz-consumer.js', [name, 'tethered', 'sync', String(SESSION_MS)])],
            ['untethered iterate', runFixture('fuzz-consumer.js', [name, 'untethered', 'iterate', String(SESSION_MS)])],
          ];
          const all: Array<[string, Child]> = [['producer', producer], ...consumers];
          await Promise.all(consumers.map(([, c]) => c.waitForLine((m) => m.ready, 15000)));
          const poll = setInterval(() => {
            for (const [, c] of all) maxRss = Math.max(maxRss, rssOf(c.process.pid));
          }, 100);
          const cli: Promise<CliRun>[] = [];
          let fd: number | undefined;
          try {
            fd = fs.openSync(`/dev/shm${name}`, 'r+');
            for (const [i, step] of steps.entries()) {
              for (const w of step.writes) {
                applyWrite(fd, w);
                cases++;
              }
              if (i % 4 === 0) {
                cli.push(runCli(['inspect', name, '--json']));
                cli.push(i % 8 === 0 ? runCli(['ls', '--json']) : runCli(['tail', name, '-n', '5', '--timeout', '300', '--from', 'oldest']));
              }
              await new Promise((resolve) => setTimeout(resolve, step.pauseMs));
            }
          } finally {
            if (fd !== undefined) fs.closeSync(fd);
          }
          const cliResults = await within(Promise.all(cli), 30000, 'the CLI runs');
          clearInterval(poll);
          cliRuns += cliResults.length;
          for (const run of cliResults) {
            const problem = cliProblem(run);
            if (problem) problems.push(`shmring ${run.args.join(' ')}: ${problem}`);
          }
          for (const [label, c] of all) {
            const { code, signal, stdout, stderr } = await within(c.exited, SESSION_MS + 20000, `${label} to finish`);
            const summary = JSON.parse(stdout.trim().split('\n').pop() ?? '{}');
            for (const [k, n] of Object.entries(summary.codes ?? {})) codes[k] = (codes[k] ?? 0) + (n as number);
            delivered += summary.values ?? summary.sent ?? 0;
            maxRss = Math.max(maxRss, summary.maxRss ?? 0);
            if (signal !== null || code !== 0 || !summary.done) {
              crashes++;
              problems.push(`${label}: exit ${code} signal ${signal} ${summary.fatal ?? ''} ${(summary.violations ?? []).join('; ')} ${stderr.slice(-500)}`);
            }
          }
          return problems.length === 0;
        }),
        { seed, numRuns: sessions, endOnFailure: true },
      );
    } finally {
      console.log(
        `live-processes fuzz: seed ${seed}, ${cases} damaging writes tried over ${sessions} sessions, ${cliRuns} CLI runs, ` +
          `${delivered} messages sent+received, ${crashes} crashes; ShmRingError codes ${JSON.stringify(codes)}; ` +
          `max RSS ${Math.round(maxRss / 1e6)} MB` + (problems.length ? `\nproblems:\n  ${problems.join('\n  ')}` : ''),
      );
    }
    expect(problems).toEqual([]);
    expect(maxRss).toBeLessThan(RSS_LIMIT);
  }, (SESSION_MS + 25000) * sessions + 30000);
});
