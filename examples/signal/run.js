#!/usr/bin/env node
'use strict';
// A three-stage signal chain, one process per stage, two rings between them:
//
//   source ─▶ /shmring-signal.<pid>.frames ─▶ process (RMS, peak) ─▶ /shmring-signal.<pid>.results ─▶ sink
//   Float32 frames, claim()/commit()           zero-copy reads          MessagePack objects           frames/s, lost
//
// Runs for --seconds (default 3) at real time x --speed (default 1), then closes the source; each stage
// ends after reading everything, closing (and unlinking) its own ring. SIGINT/SIGTERM: the same shutdown.
//
// --c-source: the source stage is the C program examples/signal/c/source.c (claim/commit in C);
// --c-stage: the processing stage is examples/signal/c/stage.c (a C consumer publishing MessagePack).
// Both are built by `node scripts/build-c.js` into build/c/ (gcc, and libmsgpack-dev for the stage).
const { fork, spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

function option(flag, fallback) {
  const index = process.argv.indexOf(flag);
  return index === -1 ? fallback : process.argv[index + 1];
}
const seconds = Number(option('--seconds', '3'));
const speed = Number(option('--speed', '1'));
const prefix = option('--name', `/shmring-signal.${process.pid}`);
const framesName = `${prefix}.frames`;
const resultsName = `${prefix}.results`;

const C_PROGRAMS = { source: 'signal_source', process: 'signal_stage' };
const inC = { source: process.argv.includes('--c-source'), process: process.argv.includes('--c-stage') };

const children = {};
const exits = {};
const reports = {};

/** A C stage: the same protocol as a forked one, with JSON lines on stdout for messages, signals for commands. */
function spawnC(role, args) {
  const binary = path.join(__dirname, '..', '..', 'build', 'c', C_PROGRAMS[role]);
  if (!fs.existsSync(binary)) throw new Error(`${binary} is missing: run \`node scripts/build-c.js\` first`);
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffered = '';
  child.stdout.on('data', (chunk) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.startsWith('{')) child.emit('message', JSON.parse(line));
      else console.log(line);
    }
  });
  child.connected = true;
  child.on('exit', () => (child.connected = false));
  // The commands a forked stage gets over IPC: 'start' is SIGUSR2, 'stop' is SIGTERM.
  child.send = (command, callback) => {
    child.kill(command === 'start' ? 'SIGUSR2' : 'SIGTERM');
    callback?.();
  };
  return child;
}

function start(role, args) {
  const child = inC[role]
    ? spawnC(role, args)
    : fork(path.join(__dirname, `${role}.js`), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children[role] = child;
  child.on('error', () => {}); // IPC to a child that is exiting (EPIPE): its exit code tells the story
  exits[role] = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.on('message', (message) => Object.assign((reports[role] ??= {}), message));
  return new Promise((resolve, reject) => {
    child.on('message', (message) => message.ready && resolve());
    child.once('exit', (code) => reject(new Error(`${role} exited (${code}) before it was ready`)));
  });
}

let shuttingDown = false;
let deadline;
function shutdown(reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  clearTimeout(deadline);
  console.log(`${reason}: closing the source; every stage drains and closes its ring`);
  // A source that is no longer connected is already closing (it got the signal too): leave it be.
  const source = children.source;
  if (source?.connected) source.send('stop', () => {});
  setTimeout(() => Object.values(children).forEach((c) => c.exitCode === null && c.kill('SIGTERM')), 3000).unref();
  setTimeout(() => Object.values(children).forEach((c) => c.exitCode === null && c.kill('SIGKILL')), 6000).unref();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

async function main() {
  const languages = `source in ${inC.source ? 'C' : 'Node'}, processing in ${inC.process ? 'C' : 'Node'}`;
  console.log(`signal chain: 48 kHz, 1024-sample frames, ${seconds} s at ${speed}x real time (${languages})`);
  // Each ring's consumer joins before anything is written to it.
  await start('source', [framesName, String(speed)]);
  await start('process', [framesName, resultsName]);
  await start('sink', [resultsName]);
  if (!shuttingDown) {
    children.source.send('start');
    deadline = setTimeout(() => shutdown(`${seconds} s elapsed`), seconds * 1000);
  }
}

main()
  .catch((error) => {
    console.error(`signal: ${error.message}`);
    shutdown('error');
    process.exitCode = 1;
  })
  .then(async () => {
    const results = {};
    for (const role of Object.keys(children)) results[role] = await exits[role];
    const failed = Object.entries(results).filter(([, r]) => r.code !== 0);
    for (const [role, r] of failed) console.error(`${role} exited with ${r.code ?? r.signal}`);
    const left = fs.readdirSync('/dev/shm').filter((f) => f.startsWith(prefix.slice(1) + '.'));
    for (const file of left) fs.rmSync(`/dev/shm/${file}`, { force: true });
    if (left.length > 0) console.error(`left in /dev/shm (now removed): ${left.join(', ')}`);
    const source = reports.source ?? {};
    const processStage = reports.process ?? {};
    const sink = reports.sink ?? {};
    console.log(
      `summary: source ${source.frames ?? 0} frames, processed ${processStage.processed ?? 0}, ` +
        `sink ${sink.frames ?? 0} received, ${sink.lost ?? 0} lost; /dev/shm ${left.length === 0 ? 'clean' : 'NOT clean'}`,
    );
    if (failed.length > 0 || left.length > 0) process.exitCode = 1;
  });
