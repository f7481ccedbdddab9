#!/usr/bin/env node
'use strict';
// node examples/logs/run.js: an application logging with pino into a ring, and a collector writing the
// lines to a file, each in its own process.
//
//   app.js (pino + shmring/pino transport) ─▶ /shmring-logs.<pid> ─▶ collector.js ─▶ <tmp>/app.log
//
// Starts the collector first (it waits for the ring), then the app; checks that the file holds every line
// the app logged, in order; exits 0 when it does and /dev/shm is clean.
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function option(flag, fallback) {
  const index = process.argv.indexOf(flag);
  return index === -1 ? fallback : process.argv[index + 1];
}
const lines = Number(option('--lines', '5000'));
const name = option('--name', `/shmring-logs.${process.pid}`);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-logs-'));
const logFile = path.join(dir, 'app.log');

function start(script, args) {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...args], { stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    process.stderr.write(chunk);
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}
const stopAll = [];
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => stopAll.forEach((child) => child.kill('SIGTERM')));

async function main() {
  console.log(`logs example: app ─▶ ring ${name} ─▶ collector ─▶ ${logFile}`);
  const collector = start('collector.js', [name, '--out', logFile]);
  stopAll.push(collector.child);
  // Start the app once the collector is waiting for the ring.
  while (!collector.stderr().includes('waiting for')) {
    if (collector.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const app = start('app.js', [name, '--lines', String(lines)]);
  stopAll.push(app.child);
  const [appCode, collectorCode] = await Promise.all([app.exited, collector.exited]);

  const written = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean) : [];
  const inOrder = written.every((line, i) => JSON.parse(line).n === i);
  console.log(`app exit ${appCode}, collector exit ${collectorCode}; ${written.length} of ${lines} lines in the file`);
  console.log(`first line: ${written[0]}`);
  const left = fs.readdirSync('/dev/shm').filter((file) => file === name.slice(1));
  fs.rmSync(dir, { recursive: true, force: true });
  const ok = appCode === 0 && collectorCode === 0 && written.length === lines && inOrder && left.length === 0;
  console.log(ok ? 'every line arrived, in order; /dev/shm is clean' : `FAILED (in order: ${inOrder}, left in /dev/shm: ${left.join(', ') || 'nothing'})`);
  process.exitCode = ok ? 0 : 1;
}
main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
