#!/usr/bin/env node
// Estimates the mutation score of the whole of Stryker's scope from a random sample of its mutants.
//
// Why: a full `npm run mutate` is thousands of mutants, and a surviving mutant of the writer or of a
// consumer costs a run of most of the suite: many hours on a 2-core machine. A simple random sample of a
// few hundred mutants gives the score of the whole scope with a known margin (a Wilson 95% interval)
// in under an hour. docs/testing.md, "Mutation testing", says how the figures compare with Stryker's.
//
// What it does:
// - lists the mutants of the files in stryker.config.json's `mutate` with Stryker's own instrumenter (the
//   same mutators, the same replacements as `npm run mutate`), and draws a seeded sample of them;
// - copies the project into a sandbox (.stryker-tmp/sample-<seed>/; node_modules is linked), runs the
//   mutation-test files (stryker.config.json's `jest.config.testMatch`) once unmutated, then once per
//   mutant: the mutant applied to the source, and the same file re-transpiled into dist/, so the tests'
//   child processes run the mutant too. A mutant is *killed* when a test fails (jest stops at the first
//   failing file; stryker-environment.js skips the rest of that file), *timed out* when the run takes
//   more than twice the unmutated run plus 10 s twice in a row, the second time with twice that budget
//   (counted as detected, as Stryker does: the retry keeps a slow moment of a shared machine from passing
//   for a hang), *survived* when every test passes, and a *runtime error* (left out of the score, as
//   Stryker leaves its errors out) when jest broke without a failing test or a test file failed to load.
//   Every run has the same random seeds (SHMRING_SEED, SHMRING_FUZZ_SEED, FUZZ_SEED, FANIN_SEED, from
//   --seed), so a mutant meets the tests the unmutated run passed; a kill keeps the failure's first lines. Mutants are applied as plain JavaScript, without a type check, as Stryker runs them.
// - keeps every result in reports/mutation-sample-<seed>.json as it goes: a rerun with the same seed and
//   size resumes (each result keeps a fingerprint of the suite, and the report warns when they differ).
//   `--retest` reruns the survivors after new tests: only against the test files changed since the
//   sample's commit that the mutant's first run included (when tests were only added, a survivor of the
//   old set is killed by the new set exactly when it fails one of them), or against the whole set when
//   anything else under test/ changed; the
//   first result of each mutant is kept, and the report shows both. `--tests a,b` names the changed
//   test files instead (when a helper changed only by additions, which cannot change the other tests).
//
//   node scripts/mutation-sample.mjs --size 200 --seed 1      (npm run mutate:sample -- --size 200 --seed 1)
//   node scripts/mutation-sample.mjs --size 200 --seed 1 --report   (the summary of what has run)
//   node scripts/mutation-sample.mjs --size 200 --seed 1 --redo 12,345   (tests those mutants again,
//     replacing their results: after a fix to this script, or a timeout that looks like a slow moment)
import { Instrumenter } from '@stryker-mutator/instrumenter';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ts = require('typescript');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseArguments(argv) {
  const options = { size: 200, seed: 1, report: false, retest: false, workers: 2, tests: undefined, redo: undefined };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    const value = () => {
      const next = argv[++index];
      if (next === undefined) throw new Error(`${argument} needs a value`);
      return next;
    };
    if (argument === '--size') options.size = Number(value());
    else if (argument === '--seed') options.seed = Number(value());
    else if (argument === '--workers') options.workers = Number(value());
    else if (argument === '--report') options.report = true;
    else if (argument === '--retest') options.retest = true;
    else if (argument === '--tests') options.tests = value().split(',').filter(Boolean);
    else if (argument === '--redo') options.redo = value().split(',').filter(Boolean).map(Number);
    else throw new Error(`unknown argument ${argument} (--size N, --seed N, --workers N, --report, --retest [--tests a.test.ts,b.test.ts], --redo 12,345)`);
  }
  for (const key of ['size', 'seed', 'workers']) {
    if (!Number.isSafeInteger(options[key]) || options[key] < 1) throw new Error(`--${key} must be a positive integer`);
  }
  return options;
}

/** mulberry32 (as test/support/random.ts, which this plain script cannot import): the same seed draws the same sample on every machine. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function scopeFiles(config) {
  const files = new Set();
  for (const pattern of config.mutate) {
    if (!pattern.includes('*')) {
      files.add(pattern);
      continue;
    }
    const directory = pattern.slice(0, pattern.indexOf('*')).replace(/\/$/, '');
    const suffix = pattern.slice(pattern.lastIndexOf('*') + 1);
    for (const name of fs.readdirSync(path.join(root, directory))) {
      if (name.endsWith(suffix)) files.add(`${directory}/${name}`);
    }
  }
  return [...files].sort();
}

async function listMutants(files) {
  const silent = () => false;
  const logger = { isTraceEnabled: silent, isDebugEnabled: silent, isInfoEnabled: silent, isWarnEnabled: silent,
    isErrorEnabled: silent, isFatalEnabled: silent, trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} };
  const instrumenter = new Instrumenter(logger);
  const input = files.map((name) => ({ name, content: fs.readFileSync(path.join(root, name), 'utf8'), mutate: true }));
  const result = await instrumenter.instrument(input, { plugins: null, excludedMutations: [], ignorers: [], noHeader: true });
  return result.mutants.map((mutant) => ({
    file: mutant.fileName,
    mutator: mutant.mutatorName,
    location: mutant.location,
    replacement: mutant.replacement,
  }));
}

/**
 * A fingerprint of what judges a mutant: every file under test/, the Jest and Stryker configurations and
 * this script. Kept with each result, so a report says when a sample's mutants met different suites
 * (tests edited while it ran, or a resumed run): then it is no longer one suite's score.
 */
function suiteFingerprint() {
  const hash = createHash('sha256');
  const add = (file) => hash.update(file).update(fs.readFileSync(path.join(root, file)));
  const walk = (directory) => {
    for (const entry of fs.readdirSync(path.join(root, directory), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = `${directory}/${entry.name}`;
      if (entry.isDirectory()) walk(file);
      else if (entry.isFile()) add(file);
    }
  };
  walk('test');
  for (const file of ['jest.config.js', 'jest.stryker.config.js', 'stryker.config.json', 'scripts/mutation-sample.mjs']) {
    if (fs.existsSync(path.join(root, file))) add(file);
  }
  return hash.digest('hex').slice(0, 12);
}

/** Where a line/column position (lines from 0, as Stryker's locations) lies in a text. */
function offsetOf(text, position) {
  let offset = 0;
  for (let line = 0; line < position.line; line++) {
    offset = text.indexOf('\n', offset) + 1;
    if (offset === 0) throw new Error(`line ${position.line + 1} is past the end of the file`);
  }
  return offset + position.column;
}

// Mutators whose replacement is always a binary expression: spliced in as text it must keep its own
// grouping (Stryker replaces a syntax node), or `a || b && c` would test a different, harsher mutant.
const BINARY_MUTATORS = new Set(['LogicalOperator', 'EqualityOperator', 'ArithmeticOperator']);

function mutatedText(original, mutant) {
  const start = offsetOf(original, mutant.location.start);
  const end = offsetOf(original, mutant.location.end);
  const replacement = BINARY_MUTATORS.has(mutant.mutator) ? `(${mutant.replacement})` : mutant.replacement;
  return { text: original.slice(0, start) + replacement + original.slice(end), original: original.slice(start, end) };
}

function copyProject(sandbox) {
  fs.rmSync(sandbox, { recursive: true, force: true });
  fs.mkdirSync(sandbox, { recursive: true });
  const skip = new Set(['node_modules', '.git', 'reports', '.stryker-tmp', 'bench']);
  for (const name of fs.readdirSync(root)) {
    if (skip.has(name)) continue;
    fs.cpSync(path.join(root, name), path.join(sandbox, name), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(sandbox, 'node_modules'), 'dir');
  // Tests that run the examples or the benchmarks' helpers find them where they expect.
  fs.cpSync(path.join(root, 'bench'), path.join(sandbox, 'bench'), { recursive: true, filter: (source) => !source.includes(`${path.sep}results`) });
}

function writeJestConfig(sandbox, strykerConfig) {
  const config = `'use strict';
// Written by scripts/mutation-sample.mjs: the mutation runs' jest configuration without Stryker's runner.
const path = require('path');
const base = require('./jest.config');
module.exports = {
  ...base,
  rootDir: __dirname,
  // EXTRA_TESTS: the test files that reach a mutated file only through child processes (EXTRA_TESTS below).
  testMatch: process.env.SAMPLE_ONLY_TESTS
    ? process.env.SAMPLE_ONLY_TESTS.split(',')
    : [...${JSON.stringify(strykerConfig.jest.config.testMatch)}, ...(process.env.SAMPLE_EXTRA_TESTS ? process.env.SAMPLE_EXTRA_TESTS.split(',') : [])],
  testEnvironment: path.join(__dirname, 'test', 'support', 'stryker-environment.js'),
  testSequencer: path.join(__dirname, 'test', 'support', 'stryker-sequencer.js'),
  transform: { '^.+\\\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }] },
  bail: 1,
};
`;
  fs.writeFileSync(path.join(sandbox, 'jest.sample.config.js'), config);
}

function transpileInto(sandbox, file, text) {
  const output = ts.transpileModule(text, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS, esModuleInterop: true, sourceMap: false },
    fileName: file,
  });
  const target = path.join(sandbox, 'dist', path.relative('src', file)).replace(/\.ts$/, '.js');
  fs.writeFileSync(target, output.outputText);
}

// Source files whose code the mutation-test files reach too little, because their users are other
// commands run as child processes: a mutant of them also runs these tests (only this script can count
// what child processes catch, since it rebuilds dist/ with the mutant).
const API_TESTS = ['batch', 'lifecycle', 'process', 'conventions', 'codec-values'].map((name) => `<rootDir>/test/api/${name}.test.ts`);
const EXTRA_TESTS = {
  'src/ring/snapshot.ts': ['<rootDir>/test/cli/*.test.ts'],
  'src/api/consumer.ts': [...API_TESTS, '<rootDir>/test/wake/doorbell.test.ts'],
  'src/api/producer.ts': API_TESTS,
};

function runTests(sandbox, options, activeMutant, timeoutMs, extraTests = [], onlyTests = undefined) {
  return new Promise((resolve) => {
    const outputFile = path.join(sandbox, 'jest-result.json');
    fs.rmSync(outputFile, { force: true });
    const started = Date.now();
    const child = spawn(process.execPath, [path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--config', 'jest.sample.config.js',
      '--ci', '--silent', '--json', '--outputFile', outputFile, '--maxWorkers', String(options.workers)], {
      cwd: sandbox,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env, __STRYKER_ACTIVE_MUTANT__: activeMutant, CI: 'true', SAMPLE_EXTRA_TESTS: extraTests.join(','), SAMPLE_ONLY_TESTS: onlyTests ? onlyTests.join(',') : '',
        // The seeded tests draw the same cases in every run: a mutant is killed by what the unmutated run
        // passed, never by a case only its own run happened to draw (a flaky kill).
        SHMRING_SEED: String(options.seed), SHMRING_FUZZ_SEED: String(options.seed), FUZZ_SEED: String(options.seed), FANIN_SEED: String(options.seed),
      },
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-20000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) killStragglers(sandbox);
      const elapsedMs = Date.now() - started;
      let result;
      try {
        result = JSON.parse(fs.readFileSync(outputFile, 'utf8'));
      } catch {
        result = undefined;
      }
      resolve({ code, timedOut, elapsedMs, result, stderr });
    });
  });
}

/**
 * Kills every process still running in the sandbox. The process-group kill of a timed-out run has been
 * seen to leave jest workers behind (three of seed 4's five timeouts, each spinning a mutant's endless
 * loop at 60% of a core for an hour, slowing every later run): anything whose working directory is the
 * sandbox is this script's.
 */
function killStragglers(sandbox) {
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let cwd;
    try {
      cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue;
    }
    if (cwd !== sandbox && !cwd.startsWith(`${sandbox}/`) && !cwd.startsWith(`${sandbox} (deleted)`)) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * The first failing test, from jest's JSON when it wrote one (with --bail it may not), else its output:
 * `{ test, message }`, with `loadFailure` when a test file failed to run rather than a test failing (a
 * runtime error, as Stryker counts it: a crashed worker or a syntax error is not a kill).
 */
function firstFailure(result, stderr) {
  for (const file of result?.testResults ?? []) {
    const failed = file.assertionResults.find((test) => test.status === 'failed');
    if (failed) return { test: `${path.basename(file.name)} › ${failed.fullName}`, message: firstLines(failed.failureMessages.join('\n')) };
    if (file.status === 'failed') return { test: `${path.basename(file.name)}: failed to run`, message: firstLines(String(file.message)), loadFailure: true };
  }
  const plain = stderr.replace(/\x1b\[[0-9;]*m/g, '');
  const file = /^FAIL (\S+)/m.exec(plain);
  if (!file) return undefined;
  const test = /^ {2}● (.+)$/m.exec(plain);
  const message = firstLines(plain.slice(test ? test.index + test[0].length : file.index));
  if (!test || /Test suite failed to run/.test(test[1])) return { test: `${path.basename(file[1])}: failed to run`, message, loadFailure: true };
  return { test: `${path.basename(file[1])} › ${test[1]}`, message };
}

function firstLines(text) {
  return text.replace(/\x1b\[[0-9;]*m/g, '').trim().split('\n').slice(0, 8).join('\n').slice(0, 600);
}

/** The Wilson score interval: sound for proportions near 0 or 1 and for small samples. */
function wilson(successes, total, z = 1.96) {
  if (total === 0) return [0, 1];
  const p = successes / total;
  const denominator = 1 + (z * z) / total;
  const centre = (p + (z * z) / (2 * total)) / denominator;
  const margin = (z * Math.sqrt((p * (1 - p)) / total + (z * z) / (4 * total * total))) / denominator;
  return [Math.max(0, centre - margin), Math.min(1, centre + margin)];
}

function percent(value) {
  return `${(100 * value).toFixed(1)}%`;
}

function summarise(state, population) {
  // Runs that broke (jest itself failed, no test failed) are left out of the score, as Stryker's errors are.
  // A survivor whose retest has not run yet (or broke) still counts as a survivor.
  const done = state.sample
    .map((entry) => (entry.before !== undefined && (entry.status === undefined || entry.status === 'RuntimeError') ? { ...entry, status: entry.before } : entry))
    .filter((entry) => entry.status !== undefined && entry.status !== 'RuntimeError');
  const detected = done.filter((entry) => entry.status === 'Killed' || entry.status === 'Timeout').length;
  const [low, high] = wilson(detected, done.length);
  const lines = [];
  lines.push(`Sample of ${state.sample.length} of ${population} mutants (seed ${state.seed}) at ${state.commit}; ${done.length} tested.`);
  lines.push(`Score: ${detected} of ${done.length} detected = ${percent(detected / Math.max(1, done.length))} (95% interval ${percent(low)}–${percent(high)}).`);
  // The figure before a retest is the unbiased one: over every mutant tested once, whatever the retest
  // has reached (a survivor not retested yet, or one the retest could not run, counts as it first did).
  const retested = state.sample.filter((entry) => entry.before !== undefined);
  if (retested.length > 0) {
    const firstResult = (entry) => entry.before ?? entry.status;
    const tested = state.sample.filter((entry) => firstResult(entry) !== undefined && firstResult(entry) !== 'RuntimeError');
    const before = tested.filter((entry) => firstResult(entry) === 'Killed' || firstResult(entry) === 'Timeout').length;
    const [beforeLow, beforeHigh] = wilson(before, tested.length);
    const pendingRetest = retested.filter((entry) => entry.status === undefined || entry.status === 'RuntimeError').length;
    lines.push(`Before the retest (the unbiased estimate): ${before} of ${tested.length} = ${percent(before / Math.max(1, tested.length))} (95% interval ${percent(beforeLow)}–${percent(beforeHigh)}).`);
    lines.push(`The score above is after retesting ${retested.length - pendingRetest} of ${retested.length} survivors (${state.retestedAt}, with ${state.retestTests})` +
      `${pendingRetest > 0 ? `; ${pendingRetest} not retested yet count as survivors` : ''}: tests written against this sample's survivors, so not an estimate for the scope.`);
  }
  const counts = {};
  for (const entry of done) counts[entry.status] = (counts[entry.status] ?? 0) + 1;
  lines.push(`By status: ${Object.entries(counts).map(([status, count]) => `${status} ${count}`).join(', ')}.`);
  const suites = new Set(state.sample.filter((entry) => entry.suite !== undefined && entry.before === undefined && entry.redoneAt === undefined).map((entry) => entry.suite));
  if (suites.size > 1) lines.push(`Warning: the first results came from ${suites.size} different suites (tests or configuration changed while the sample ran): not one suite's score.`);
  const byFile = new Map();
  for (const entry of done) {
    const row = byFile.get(entry.file) ?? { total: 0, detected: 0 };
    row.total++;
    if (entry.status === 'Killed' || entry.status === 'Timeout') row.detected++;
    byFile.set(entry.file, row);
  }
  lines.push('', '| File | Sampled | Detected | Score |', '| --- | ---: | ---: | ---: |');
  for (const [file, row] of [...byFile].sort()) lines.push(`| \`${file}\` | ${row.total} | ${row.detected} | ${percent(row.detected / row.total)} |`);
  const survivors = done.filter((entry) => entry.status === 'Survived');
  if (survivors.length > 0) {
    lines.push('', 'Survivors:');
    for (const entry of survivors) {
      lines.push(`- #${entry.index} ${entry.file}:${entry.location.start.line + 1}:${entry.location.start.column} ${entry.mutator}: ` +
        `\`${entry.original.replace(/\s+/g, ' ').slice(0, 100)}\` → \`${entry.replacement.replace(/\s+/g, ' ').slice(0, 60)}\``);
    }
  }
  return lines.join('\n');
}

/** A jest testMatch glob (`*` within a folder, `**` across folders) as a regular expression. */
function globPattern(glob) {
  const source = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '\u0000').replace(/\*/g, '[^/]*').replace(/\u0000/g, '(?:.*/)?');
  return new RegExp(`^${source}$`);
}

/**
 * The test files changed (or added) since `commit`, as jest paths; undefined (the whole set) when the
 * sample was drawn from uncommitted sources or when anything but test files changed under test/
 * (a helper or fixture may change what every test does).
 */
function changedTestFiles(commit) {
  if (!/^[0-9a-f]+$/.test(commit)) return undefined;
  const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
  const changed = [...git('diff', '--name-only', commit, '--', 'test'), ...git('ls-files', '--others', '--exclude-standard', '--', 'test')];
  if (changed.length === 0 || changed.some((file) => !file.endsWith('.test.ts'))) return undefined;
  return [...new Set(changed)].filter((file) => fs.existsSync(path.join(root, file))).map((file) => `<rootDir>/${file}`);
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const strykerConfig = JSON.parse(fs.readFileSync(path.join(root, 'stryker.config.json'), 'utf8'));
  const resultsFile = path.join(root, 'reports', `mutation-sample-${options.seed}.json`);
  const files = scopeFiles(strykerConfig);
  const mutants = await listMutants(files);

  let state;
  if (fs.existsSync(resultsFile)) {
    state = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
    if (state.size !== options.size) throw new Error(`${resultsFile} holds a sample of ${state.size}; remove it or pass --size ${state.size}`);
  }
  if (options.report) {
    if (!state) throw new Error(`no results yet in ${resultsFile}`);
    console.log(summarise(state, state.population));
    return;
  }
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'test'], { cwd: root, encoding: 'utf8' }).trim() !== '';
  if (!state) {
    // A partial Fisher–Yates shuffle: a simple random sample without replacement.
    const order = mutants.map((_, index) => index);
    const next = random(options.seed);
    for (let index = 0; index < Math.min(options.size, order.length); index++) {
      const pick = index + Math.floor(next() * (order.length - index));
      [order[index], order[pick]] = [order[pick], order[index]];
    }
    // Kept in the order drawn, and tested in that order: the mutants tested so far are a random sample
    // of the scope at any moment, so a run stopped early still gives a sound (wider) estimate.
    const sample = order.slice(0, Math.min(options.size, order.length)).map((index) => {
      const text = fs.readFileSync(path.join(root, mutants[index].file), 'utf8');
      return { index, ...mutants[index], original: mutatedText(text, mutants[index]).original };
    });
    state = { seed: options.seed, size: options.size, population: mutants.length, commit: `${commit}${dirty ? ' (with uncommitted changes)' : ''}`, files, sample };
  } else {
    // The sources may have changed since the sample was drawn (new tests are fine; changed code is not).
    for (const entry of state.sample) {
      const text = fs.readFileSync(path.join(root, entry.file), 'utf8');
      const now = mutatedText(text, entry).original;
      if (now !== entry.original) throw new Error(`${entry.file} changed since the sample was drawn (mutant #${entry.index}); draw a new sample`);
    }
    state.retestedAt = `${commit}${dirty ? ' (with uncommitted changes)' : ''}`;
  }
  let onlyTests;
  if (options.retest) {
    // --tests: the operator's list, for when a helper under test/ changed in a way that cannot change
    // the other files' tests (say, new exports only); otherwise worked out from git.
    onlyTests = options.tests ? options.tests.map((file) => `<rootDir>/${file}`) : changedTestFiles(state.commit);
    // Only files a first run could have run count: a changed test outside the set (say test/c/) must not
    // kill in a retest what the set's own tests never met.
    const inSet = [...strykerConfig.jest.config.testMatch, ...Object.values(EXTRA_TESTS).flat()].map(globPattern);
    if (onlyTests) onlyTests = onlyTests.filter((file) => inSet.some((pattern) => pattern.test(file)));
    if (onlyTests && onlyTests.length === 0) throw new Error('no changed test file is in the mutation-test set: nothing to retest with');
  }
  const save = () => {
    fs.mkdirSync(path.dirname(resultsFile), { recursive: true });
    fs.writeFileSync(resultsFile, JSON.stringify(state, null, 1));
  };
  save();

  const sandbox = path.join(root, '.stryker-tmp', `sample-${options.seed}`);
  console.log(`building and copying into ${sandbox}`);
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  copyProject(sandbox);
  writeJestConfig(sandbox, strykerConfig);

  // Two unmutated runs: the mutation-test files alone, and with the extra files. A mutant's run times
  // out at twice the unmutated run of the same files plus 10 s (Stryker: 1.5 times plus 5 s): a mutant
  // that makes the code loop or wait forever shows up as a timeout, and costs no more than that.
  const allExtraTests = [...new Set(Object.values(EXTRA_TESTS).flat())];
  const baselineMs = {};
  for (const [label, extra] of [['plain', []], ['extra', allExtraTests]]) {
    const baseline = await runTests(sandbox, options, '', 30 * 60 * 1000, extra, onlyTests);
    if (baseline.code !== 0 || baseline.timedOut) {
      console.error(baseline.stderr);
      throw new Error(`the unmutated run failed (${firstFailure(baseline.result, baseline.stderr)?.test ?? `exit ${baseline.code}`}): fix the suite first`);
    }
    baselineMs[label] = baseline.elapsedMs;
    console.log(`unmutated run (${label === 'plain' ? 'mutation-test files' : 'with the extra files'}): ${(baseline.elapsedMs / 1000).toFixed(1)} s`);
  }
  // Taken from the project, not the sandbox copy: what the sandbox was copied from at this run's start.
  const suite = suiteFingerprint();
  const timeoutFor = (file) => 2 * baselineMs[EXTRA_TESTS[file] ? 'extra' : 'plain'] + 10000;

  // Only now that the unmutated run passed are results replaced: a retest or redo that cannot run leaves
  // the results file as it was.
  if (options.retest) {
    state.retestTests = onlyTests ? onlyTests.join(', ') : 'the whole set';
    for (const entry of state.sample) {
      if (entry.status !== 'Survived') continue;
      entry.before ??= entry.status;
      entry.status = undefined;
    }
  }
  if (options.redo) {
    for (const index of options.redo) {
      const entry = state.sample.find((candidate) => candidate.index === index);
      if (!entry) throw new Error(`mutant #${index} is not in this sample`);
      for (const key of ['status', 'killedBy', 'failure', 'seconds', 'error', 'before']) delete entry[key];
      entry.redoneAt = state.retestedAt;
    }
  }
  save();

  // A retest runs the survivors only: mutants never tested yet need the whole set, in a plain run.
  const pending = state.sample.filter((entry) => entry.status === undefined && (!options.retest || entry.before !== undefined));
  const originals = new Map();
  let count = 0;
  for (const entry of pending) {
    count++;
    const sourcePath = path.join(sandbox, entry.file);
    // The sandbox's copy: the project itself may be edited while this runs.
    const original = originals.get(entry.file) ?? fs.readFileSync(sourcePath, 'utf8');
    originals.set(entry.file, original);
    // A retest runs only the changed files this mutant's first run included (its file's extra tests).
    const ownTests = onlyTests?.filter((file) => [...strykerConfig.jest.config.testMatch, ...(EXTRA_TESTS[entry.file] ?? [])].map(globPattern).some((pattern) => pattern.test(file)));
    if (ownTests && ownTests.length === 0) {
      entry.status = entry.before;
      save();
      continue;
    }
    const { text } = mutatedText(original, entry);
    fs.writeFileSync(sourcePath, text);
    transpileInto(sandbox, entry.file, text);
    let run = await runTests(sandbox, options, String(entry.index), timeoutFor(entry.file), EXTRA_TESTS[entry.file], ownTests);
    // A timeout counts as detected, so it must be a hang, not a slow moment of a shared machine: once
    // more, with twice the budget.
    if (run.timedOut) run = await runTests(sandbox, options, String(entry.index), 2 * timeoutFor(entry.file), EXTRA_TESTS[entry.file], ownTests);
    fs.writeFileSync(sourcePath, original);
    transpileInto(sandbox, entry.file, original);
    const failure = run.timedOut || run.code === 0 ? undefined : firstFailure(run.result, run.stderr);
    if (run.timedOut) entry.status = 'Timeout';
    else if (run.code === 0) entry.status = 'Survived';
    else if (failure !== undefined && !failure.loadFailure) entry.status = 'Killed';
    else entry.status = 'RuntimeError';
    entry.suite = suite;
    entry.killedBy = failure?.test;
    entry.failure = failure?.message;
    entry.seconds = Math.round(run.elapsedMs / 100) / 10;
    if (entry.status === 'RuntimeError') entry.error = run.stderr.slice(-2000);
    save();
    console.log(`[${count}/${pending.length}] #${entry.index} ${entry.file}:${entry.location.start.line + 1} ${entry.mutator} ${entry.status} ` +
      `(${entry.seconds} s)${failure ? ` by ${failure.test.slice(0, 120)}` : ''}`);
  }
  killStragglers(sandbox);
  fs.rmSync(sandbox, { recursive: true, force: true });
  console.log('');
  console.log(summarise(state, state.population));
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
