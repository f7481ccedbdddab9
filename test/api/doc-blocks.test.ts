/**
 * Every ```js block of README.md and docs/*.md runs, as pasted, with `shmring` resolving to this package
 * (built: dist/), and exits 0 in its own process(es); where the page shows the output, the output matches.
 * The markers that say how a block runs are described in test/support/doc-blocks.ts. A page added to
 * docs/ is picked up without changing this file.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DocProgram, matchesOutput, programsOf, uniqueRingNames } from '../support/doc-blocks';
import { TEST_PREFIX } from '../support/names';

const ROOT = path.join(__dirname, '..', '..');
const PAGES = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
/** A block that has not exited by then has hung: it is killed and the test fails with its output. */
const RUN_BOUND_MS = 20000;

let counter = 0;
const directories: string[] = [];

afterAll(() => {
  for (const directory of directories) fs.rmSync(directory, { recursive: true, force: true });
});

function removeRings(prefix: string): string[] {
  const left = fs.readdirSync('/dev/shm').filter((file) => `/${file}`.startsWith(prefix));
  for (const file of left) fs.rmSync(`/dev/shm/${file}`, { force: true });
  return left;
}

interface Run {
  file: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(directory: string, file: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd: directory, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_BOUND_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ file, code, signal, stdout, stderr });
    });
  });
}

async function runProgram(program: DocProgram): Promise<void> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-doc-'));
  directories.push(directory);
  fs.mkdirSync(path.join(directory, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(directory, 'node_modules', 'shmring'), 'dir');
  // What a user installs beside shmring for the integration examples.
  for (const peer of ['pino', 'prom-client']) {
    fs.symlinkSync(path.join(ROOT, 'node_modules', peer), path.join(directory, 'node_modules', peer), 'dir');
  }
  const prefix = `${TEST_PREFIX}${process.pid}.doc${++counter}.`;
  for (const [file, code] of Object.entries(program.files)) {
    fs.writeFileSync(path.join(directory, file), uniqueRingNames(code, prefix));
  }
  let runs: Run[];
  let left: string[];
  try {
    runs = await Promise.all(program.start.map((file) => start(directory, file)));
  } finally {
    left = removeRings(prefix);
  }
  const report = runs
    .map((run) => `--- ${run.file}: exit ${run.code}${run.signal ? ` (${run.signal})` : ''}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`)
    .join('\n');
  for (const run of runs) {
    if (run.code !== 0) throw new Error(`${program.where}: ${run.file} failed\n${report}`);
    const expected = program.expected[run.file];
    if (expected && !matchesOutput(run.stdout, expected)) {
      throw new Error(`${program.where}: ${run.file} printed other output than the page shows:\n${expected.join('\n')}\n${report}`);
    }
  }
  // Everything a block creates is gone when it exits (close(), or a producer's close on exit).
  if (left.length > 0) throw new Error(`${program.where} left ${left.join(', ')} in /dev/shm\n${report}`);
}

describe.each(PAGES)('%s', (page) => {
  const programs = programsOf(ROOT, page);
  const runnable = programs.filter((program) => program.skip === undefined);
  if (runnable.length === 0) {
    it('has no runnable code block', () => {
      expect(programs.every((program) => program.skip !== undefined)).toBe(true);
    });
    return;
  }
  it.each(runnable.map((program) => [program.where, program] as const))('%s runs', async (_where, program) => {
    await runProgram(program);
  });
});

describe('the block runner', () => {
  it('matches output lines with ... wildcards, line by line', () => {
    expect(matchesOutput('{ ts: 17, name: "a" }\nend\n', ['{ ts: ..., name: "a" }', 'end'])).toBe(true);
    expect(matchesOutput('{ ts: 17, name: "a" }\n', ['{ ts: ..., name: "b" }'])).toBe(false);
    expect(matchesOutput('one\n', ['one', 'two'])).toBe(false);
  });

  it('prefixes ring names in string literals and nothing else', () => {
    const code = "Producer.create('/telemetry'); Selector.follow(\"/telemetry.\"); fs.statSync('/dev/shm/x'); require('stream/promises');";
    expect(uniqueRingNames(code, '/p.')).toBe(
      "Producer.create('/p.telemetry'); Selector.follow(\"/p.telemetry.\"); fs.statSync('/dev/shm/x'); require('stream/promises');",
    );
  });

  it('skips only the blocks marked no-run, and there are few of them', () => {
    const all = PAGES.flatMap((page) => programsOf(ROOT, page));
    const skipped = all.filter((program) => program.skip !== undefined);
    expect(all.length).toBeGreaterThan(30);
    expect(skipped.length).toBeLessThanOrEqual(all.length / 5);
  });
});
