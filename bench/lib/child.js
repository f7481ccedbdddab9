'use strict';
// Parent side of a measurement: spawns every participant as a fresh Node process (never a thread),
// starts them in order, releases them together, collects their results, and cleans up whatever a run
// created (children, segments, socket files) even when the run fails or the harness is interrupted.
//
// Wire protocol with a child (see role.js): the child prints `READY` when set up, waits for `GO` on stdin,
// and prints `RESULT <json>` when done.
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');

const liveChildren = new Set();
const liveResources = new Set(); // absolute file paths: /dev/shm/<segment> and UDS socket files
let uniqueCounter = 0;

function uniqueSegmentName(tag) {
  const name = `/shmring-bench.${process.pid}.${++uniqueCounter}.${tag}.${Math.random().toString(36).slice(2, 8)}`;
  liveResources.add(path.join('/dev/shm', name.slice(1)));
  return name;
}

/** Registers a segment name created by a child so that it is unlinked after the run. */
function trackSegment(name) {
  liveResources.add(path.join('/dev/shm', name.slice(1)));
}

function uniqueSocketPath(tag) {
  const p = path.join(os.tmpdir(), `shmring-bench.${process.pid}.${++uniqueCounter}.${tag}.sock`);
  liveResources.add(p);
  return p;
}

function releaseResources() {
  for (const p of liveResources) {
    try { fs.unlinkSync(p); } catch { /* already gone: the normal case */ }
  }
  liveResources.clear();
}

function killAll() {
  for (const child of liveChildren) {
    try { child.kill('SIGKILL'); } catch { /* exited */ }
  }
  liveChildren.clear();
}

process.on('exit', () => { killAll(); releaseResources(); });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll();
    releaseResources();
    process.stderr.write(`\nbench: interrupted by ${signal}, children killed, segments unlinked\n`);
    process.exit(130);
  });
}

/**
 * Spawns `node <script> <role> <params-json>`; returns { ready, result, go(), kill(), child }.
 * `ready` resolves on READY, `result` on RESULT; both reject if the child exits first.
 */
function spawnRole(script, role, params, options = {}) {
  const args = [...(options.nodeArgs || []), script, role, JSON.stringify(params)];
  // A pinned role: `taskset -c N node [nodeArgs] script role params` (see pinned()).
  const command = options.command === 'taskset' ? 'taskset' : options.command || process.execPath;
  const commandArgs = options.command === 'taskset' ? [...options.args, script, role, JSON.stringify(params)] : options.command ? options.args : args;
  const child = spawn(command, commandArgs, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...(options.env || {}) },
  });
  liveChildren.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 20000) stderr = stderr.slice(-20000); });
  let resolveReady, rejectReady, resolveResult, rejectResult;
  const ready = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
  const result = new Promise((res, rej) => { resolveResult = res; rejectResult = rej; });
  ready.catch(() => {});
  result.catch(() => {});
  let gotResult = false;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'READY') resolveReady();
    else if (line.startsWith('RESULT ')) { gotResult = true; resolveResult(JSON.parse(line.slice(7))); }
    else if (options.onLine) options.onLine(line);
  });
  child.on('exit', (code, signal) => {
    liveChildren.delete(child);
    // Let the stdout reader deliver a RESULT that raced the exit event.
    setImmediate(() => {
      const err = new Error(`${path.basename(script)} ${role} exited (code ${code}, signal ${signal})${stderr ? `:\n${stderr.trim()}` : ''}`);
      rejectReady(err);
      if (!gotResult) rejectResult(err);
    });
  });
  child.stdin.on('error', () => {});
  return {
    child,
    ready,
    result,
    go() { try { child.stdin.write('GO\n'); } catch { /* exited; result will reject */ } },
    kill() { try { child.kill('SIGKILL'); } catch { /* exited */ } },
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Pins participants to CPUs where the machine allows (taskset, 2+ CPUs, SHMRING_BENCH_PIN not 0): the
 * first (the producer or server) on CPU 0, the others on CPU 1, so two processes never share a CPU and
 * every run has the same placement relative to the host's vCPUs.
 */
const PIN = process.env.SHMRING_BENCH_PIN !== '0' && require('os').cpus().length >= 2 && (() => {
  try { require('child_process').execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' }); return true; } catch { return false; }
})();

function pinned(options = {}, cpu) {
  if (!PIN || options.command) return options;
  return { ...options, command: 'taskset', args: ['-c', String(cpu), process.execPath, ...(options.nodeArgs || [])] };
}

/**
 * Runs one measurement: spawns `specs` in order (each waits for READY before the next starts, so a
 * producer can create its ring before consumers open it, or a server can listen before clients
 * connect), then sends GO to all non-trigger participants and finally to the `trigger` ones (the
 * producer), and resolves with every participant's result in spec order.
 * Every child is killed and every resource named in this run is unlinked before it returns.
 */
async function runProcesses(specs, { timeoutMs = 60000 } = {}) {
  const handles = [];
  try {
    const work = (async () => {
      for (const [index, spec] of specs.entries()) {
        const h = spawnRole(spec.script, spec.role, spec.params, pinned(spec.options, index === 0 ? 0 : 1));
        handles.push(h);
        await Promise.race([h.ready, h.result]);
      }
      for (let i = 0; i < specs.length; i++) if (!specs[i].trigger) handles[i].go();
      for (let i = 0; i < specs.length; i++) if (specs[i].trigger) handles[i].go();
      return Promise.all(handles.map((h) => h.result));
    })();
    return await withTimeout(work, timeoutMs, `run of ${specs.map((s) => `${path.basename(s.script)}:${s.role}`).join(', ')}`);
  } finally {
    for (const h of handles) h.kill();
    releaseResources();
  }
}

/** Runs a command to completion with a time bound; resolves with stdout. */
function runCommand(command, args, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    liveChildren.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${command} ${args.join(' ')} failed (code ${code}, signal ${signal}): ${err.trim()}`));
    });
  });
}

module.exports = { PIN, trackSegment, spawnRole, runProcesses, runCommand, uniqueSegmentName, uniqueSocketPath, releaseResources, killAll };
