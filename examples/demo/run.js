#!/usr/bin/env node
'use strict';
// npm run demo: a producer and two consumers, each in its own process, on one shared-memory ring.
//
//   producer process ─▶ /shmring-demo.<pid> ─▶ consumer "fast" (tethered, 'message' events)
//                                           └─▶ consumer "slow" (untethered, for await, pauses)
//
// Prints rate, lag and loss once a second for --seconds (default 5), then shuts down cleanly: the producer
// closes (unlinking the segment), both consumers read to the end of stream and exit. SIGINT/SIGTERM (or
// Ctrl-C) leads to the same shutdown. Exits 0 when every process exited cleanly and /dev/shm is clean.
const { fork } = require('child_process');
const fs = require('fs');
const path = require('path');

function option(flag, fallback) {
  const index = process.argv.indexOf(flag);
  return index === -1 ? fallback : process.argv[index + 1];
}

const seconds = Number(option('--seconds', '5'));
const name = option('--name', `/shmring-demo.${process.pid}`);
if (!(seconds > 0)) {
  console.error('usage: node examples/demo/run.js [--seconds N] [--name /ring-name]');
  process.exit(2);
}
const tty = process.stdout.isTTY === true;
const here = __dirname;

const state = {
  producer: { sent: 0, stalls: 0 },
  fast: { received: 0, lost: 0, lagBytes: 0, latencyMs: 0 },
  slow: { received: 0, lost: 0, lagBytes: 0, latencyMs: 0 },
};
const children = {};
const exits = {};

function start(role, script, args) {
  const child = fork(path.join(here, script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children[role] = child;
  child.on('error', () => {}); // IPC to a child that is exiting (EPIPE): its exit code tells the story
  child.on('message', (message) => Object.assign(state[message.role], message));
  exits[role] = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    child.on('message', (message) => message.ready && resolve());
    child.once('exit', (code) => reject(new Error(`${role} exited (${code}) before it was ready`)));
  });
}

const fmtRate = (perSecond) =>
  perSecond >= 1e6 ? `${(perSecond / 1e6).toFixed(2)}M/s` : perSecond >= 1e3 ? `${(perSecond / 1e3).toFixed(1)}k/s` : `${perSecond.toFixed(0)}/s`;
const fmtBytes = (bytes) => (bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${bytes} B`);
const fmtCount = (n) => n.toLocaleString('en-US');

let previous = { time: Date.now(), sent: 0, fast: 0, slow: 0 };
function line(elapsed) {
  const now = Date.now();
  const dt = Math.max(1, now - previous.time) / 1000;
  const rate = (value, before) => fmtRate((value - before) / dt);
  const text =
    `${String(elapsed).padStart(3)}s  producer ${rate(state.producer.sent, previous.sent).padStart(9)}` +
    ` (stalls ${fmtCount(state.producer.stalls)})` +
    ` │ fast: ${rate(state.fast.received, previous.fast).padStart(9)} lag ${fmtBytes(state.fast.lagBytes).padStart(8)} lost ${fmtCount(state.fast.lost)}` +
    ` │ slow: ${rate(state.slow.received, previous.slow).padStart(9)} lag ${fmtBytes(state.slow.lagBytes).padStart(8)} lost ${fmtCount(state.slow.lost)}`;
  previous = { time: now, sent: state.producer.sent, fast: state.fast.received, slow: state.slow.received };
  if (tty) process.stdout.write(`\r\x1b[2K${text}`);
  else console.log(text);
}

let shuttingDown = false;
let ticker;
let deadline;
function shutdown(reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  clearInterval(ticker);
  clearTimeout(deadline);
  if (tty) process.stdout.write('\n');
  console.log(`${reason}: closing the producer; consumers read to the end of stream...`);
  // The producer's close() is what ends the consumers: stop it first, the rest follows.
  // A producer that is no longer connected is already closing (it got the signal too): leave it be.
  const producer = children.producer;
  if (producer?.connected) producer.send('stop', () => {});
  // Safety net: nobody may hang the demo.
  setTimeout(() => {
    for (const child of Object.values(children)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }, 3000).unref();
  setTimeout(() => {
    for (const child of Object.values(children)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 6000).unref();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

function leftovers() {
  const base = name.slice(1);
  try {
    return fs.readdirSync('/dev/shm').filter((file) => file === base);
  } catch {
    return [];
  }
}

async function main() {
  console.log(`shmring demo: ring ${name}, 1 producer ─▶ 2 consumers, separate processes, ${seconds} s`);
  // The producer creates the ring, the consumers join it, then the producer is told to start: every
  // message sent is one the consumers can see.
  await start('producer', 'producer.js', [name]);
  await Promise.all([start('fast', 'consumer.js', [name, 'fast']), start('slow', 'consumer.js', [name, 'slow'])]);
  if (shuttingDown) return finishUp();
  children.producer.send('start');
  const started = Date.now();
  previous.time = started;
  ticker = setInterval(() => line(Math.round((Date.now() - started) / 1000)), 1000);
  deadline = setTimeout(() => shutdown(`${seconds} s elapsed`), seconds * 1000);
  await finishUp();
}

async function finishUp() {
  const results = {};
  for (const role of ['producer', 'fast', 'slow']) results[role] = await exits[role];
  clearInterval(ticker);
  clearTimeout(deadline);
  const { producer, fast, slow } = state;
  console.log(
    `done: sent ${fmtCount(producer.sent)}; fast (tethered) received ${fmtCount(fast.received)}, lost ${fmtCount(fast.lost)}; ` +
      `slow (untethered) received ${fmtCount(slow.received)}, lost ${fmtCount(slow.lost)}`,
  );
  const failed = Object.entries(results).filter(([, r]) => r.code !== 0);
  for (const [role, r] of failed) console.error(`${role} exited with ${r.code ?? r.signal}`);
  const left = leftovers();
  if (left.length > 0) {
    console.error(`left in /dev/shm: ${left.join(', ')} (removing it)`);
    for (const file of left) fs.rmSync(`/dev/shm/${file}`, { force: true });
  } else {
    console.log(`clean: all processes exited, /dev/shm${name} is gone`);
  }
  process.exitCode = failed.length === 0 && left.length === 0 ? 0 : 1;
}

main().catch((error) => {
  console.error(`demo failed: ${error.message}`);
  shutdown('error');
  process.exitCode = 1;
});
