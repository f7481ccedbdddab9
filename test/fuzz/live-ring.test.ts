/**
 * Seeded fuzzing of live rings: hostile values written into every field of the control region, into
 * record headers and payloads, while producers and consumers (tethered and untethered, every read API)
 * keep using the ring, new consumers join and producers restart over the damage.
 *
 * The fuzzer (test/fixtures/fuzz-inproc.js) runs in a child process, so that a crash (a signal), a hang
 * (the child is bounded in time) or runaway memory (its RSS is polled) is seen here. Every call must
 * return or throw a ShmRingError with a code.
 *
 *   SHMRING_FUZZ_RUNS=20000 npx jest test/fuzz/live-ring     more cases (no time limit)
 *   SHMRING_FUZZ_SEED=1234 npx jest test/fuzz/live-ring      replay a seed
 */
import * as fs from 'fs';
import { killAllChildren, runFixture } from '../support/children';
import { TEST_PREFIX } from '../support/names';

const RSS_LIMIT = 300 * 1024 * 1024;
const DEFAULT_RUNS = 1500;
const DEFAULT_TIME_LIMIT_MS = 10_000;

afterEach(() => killAllChildren());

function rssOf(pid: number): number {
  try {
    // statm: size resident shared ... (pages)
    return Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  } catch {
    return 0;
  }
}

interface FuzzReport {
  done: boolean;
  seed: number;
  cases: number;
  calls: number;
  outcomes: Record<string, number>;
  codes: Record<string, number>;
  maxRss: number;
  elapsedMs: number;
  failure?: string;
  /** Something the fuzzer itself threw (not a product call): a bug in the harness, not in shmring. */
  harnessError?: { error: string; stack: string; example: string };
  violations: Array<{ key: string; apis: string[]; error: string; stack: string; count: number; example: string }>;
}

const seed = process.env.SHMRING_FUZZ_SEED ? Number(process.env.SHMRING_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const runs = Number(process.env.SHMRING_FUZZ_RUNS ?? DEFAULT_RUNS);
// With SHMRING_FUZZ_RUNS the run count is the only limit; by default a time limit keeps CI fast.
const timeLimit = process.env.SHMRING_FUZZ_RUNS ? 24 * 3600 * 1000 : DEFAULT_TIME_LIMIT_MS;
const wallLimit = process.env.SHMRING_FUZZ_RUNS ? runs * 100 + 60_000 : DEFAULT_TIME_LIMIT_MS + 20_000;

describe('fuzzing live rings in one process', () => {
  it('never crashes, hangs, grows without bound or throws anything but a ShmRingError', async () => {
    const prefix = `${TEST_PREFIX}${process.pid}.fuzz`;
    console.log(`live-ring fuzz: seed ${seed}, up to ${runs} cases (replay with SHMRING_FUZZ_SEED=${seed})`);

    const child = runFixture('fuzz-inproc.js', [prefix, String(seed), String(runs), String(timeLimit)]);
    const pid = child.process.pid!;
    let maxRss = 0;
    const poll = setInterval(() => (maxRss = Math.max(maxRss, rssOf(pid))), 100);
    let hung = false;
    const watchdog = setTimeout(() => {
      hung = true;
      child.process.kill('SIGKILL');
    }, wallLimit);
    const { code, signal, stdout, stderr } = await child.exited;
    clearInterval(poll);
    clearTimeout(watchdog);
    for (const entry of fs.readdirSync('/dev/shm')) if (`/${entry}`.startsWith(prefix)) fs.rmSync(`/dev/shm/${entry}`, { force: true });

    const last = stdout.trim().split('\n').pop() ?? '';
    let report: FuzzReport | undefined;
    try {
      report = JSON.parse(last) as FuzzReport;
    } catch {
      report = undefined;
    }
    const crashes = (signal !== null || code !== 0 || hung ? 1 : 0) + (report?.violations.reduce((n, v) => n + v.count, 0) ?? 0);
    console.log(
      `live-ring fuzz: seed ${seed}, ${report?.cases ?? '?'} cases tried, ${report?.calls ?? '?'} calls, ` +
        `${crashes} crashes/violations; outcomes ${JSON.stringify(report?.outcomes)}; ShmRingError codes ` +
        `${JSON.stringify(report?.codes)}; max RSS ${Math.round(Math.max(maxRss, report?.maxRss ?? 0) / 1e6)} MB` +
        (report?.violations.length ? `\nviolations:\n${report.violations.map((v) => `  ${v.count}x ${v.key}\n    from ${v.apis.join(', ')}\n    ${v.stack.replace(/\n/g, '\n    ')}`).join('\n')}` : ''),
    );
    // Every problem names the seed and how to replay it; harness errors are told apart from product bugs.
    const replay = `(seed ${seed}; replay with SHMRING_FUZZ_SEED=${seed} npx jest test/fuzz/live-ring)`;
    const problems: string[] = [];
    if (hung) problems.push(`the fuzzer hung: killed after ${wallLimit} ms ${replay}`);
    if (signal !== null || code !== 0) problems.push(`the fuzzer died (code ${code}, signal ${signal}) ${replay}\nstderr: ${stderr.slice(-3000)}`);
    if (report?.done !== true) problems.push(`no final report ${replay}\nstdout: ${stdout.slice(-2000)}\nstderr: ${stderr.slice(-2000)}`);
    if (report?.harnessError) {
      const h = report.harnessError;
      problems.push(`HARNESS error (a bug in test/fixtures/fuzz-inproc.js, not in shmring) ${replay}: ${h.error}\n${h.stack}\ncase: ${h.example}`);
    } else if (report?.failure !== undefined) {
      problems.push(`fast-check failed ${replay}: ${report.failure}`);
    }
    if (report && report.cases === 0) problems.push(`no case ran ${replay}`);
    const rss = Math.max(maxRss, report?.maxRss ?? 0);
    if (rss >= RSS_LIMIT) problems.push(`RSS ${rss} bytes, over the ${RSS_LIMIT} limit ${replay}`);
    // A damaged payload must surface as a ShmRingError (DECODE_ERROR), not the codec's RangeError or
    // DecodeError.
    for (const v of report?.violations ?? []) problems.push(`PRODUCT violation ${replay}: ${v.count}x ${v.key} (from ${v.apis.join(', ')})\n${v.stack}\ncase: ${v.example.slice(0, 1500)}`);
    expect(problems).toEqual([]);
  }, wallLimit + 15_000);
});
