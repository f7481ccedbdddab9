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
// message sent was received and that nothing is left in /dev/shm. SIGINT/SIGTERM: the same shutdown.
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
  const child = fork(path.join(__dirname, transport, `${role}.js`), args, { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  child.on('error', () => {}); // IPC to a child that is exiting: its exit code tells the story
  const name = args[0] ?? role;
  child.on('message', (message) => {
    if (!message.ready) reports.set(name, message);
  });
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    child.on('message', (message) => message.ready && resolve(child));
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready`)));
  });
}

function shmLeftovers() {
  return fs.readdirSync('/dev/shm').filter((file) => file.startsWith(prefix.slice(1)));
}

let stopRequested;
const stopSignal = new Promise((resolve) => {
  stopRequested = resolve;
});
process.on('SIGINT', () => stopRequested('SIGINT'));
process.on('SIGTERM', () => stopRequested('SIGTERM'));

async function main() {
  console.log(`telemetry over ${transport}: ${appCount} apps for ${seconds} s`);
  const collector = await start('collector');
  const apps = [];
  for (let i = 0; i < appCount; i++) apps.push(await start('app', [`app${i}`]));
  const timer = setTimeout(() => stopRequested('time is up'), seconds * 1000);
  const reason = await stopSignal;
  clearTimeout(timer);
  console.log(`${reason}: stopping the apps, then the collector`);
  // The apps may already have the signal (Ctrl-C reaches the whole process group): signalling again is harmless.
  for (const app of apps) app.kill('SIGTERM');
  await Promise.all(apps.map((app) => app.exited));
  collector.kill('SIGTERM');
  const collectorExit = await collector.exited;

  const sent = [...reports].filter(([name]) => name !== 'collector').reduce((sum, [, r]) => sum + r.sent, 0);
  const dropped = [...reports].filter(([name]) => name !== 'collector').reduce((sum, [, r]) => sum + r.dropped, 0);
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
