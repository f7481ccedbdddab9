#!/usr/bin/env node
'use strict';
// Builds the C client (native/lib/shmring.c), its tools and examples with the system compiler into
// build/c/ (and build/c/asan/ with AddressSanitizer + UndefinedBehaviorSanitizer). Not part of the addon
// (binding.gyp is unchanged). Usage: node scripts/build-c.js [--asan]. Called by the tests' beforeAll.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const CFLAGS = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-I', path.join(root, 'native', 'include')];
const SANITIZE = ['-fsanitize=address,undefined', '-fno-sanitize-recover=undefined', '-fno-omit-frame-pointer', '-g'];

/**
 * Programs: output name, sources (relative to the repository), extra link flags, and whether the program
 * compiles the library in itself (`#include`s shmring.c to set a test seam) rather than linking it, or is a
 * shared object for LD_PRELOAD (not linked with the library; not built with the sanitizers).
 */
/** msgpack-c's header (Debian's libmsgpack-dev): examples/c-msgpack and the signal example's C stage build against it. */
const MSGPACK_HEADER = '/usr/include/msgpack.h';

const PROGRAMS = [
  ['shmring_tool', ['native/tools/shmring_tool.c'], []],
  ['lapped_reader', ['test/c/lapped_reader.c'], [], { includesLibrary: true }],
  ['trailing_wake', ['test/c/trailing_wake.c'], [], { includesLibrary: true }],
  ['fence_stress', ['test/c/fence_stress.c'], [], { includesLibrary: true }],
  ['wait_any', ['test/c/wait_any.c'], [], { includesLibrary: true }],
  ['wipe_hold', ['test/c/wipe_hold.c'], []],
  ['membarrier_shim.so', ['test/c/membarrier_shim.c'], ['-ldl'], { shared: true }],
  ['send_batch', ['test/c/send_batch.c'], []],
  ['signal_source', ['examples/signal/c/source.c'], ['-lm']],
  ['signal_stage', ['examples/signal/c/stage.c'], ['-lm'], { needs: MSGPACK_HEADER }],
  ['msgpack_reader', ['examples/c-msgpack/reader.c'], ['-lmsgpackc'], { needs: MSGPACK_HEADER }],
  ['shmring_bench', ['bench/c/shmring_bench.c'], []],
];

function newer(output, inputs) {
  if (!fs.existsSync(output)) return false;
  const built = fs.statSync(output).mtimeMs;
  return inputs.every((input) => fs.statSync(input).mtimeMs <= built);
}

/** Builds the library and every program whose sources exist; returns the output directory. */
function build({ asan = false, only } = {}) {
  const out = path.join(root, 'build', 'c', asan ? 'asan' : '');
  fs.mkdirSync(out, { recursive: true });
  const flags = asan ? [...CFLAGS, ...SANITIZE] : CFLAGS;
  const library = path.join(root, 'native', 'lib', 'shmring.c');
  const headers = ['shmring.h', 'shmring_layout.h'].map((h) => path.join(root, 'native', 'include', h));
  const object = path.join(out, 'shmring.o');
  if (!newer(object, [library, ...headers])) execFileSync('gcc', [...flags, '-c', library, '-o', object], { stdio: 'inherit' });
  const archive = path.join(out, 'libshmring.a');
  if (!newer(archive, [object])) {
    fs.rmSync(archive, { force: true });
    execFileSync('ar', ['rcs', archive, object], { stdio: 'inherit' });
  }
  for (const [name, sources, libraries, { includesLibrary = false, shared = false, needs } = {}] of PROGRAMS) {
    if (only && !only.includes(name)) continue;
    // A program that needs a system library (libmsgpack-dev) is left out where it is not installed: the
    // client and every other program still build; the one test that runs it says what to install.
    if (needs && !fs.existsSync(needs)) {
      console.warn(`build-c: ${name} left out: ${needs} is not installed (apt-get install libmsgpack-dev)`);
      continue;
    }
    if (shared && asan) continue;
    const inputs = sources.map((source) => path.join(root, source));
    if (!inputs.every((input) => fs.existsSync(input))) continue;
    const output = path.join(out, name);
    const linked = includesLibrary || shared ? [] : [archive];
    if (newer(output, [...inputs, ...(includesLibrary ? [library, ...headers] : shared ? [] : [archive])])) continue;
    const kind = shared ? ['-shared', '-fPIC'] : [];
    execFileSync('gcc', [...flags, ...kind, ...inputs, ...linked, ...libraries, '-o', output], { stdio: 'inherit' });
  }
  return out;
}

module.exports = { build, CFLAGS, SANITIZE, MSGPACK_HEADER };

if (require.main === module) console.log(build({ asan: process.argv.includes('--asan') }));
