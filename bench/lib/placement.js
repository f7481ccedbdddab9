'use strict';
/*
 * Where the host put the two vCPUs this run: a cache-line ping-pong between two processes pinned to
 * CPU 0 and CPU 1 (taskset), through a word in a shared-memory segment.
 *
 *   process A (CPU 0) ─▶ one 32-bit word, bounced ─◀ process B (CPU 1)
 *
 * Hyperthread siblings share their caches (a round trip of roughly 50-150 ns); separate cores pay for
 * every cache line that moves (roughly 200-700 ns here). Cross-core throughput figures change several-fold
 * between the two, so each round of the benchmark records the probe next to its figures.
 */
const path = require('path');
const { spawn } = require('child_process');

const DIST = path.join(__dirname, '..', '..', 'dist');
const ROUNDS = 20000;

function side(name, role) {
  const { Segment } = require(path.join(DIST, 'core', 'segment'));
  const segment = role === 'a' ? Segment.create(name, 4096) : Segment.open(name);
  const words = new Int32Array(segment.map(0, 4096));
  if (role === 'a') {
    process.stdout.write('READY\n');
    while (Atomics.load(words, 1) === 0);
    const t0 = process.hrtime.bigint();
    for (let i = 1; i <= ROUNDS; i++) {
      Atomics.store(words, 0, i);
      while (Atomics.load(words, 2) !== i);
    }
    const ns = Number(process.hrtime.bigint() - t0) / ROUNDS;
    process.stdout.write(`RESULT ${ns}\n`);
    Segment.unlink(name);
  } else {
    Atomics.store(words, 1, 1);
    for (let i = 1; i <= ROUNDS; i++) {
      while (Atomics.load(words, 0) !== i);
      Atomics.store(words, 2, i);
    }
  }
  segment.close();
}

/** Round trip in ns between CPU 0 and CPU 1, or undefined when it cannot be measured here. */
function probe(pin) {
  const name = `/shmring-bench-placement-${process.pid}-${Date.now()}`;
  const run = (role, cpu) => {
    const args = [__filename, name, role];
    return pin ? spawn('taskset', ['-c', String(cpu), process.execPath, ...args], { stdio: ['ignore', 'pipe', 'ignore'] })
      : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  };
  return new Promise((resolve) => {
    const a = run('a', 0);
    let out = '';
    let b;
    const timer = setTimeout(() => { a.kill('SIGKILL'); if (b) b.kill('SIGKILL'); resolve(undefined); }, 15000);
    a.stdout.on('data', (d) => {
      out += d;
      if (!b && out.includes('READY')) b = run('b', 1);
      const m = /RESULT ([\d.]+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    a.on('exit', () => setTimeout(() => { clearTimeout(timer); resolve(undefined); try { require('fs').unlinkSync(`/dev/shm${name}`); } catch {} }, 100));
  });
}

/** A word for the report: which placement the round trip suggests. */
function placementOf(ns) {
  if (ns === undefined) return 'unknown';
  return ns < 180 ? 'hyperthread siblings (shared caches)' : 'separate cores';
}

module.exports = { probe, placementOf };

if (require.main === module) side(process.argv[2], process.argv[3]);
