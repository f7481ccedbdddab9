'use strict';
/*
 * Wake hops (issue 14, section 2): one-way latency of waking a consumer that sleeps in an idle event loop,
 * three ways, interleaved in every run (the order rotates from run to run):
 *
 *   thread    producer ─▶ ring ─ FUTEX_WAKE ─▶ native waiter thread ─ thread-safe fn ─▶ consumer event loop
 *   doorbell  producer ─▶ ring ─ write(FIFO) ─▶ consumer event loop (uv_poll: epoll)           (one hop)
 *   uds       producer ─▶ Unix socket ─▶ consumer event loop (epoll)                           (one hop)
 *
 * Consumers use the default options (spin-then-sleep, 'message' listener) and differ only in `wake`; the
 * socket side is bench/baselines/uds.js's latency mode (same pacing, 64 B frames). Sends are paced by a
 * spinning producer at 1 000 and 10 000 msg/s; each message carries process.hrtime.bigint() (CLOCK_MONOTONIC,
 * system-wide) and the consumer subtracts it in its callback. The first 5% of samples are dropped.
 * Figures per run: p50/p99 per transport, and the paired ratios doorbell/thread and doorbell/uds.
 */
const path = require('path');
const { main, ready, nowNs, cpuSeconds } = require('../lib/role');
const { latencySummary } = require('../lib/stats');

const DIST = path.join(__dirname, '..', '..', 'dist');
const UDS = path.join(__dirname, '..', 'baselines', 'uds.js');
const WARMUP_FRACTION = 0.05;
const TRANSPORTS = ['thread', 'doorbell', 'uds'];

async function producer({ name, rate, durationMs }) {
  const { Producer } = require(DIST);
  const p = Producer.create(name, { capacity: 1 << 20 });
  try {
    const count = Math.max(10, Math.round((rate * durationMs) / 1000));
    const intervalNs = 1e9 / rate;
    const msg = new Uint8Array(64);
    const view = new DataView(msg.buffer);
    await ready();
    let next = nowNs();
    for (let i = 0; i < count; i++) {
      next += intervalNs;
      while (nowNs() < next) { /* pacing: spin so the send time is exact */ }
      view.setBigUint64(0, process.hrtime.bigint(), true);
      if (!p.sendBytes(msg)) p.sendBytesSync(msg, 1000);
    }
    p.sendBytesSync(Uint8Array.of(0xee), 1000); // end marker: a 1-byte message
    const { wakesSent, bellsRung } = p.stats;
    return { sent: count, wakesSent, bellsRung };
  } finally {
    p.close();
  }
}

async function consumer({ name, wake, expected }) {
  const { Consumer } = require(DIST);
  const k = Consumer.open(name, { wake });
  const samples = new Float64Array(expected + 16);
  let n = 0;
  try {
    await ready();
    const cpu0 = process.cpuUsage();
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no end marker')), expected / 100 * 1000 + 30000);
      k.on('message', (m) => {
        const now = process.hrtime.bigint();
        if (m.length !== 64) { clearTimeout(timer); k.pause(); resolve(); return; }
        if (n < samples.length) samples[n++] = Number(now - new DataView(m.buffer, m.byteOffset, 16).getBigUint64(0, true));
      });
      k.on('error', reject);
    });
    const consCpuS = cpuSeconds(cpu0);
    return { ...latencySummary(samples.slice(Math.floor(n * WARMUP_FRACTION), n)), consCpuS };
  } finally {
    k.close();
  }
}

async function runTransport(transport, c, ctx) {
  const timeoutMs = ctx.runTimeoutMs + c.durationMs;
  if (transport === 'uds') {
    const socketPath = ctx.uniqueSocketPath('wake');
    const [cons] = await ctx.runProcesses([
      { script: UDS, role: 'lat-consumer', params: { socketPath } },
      { script: UDS, role: 'lat-producer', params: { socketPath, rate: c.rate, durationMs: c.durationMs }, trigger: true },
    ], { timeoutMs });
    return { cons };
  }
  const name = ctx.uniqueSegmentName('wake');
  const expected = Math.max(10, Math.round((c.rate * c.durationMs) / 1000));
  const [prod, cons] = await ctx.runProcesses([
    { script: __filename, role: 'producer', params: { name, rate: c.rate, durationMs: c.durationMs }, trigger: true },
    { script: __filename, role: 'consumer', params: { name, wake: transport, expected } },
  ], { timeoutMs });
  return { prod, cons };
}

let runIndex = 0;

module.exports = {
  name: 'wake-hops',
  title: 'Wake hops: futex + waiter thread vs doorbell vs Unix socket, event-loop consumer',
  available: async () => require('./throughput').libraryAvailable(),
  cases(ctx) {
    const low = ctx.quick ? 800 : 5000;
    const paced = ctx.quick ? 500 : 3000;
    return [
      { id: 'wake-hops.1000', group: 'wake-hops', rate: 1000, durationMs: low },
      { id: 'wake-hops.10000', group: 'wake-hops', rate: 10000, durationMs: paced },
    ];
  },
  async runOnce(c, ctx) {
    // Rotate the order so no transport always runs first (or right after another).
    const shift = runIndex++ % TRANSPORTS.length;
    const order = TRANSPORTS.map((_, i) => TRANSPORTS[(i + shift) % TRANSPORTS.length]);
    const metrics = {};
    for (const transport of order) {
      const { prod, cons } = await runTransport(transport, c, ctx);
      metrics[`${transport}_p50_us`] = cons.p50_us;
      metrics[`${transport}_p99_us`] = cons.p99_us;
      metrics[`${transport}_p999_us`] = cons.p999_us;
      metrics[`${transport}_samples`] = cons.samples;
      metrics[`${transport}_cons_cpu_s`] = cons.consCpuS;
      if (prod) {
        metrics[`${transport}_wakes`] = prod.wakesSent;
        metrics[`${transport}_bells`] = prod.bellsRung;
      }
    }
    for (const q of ['p50', 'p99']) {
      metrics[`doorbell_over_thread_${q}`] = metrics[`doorbell_${q}_us`] / metrics[`thread_${q}_us`];
      metrics[`doorbell_over_uds_${q}`] = metrics[`doorbell_${q}_us`] / metrics[`uds_${q}_us`];
      metrics[`thread_over_uds_${q}`] = metrics[`thread_${q}_us`] / metrics[`uds_${q}_us`];
    }
    process.stderr.write(`order ${order.join(',')}: ${TRANSPORTS.map((t) => `${t} p50 ${metrics[`${t}_p50_us`].toFixed(1)} p99 ${metrics[`${t}_p99_us`].toFixed(1)}`).join(' | ')} ... `);
    return metrics;
  },
};

if (require.main === module) main({ producer, consumer });
