#!/usr/bin/env node
'use strict';
// Telemetry fan-in: N application processes publish metrics and events, one collector aggregates them.
//
//   app ─▶ /telemetry.<app>.<pid> ─┐
//   app ─▶ /telemetry.<app>.<pid> ─┼─▶ collector (one Selector, one futex_waitv over every ring)
//   app ─▶ /telemetry.<app>.<pid> ─┘
//
//   node examples/telemetry/run.js [--transport shm|uds] [--apps 4] [--seconds 3] [--prefix /telemetry.]
//
// Starts the collector, then the apps; after --seconds stops the apps (each closes its ring, or its
// socket), then the collector (which drains what is left), prints the aggregates and checks that every
// message sent was received and that nothing is left in /dev/shm. SIGINT/SIGTERM: the same shutdown, in
// the same order (Ctrl-C does not reach the collector: it has a process group of its own).
const { fork } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function option(flag, fallback) {
  const index = process.argv.indexOf(flag);
  return index === -1 ? fallback : process.argv[index + 1];
}
const transport = option('--transport', 'shm');
const appCount = Number(option('--apps', '4'));
const seconds = Number(option('--seconds', '3'));
const prefix = option('--prefix', `/telemetry.${process.pid}.`);
const socketPath = path.join(os.tmpdir(), `telemetry.${process.pid}.sock`);
if (transport !== 'shm' && transport !== 'uds') throw new Error(`--transport must be shm or uds, got ${transport}`);

const env = { ...process.env, TELEMETRY_PREFIX: prefix, TELEMETRY_SOCKET: socketPath };
const reports = new Map();
const children = [];

function start(role, args = []) {
  // The collector runs in a process group of its own: Ctrl-C (SIGINT to the terminal's process group)
  // reaches this launcher and the apps, not the collector, which must keep draining until the apps have
  // closed their rings; this launcher stops it last. (If this launcher dies, the collector sees its IPC
  // channel close and stops.)
  const detached = role === 'collector';
  const child = fork(path.join(__dirname, transport, `${role}.js`), args, { env, detached, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  child.on('error', () => {}); // IPC to a child that is exiting: its exit code tells the story
  const name = args[0] ?? role;
  child.on('message', (message) => {
    if (!message.ready) reports.set(name, message);
  });
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    child.on('message', (message) => message.ready && resolve(child));
    child.once('exit', (code, signal) => {
      // Ctrl-C reaches the whole process group, so it can stop a child still starting (before it has
      // its own handler), possibly before this process has handled its own SIGINT: that child never
      // sent anything and is no failure. Anything else is.
      if (stopping || signal === 'SIGINT' || signal === 'SIGTERM') resolve(undefined);
      else reject(new Error(`${name} exited (${code ?? signal}) before it was ready`));
    });
  });
}

function shmLeftovers() {
  return fs.readdirSync('/dev/shm').filter((file) => file.startsWith(prefix.slice(1)));
}

let stopRequested;
/** Set as soon as a stop is requested, also while the children are still starting. */
let stopping = false;
const stopSignal = new Promise((resolve) => {
  stopRequested = (reason) => {
    stopping = true;
    resolve(reason);
  };
});
process.on('SIGINT', () => stopRequested('SIGINT'));
process.on('SIGTERM', () => stopRequested('SIGTERM'));

async function main() {
  console.log(`telemetry over ${transport}: ${appCount} apps for ${seconds} s`);
  const collector = await start('collector');
  if (collector !== undefined) console.log('collector ready, starting the apps');
  const apps = [];
  // A stop requested while starting (Ctrl-C early) stops starting more apps; those running stop as usual.
  for (let i = 0; i < appCount && !stopping; i++) {
    const app = await start('app', [`app${i}`]);
    if (app !== undefined) apps.push(app);
  }
  if (!stopping) console.log(`${apps.length} apps running`);
  const timer = setTimeout(() => stopRequested('time is up'), seconds * 1000);
  const reason = await stopSignal;
  clearTimeout(timer);
  console.log(`${reason}: stopping the apps, then the collector`);
  // The apps may already have the signal (Ctrl-C reaches the whole process group): signalling again is harmless.
  for (const app of apps) app.kill('SIGTERM');
  await Promise.all(apps.map((app) => app.exited));
  // Stopped before the collector was ready: no app started, nothing was sent.
  let collectorExit = 0;
  if (collector !== undefined) {
    collector.kill('SIGTERM');
    collectorExit = await collector.exited;
  }

  const sent = [...reports].filter(([name]) => name !== 'collector').reduce((sum, [, r]) => sum + r.sent, 0);
  const dropped = [...reports].filter(([name]) => name !== 'collector').reduce((sum, [, r]) => sum + r.dropped, 0);
  if (collectorExit !== 0) console.log(`the collector exited with ${collectorExit}`);
  const received = reports.get('collector')?.received ?? 0;
  const left = shmLeftovers();
  console.log(`sent ${sent} (dropped by apps: ${dropped}), received ${received}: ${sent === received ? 'every message arrived' : 'MISMATCH'}`);
  console.log(`left in /dev/shm: ${left.length === 0 ? 'nothing' : left.join(', ')}`);
  if (transport === 'uds') fs.rmSync(socketPath, { force: true });
  process.exitCode = collectorExit === 0 && sent === received && left.length === 0 ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  process.exitCode = 1;
});
