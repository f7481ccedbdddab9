#!/usr/bin/env node
'use strict';
// A producer in its own process, and a consumer in a worker thread of this process:
//
//   producer.js (process) ─▶ /shmring-workers.<pid> ─▶ consumer-worker.js (worker_threads, this process)
//
// The main thread stays free: it prints a line per second while the worker receives (sleeping in the
// kernel, or busy-spinning with --spin). After --seconds (default 3), or on SIGINT/SIGTERM, the producer
// closes; the worker reads to the end of stream and exits; nothing is left in /dev/shm.
const { fork } = require('child_process');
const fs = require('fs');
const path = require('path');
const { Worker } = require('worker_threads');

function option(flag, fallback) {
  const index = process.argv.indexOf(flag);
  return index === -1 ? fallback : process.argv[index + 1];
}
const seconds = Number(option('--seconds', '3'));
const rate = Number(option('--rate', '20000'));
const spin = process.argv.includes('--spin');
const name = option('--name', `/shmring-workers.${process.pid}`);

let producer;
let worker;
let shuttingDown = false;
let deadline;
let mainTicks = 0;
const mainTimer = setInterval(() => mainTicks++, 10); // proof that the main thread is never blocked
const status = { received: 0, lost: 0, meanLatencyUs: 0, sent: 0 };

function shutdown(reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  clearTimeout(deadline);
  console.log(`${reason}: closing the producer; the worker reads to the end`);
  // A producer that is no longer connected is already closing (it got the signal too): leave it be.
  if (producer?.connected) producer.send('stop', () => {});
  // A signal meant for everyone (Ctrl-C): the worker also leaves after draining what is there.
  if (reason.startsWith('SIG')) worker?.postMessage('stop');
  setTimeout(() => {
    producer?.kill('SIGKILL');
    void worker?.terminate();
  }, 5000).unref();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

function main() {
  console.log(`workers: producer process at ${rate}/s ─▶ consumer in a worker thread (${spin ? "wait: 'spin'" : 'sleeping'}), ${seconds} s`);
  producer = fork(path.join(__dirname, 'producer.js'), [name, String(rate)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  producer.on('error', () => {}); // IPC to a producer that is exiting (EPIPE): its exit code tells the story
  const producerExit = new Promise((resolve) => producer.on('exit', (code, signal) => resolve(code ?? signal)));
  producer.on('message', (message) => {
    if (message.sent !== undefined) status.sent = message.sent;
    if (!message.ready) return;
    // The ring exists: start the consumer, then let the producer go.
    worker = new Worker(path.join(__dirname, 'consumer-worker.js'), { workerData: { name, spin } });
    worker.on('message', (update) => {
      if (update.ready) {
        if (producer.connected) producer.send('start', () => {});
        if (shuttingDown) {
          if (producer.connected) producer.send('stop', () => {});
        } else {
          deadline = setTimeout(() => shutdown(`${seconds} s elapsed`), seconds * 1000);
        }
        return;
      }
      if (update.error) console.error(`worker: ${update.error}`);
      Object.assign(status, update);
    });
    worker.on('error', (error) => console.error(`worker: ${error.message}`));
    const ticker = setInterval(() => {
      console.log(
        `main thread alive (${mainTicks} timer ticks) │ worker received ${status.received.toLocaleString('en-US')}` +
          `, lost ${status.lost}, mean one-way latency ${status.meanLatencyUs.toFixed(1)} µs`,
      );
    }, 1000);
    worker.on('exit', async (code) => {
      clearInterval(ticker);
      clearInterval(mainTimer);
      const producerCode = await producerExit;
      const left = fs.readdirSync('/dev/shm').filter((f) => f === name.slice(1));
      for (const file of left) fs.rmSync(`/dev/shm/${file}`, { force: true });
      console.log(
        `summary: sent ${status.sent}, worker received ${status.received}, lost ${status.lost}; ` +
          `worker exit ${code}, producer exit ${producerCode}; /dev/shm ${left.length === 0 ? 'clean' : 'NOT clean'}`,
      );
      process.exitCode = code === 0 && producerCode === 0 && left.length === 0 ? 0 : 1;
    });
  });
  producer.on('exit', (code) => {
    if (!worker) {
      console.error(`producer exited (${code}) before the ring was ready`);
      clearInterval(mainTimer);
      process.exitCode = 1;
    }
  });
}

main();
