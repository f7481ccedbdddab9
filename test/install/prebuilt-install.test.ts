/**
 * Installing the package as a user would, on a machine without a compiler: `npm pack` (whose `prepack`
 * builds prebuilds/linux-x64/shmring.glibc.node), then `npm install <tarball> --ignore-scripts` in an empty
 * project with a PATH holding only node, npm, npx and sh, then one message sent and received there through
 * `require('shmring')`, loading the prebuilt addon (the package has no build/ of its own).
 *
 * The pack runs in a copy of the package sources, so the checkout's build/ and dist/ (which the other tests
 * load while this one runs) are never rewritten under them.
 */
import { spawnSync, type SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { removeSegment, uniqueName } from '../support/names';

const ROOT = path.join(__dirname, '..', '..');
/** What a package build needs; node_modules is linked, not copied. */
const SOURCES = ['package.json', 'README.md', 'binding.gyp', 'native', 'scripts', 'src', 'tsconfig.json', 'tsconfig.build.json'];
const STEP_TIMEOUT_MS = 90_000;

jest.setTimeout(240_000);

function which(command: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  const file = found.stdout.trim();
  if (found.status !== 0 || !file) throw new Error(`${command} is not on PATH`);
  return fs.realpathSync(file);
}

/** Runs a step, failing the test with everything it printed when it does not exit 0. */
function step(what: string, result: SpawnSyncReturns<string>): string {
  if (result.status !== 0) {
    throw new Error(`${what} failed (status ${result.status}, ${result.error?.message ?? result.signal ?? ''}):\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

let work: string;
let tarball: string;
let project: string;
/** PATH of the user's machine: node, npm, npx and a shell; no g++, cc, make or python3. */
let bareEnv: NodeJS.ProcessEnv;
const names: string[] = [];

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-install-'));
  const stage = path.join(work, 'stage');
  fs.mkdirSync(stage);
  for (const entry of SOURCES) fs.cpSync(path.join(ROOT, entry), path.join(stage, entry), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
  step(
    'npm pack',
    spawnSync('npm', ['pack', '--pack-destination', work], { cwd: stage, encoding: 'utf8', timeout: STEP_TIMEOUT_MS }),
  );
  tarball = path.join(work, fs.readdirSync(work).find((f) => f.endsWith('.tgz'))!);

  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  for (const tool of ['npm', 'npx', 'sh']) fs.symlinkSync(which(tool), path.join(bin, tool));
  bareEnv = { PATH: bin, HOME: os.homedir() };

  project = path.join(work, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'first-contact', version: '1.0.0', private: true }));
  // The dependencies come from npm's cache (filled by `npm ci`), else from the registry.
  step(
    'npm install <tarball> --ignore-scripts',
    spawnSync('npm', ['install', tarball, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: project,
      env: bareEnv,
      encoding: 'utf8',
      timeout: STEP_TIMEOUT_MS,
    }),
  );
});

afterAll(() => {
  for (const name of names) removeSegment(name);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

it('packs the prebuilt linux-x64 glibc addon with the sources to compile elsewhere, and no build/', () => {
  const listing = step('tar', spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' })).split('\n');
  expect(listing).toContain('package/prebuilds/linux-x64/shmring.glibc.node');
  expect(listing).toEqual(expect.arrayContaining(['package/binding.gyp', 'package/native/addon/addon.cc', 'package/scripts/build-native.js']));
  expect(listing.filter((file) => file.startsWith('package/build/'))).toEqual([]);
});

it('installs without a compiler and sends and receives a message through the prebuilt addon', () => {
  // The PATH really has no compiler on it.
  for (const tool of ['g++', 'cc', 'make', 'python3']) {
    expect(spawnSync(tool, ['--version'], { env: bareEnv }).error).toMatchObject({ code: 'ENOENT' });
  }
  const name = uniqueName('install');
  names.push(name);
  const script = [
    "const path = require('path');",
    "const { Producer, Consumer } = require('shmring');",
    "const root = path.dirname(require.resolve('shmring/package.json'));",
    'const name = process.argv[1];',
    'const producer = Producer.create(name, { capacity: 4096 });',
    'const consumer = Consumer.open(name);',
    "producer.send({ hello: 'from a prebuilt addon', n: 1 });",
    'const message = consumer.tryReceive();',
    'consumer.close();',
    'producer.close();',
    "console.log(JSON.stringify({ root, addon: require('node-gyp-build').resolve(root), message }));",
  ].join('\n');
  const out = step('the user script', spawnSync('node', ['-e', script, name], { cwd: project, env: bareEnv, encoding: 'utf8', timeout: 30_000 }));
  const result = JSON.parse(out.trim().split('\n').pop()!);
  expect(result.message).toEqual({ hello: 'from a prebuilt addon', n: 1 });
  // The installed package, not this checkout, and its prebuild, not a build/ of its own.
  expect(fs.realpathSync(result.root)).toBe(fs.realpathSync(path.join(project, 'node_modules', 'shmring')));
  expect(path.relative(result.root, result.addon)).toBe(path.join('prebuilds', 'linux-x64', 'shmring.glibc.node'));
  expect(fs.existsSync(path.join(result.root, 'build'))).toBe(false);
  expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
});

it('runs the command with npx from the project', () => {
  const out = step('npx shmring --version', spawnSync('npx', ['shmring', '--version'], { cwd: project, env: bareEnv, encoding: 'utf8', timeout: 30_000 }));
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  expect(out.trim()).toBe(version);
});

it('the install script uses the prebuild when it loads (no compiler needed), and compiles when there is none', () => {
  const installed = path.join(project, 'node_modules', 'shmring');
  const skipped = spawnSync('node', ['scripts/build-native.js'], { cwd: installed, env: bareEnv, encoding: 'utf8', timeout: 30_000 });
  expect(step('install script with a prebuild', skipped)).toContain('using prebuilds/linux-x64/shmring.glibc.node (nothing to compile)');
  expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);

  // Elsewhere (no matching prebuild) it compiles native/ with the compiler of the normal PATH.
  fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true });
  const compiled = spawnSync('node', ['scripts/build-native.js'], { cwd: installed, encoding: 'utf8', timeout: STEP_TIMEOUT_MS });
  expect(step('install script without a prebuild', compiled)).toContain('no usable prebuilt addon');
  const loaded = step(
    'loading the compiled addon',
    spawnSync('node', ['-e', "console.log(require('node-gyp-build').resolve(require('path').dirname(require.resolve('shmring/package.json'))))"], {
      cwd: project,
      env: bareEnv,
      encoding: 'utf8',
    }),
  );
  expect(path.relative(installed, loaded.trim())).toBe(path.join('build', 'Release', 'shmring.node'));
});
