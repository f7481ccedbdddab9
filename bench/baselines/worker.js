'use strict';
/*
 * Reference (threads, not processes): worker_threads MessagePort, the in-process ceiling of Node's own
 * messaging. Shown for orientation only: it is not an option between separate processes.
 *
 *   producer process: main thread ─▶ MessagePort (postMessage, structured clone) ─▶ worker thread
 *
 * postMessage has no backpressure, so the consumer returns a credit every 1024 messages and the
 * producer keeps at most 16 Ki messages in flight (otherwise the queue grows without bound).
 */
const { Worker, parentPort, isMainThread, workerData } = require('worker_threads');
const { PAYLOADS, telemetry } = require('../lib/payloads');

const CREDIT_EVERY = 1024;
const WINDOW = 16 * 1024;

function workerMain() {
  const { nowNs, cpuSeconds } = require('../lib/role');
  const cpu0 = process.cpuUsage(); // process-wide: includes the producer thread (reported separately)
  void cpu0; void cpuSeconds;
  let messages = 0;
  let bytes = 0;
  let sequenceErrors = 0;
  let checksum = 0;
  parentPort.on('message', (m) => {
    if (m === 'end') {
      parentPort.postMessage({ result: { tEnd: nowNs(), messages, bytes, sequenceErrors, checksum } });
      return;
    }
    if (m instanceof Uint8Array) {
      if ((m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24)) >>> 0 !== messages >>> 0) sequenceErrors++;
      bytes += m.length;
    } else {
      checksum += m.tags.core;
    }
    messages++;
    if (messages % CREDIT_EVERY === 0) parentPort.postMessage(messages);
  });
  void workerData;
}

async function producer({ payload, durationMs, maxMessages }) {
  const { ready, nowNs, cpuSeconds } = require('../lib/role');
  const def = PAYLOADS[payload];
  const worker = new Worker(__filename, { workerData: {} });
  let acked = 0;
  let waiter = null;
  let resolveResult;
  const result = new Promise((resolve) => { resolveResult = resolve; });
  worker.on('message', (m) => {
    if (typeof m === 'number') { acked = m; if (waiter) { const w = waiter; waiter = null; w(); } } else if (m && m.result) resolveResult(m.result);
  });
  await new Promise((resolve) => worker.once('online', resolve));
  const raw = def.kind === 'obj' ? null : new Uint8Array(def.size).fill(0xab);
  await ready();
  const cpu0 = process.cpuUsage();
  const t0 = nowNs();
  const deadline = t0 + durationMs * 1e6;
  let sent = 0;
  while (sent < maxMessages && (sent & 63 || nowNs() < deadline)) {
    if (raw) {
      raw[0] = sent; raw[1] = sent >>> 8; raw[2] = sent >>> 16; raw[3] = sent >>> 24;
      worker.postMessage(raw);
    } else {
      worker.postMessage(telemetry(sent));
    }
    sent++;
    while (sent - acked >= WINDOW) await new Promise((resolve) => { waiter = resolve; });
  }
  worker.postMessage('end');
  const cons = await result;
  const cpuBoth = cpuSeconds(cpu0);
  await worker.terminate();
  // Threads share one process: CPU is reported for both sides together, split evenly.
  return { t0, sent, prodCpuS: cpuBoth / 2, consumer: { ...cons, consCpuS: cpuBoth / 2 } };
}

module.exports = {
  name: 'worker',
  title: 'worker_threads MessagePort (threads; reference)',
  cases(opts) {
    const payloads = opts.quick ? ['raw64', 'obj'] : ['raw16', 'raw64', 'raw1k', 'raw16k', 'obj'];
    return payloads.map((payload) => ({ id: `worker.tput.${payload}`, group: 'throughput', transport: 'worker', payload, consumers: 1 }));
  },
  async runOnce(c, ctx) {
    const [prod] = await ctx.runProcesses([
      { script: __filename, role: 'producer', params: { payload: c.payload, durationMs: ctx.tputMs, maxMessages: 50e6 }, trigger: true },
    ], { timeoutMs: ctx.runTimeoutMs });
    return ctx.throughputMetrics(prod, prod.consumer, c.payload);
  },
};

if (!isMainThread) workerMain();
else if (require.main === module) require('../lib/role').main({ producer });
