'use strict';
/*
 * Wake hops (issue 14, section 2): one-way latency of waking a consumer that sleeps in an idle event loop,
 * three ways, interleaved: every run is ROUNDS rounds, each round runs the three one after the other (in
 * an order that rotates) for 1/ROUNDS of the duration, so a burst of load from other processes hits all
 * three alike:
 *
 *   thread    producer ─▶ ring ─ FUTEX_WAKE ─▶ native waiter thread ─ thread-safe fn ─▶ consumer event loop
 *   doorbell  producer ─▶ ring ─ write(FIFO) ─▶ consumer event loop (uv_poll: epoll)           (one hop)
 *   uds       producer ─▶ Unix socket ─▶ consumer event loop (epoll)                           (one hop)
 *
 * Consumers use the default options (spin-then-sleep, 'message' listener) and differ only in `wake`; the
 * `.sleep` cases add `wait: 'sleep'` (no spin before sleeping: every message is a wake, the hop alone); the
 * socket side is bench/baselines/uds.js's latency mode (same pacing, 64 B frames). Sends are paced by a
 * spinning producer at 1 000 and 10 000 msg/s; each message carries process.hrtime.bigint() (CLOCK_MONOTONIC,
 * system-wide) and the consumer subtracts it in its callback. The first 5% of samples are dropped.
 * Figures per run: per transport, the median over the rounds of each round's p50 and p99; the paired
 * ratios doorbell/thread, doorbell/uds and thread/uds, computed per round, and their median over the rounds.
 */
const path = require('path');
const { main, ready, nowNs, cpuSeconds } = require('../lib/role');
const { latencySummary } = require('../lib/stats');

const DIST = path.join(__dirname, '..', '..', 'dist');
const UDS = path.join(__dirname, '..', 'baselines', 'uds.js');
const WARMUP_FRACTION = 0.05;
const TRANSPORTS = ['thread', 'doorbell', 'uds'];
const ROUNDS = 5;

function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The latency scenario's paced producer, on a 1 MiB ring. */
function producer(params) {
  return require('./latency').pacedProducer({ capacity: 1 << 20, ...params });
}

async function consumer({ name, wake, wait, expected }) {
  const { Consumer } = require(DIST);
  const k = Consumer.open(name, { wake, ...(wait ? { wait } : {}) });
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
    { script: __filename, role: 'consumer', params: { name, wake: transport, wait: c.wait, expected } },
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
      { id: 'wake-hops.sleep.1000', group: 'wake-hops', rate: 1000, durationMs: low, wait: 'sleep' },
      { id: 'wake-hops.sleep.10000', group: 'wake-hops', rate: 10000, durationMs: paced, wait: 'sleep' },
    ];
  },
  async runOnce(c, ctx) {
    const round = { ...c, durationMs: Math.round(c.durationMs / ROUNDS) };
    const perRound = []; // perRound[r][transport] = consumer summary
    const totals = {};
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order so no transport always runs first (or right after another).
      const shift = runIndex++ % TRANSPORTS.length;
      const order = TRANSPORTS.map((_, i) => TRANSPORTS[(i + shift) % TRANSPORTS.length]);
      const results = {};
      for (const transport of order) {
        const { prod, cons } = await runTransport(transport, round, ctx);
        results[transport] = cons;
        totals[`${transport}_samples`] = (totals[`${transport}_samples`] || 0) + cons.samples;
        totals[`${transport}_cons_cpu_s`] = (totals[`${transport}_cons_cpu_s`] || 0) + cons.consCpuS;
        if (prod) {
          totals[`${transport}_wakes`] = (totals[`${transport}_wakes`] || 0) + prod.wakesSent;
          totals[`${transport}_bells`] = (totals[`${transport}_bells`] || 0) + prod.bellsRung;
        }
      }
      perRound.push(results);
    }
    const metrics = { ...totals };
    for (const transport of TRANSPORTS) {
      for (const q of ['p50', 'p99', 'p999']) metrics[`${transport}_${q}_us`] = median(perRound.map((r) => r[transport][`${q}_us`]));
    }
    for (const q of ['p50', 'p99']) {
      const ratio = (a, b) => median(perRound.map((r) => r[a][`${q}_us`] / r[b][`${q}_us`]));
      metrics[`doorbell_over_thread_${q}`] = ratio('doorbell', 'thread');
      metrics[`doorbell_over_uds_${q}`] = ratio('doorbell', 'uds');
      metrics[`thread_over_uds_${q}`] = ratio('thread', 'uds');
    }
    process.stderr.write(`${TRANSPORTS.map((t) => `${t} p50 ${metrics[`${t}_p50_us`].toFixed(1)} p99 ${metrics[`${t}_p99_us`].toFixed(1)}`).join(' | ')} | doorbell/thread p50 ${metrics.doorbell_over_thread_p50.toFixed(2)} p99 ${metrics.doorbell_over_thread_p99.toFixed(2)}, doorbell/uds p50 ${metrics.doorbell_over_uds_p50.toFixed(2)} p99 ${metrics.doorbell_over_uds_p99.toFixed(2)} ... `);
    return metrics;
  },
};

/** Lines of the report's "Wake hops" section (bench/lib/report.js), or none when the cases did not run. */
module.exports.reportSection = function reportSection(results, { stat, cell, table, mark }) {
  const cases = Object.values(results.cases).filter((c) => c.group === 'wake-hops');
  if (!cases.length) return [];
  const rows = [];
  for (const c of cases) {
    const rate = `${c.rate.toLocaleString('en-US')} msg/s${c.wait ? `, wait: '${c.wait}'` : ''}`;
    for (const [t, label] of [['thread', 'futex → waiter thread → TSFN (two hops)'], ['doorbell', 'doorbell FIFO → uv_poll (one hop)'], ['uds', 'Unix socket, event loop (one hop)']]) {
      rows.push([`${label}, ${rate}${mark(c.id)}`, cell(stat(results, c.id, `${t}_p50_us`)), cell(stat(results, c.id, `${t}_p99_us`)), cell(stat(results, c.id, `${t}_p999_us`))]);
    }
  }
  const ratios = cases.map((c) => [
    `${c.rate.toLocaleString('en-US')} msg/s${c.wait ? `, wait: '${c.wait}'` : ''}${mark(c.id)}`,
    cell(stat(results, c.id, 'doorbell_over_thread_p50')), cell(stat(results, c.id, 'doorbell_over_thread_p99')),
    cell(stat(results, c.id, 'doorbell_over_uds_p50')), cell(stat(results, c.id, 'doorbell_over_uds_p99')),
    cell(stat(results, c.id, 'thread_over_uds_p50')), cell(stat(results, c.id, 'thread_over_uds_p99')),
  ]);
  return [
    '## Wake hops: waking an event-loop consumer (issue 14), one-way µs',
    '',
    `Default consumer options except \`wake\`; paced 64 B sends; the three interleaved in ${ROUNDS} rounds per run (medians over the rounds, then over the runs). Ratios are per round, paired.`,
    '',
    table(['Path', 'p50', 'p99', 'p99.9'], rows),
    '',
    table(['Rate', 'doorbell/thread p50', 'p99', 'doorbell/uds p50', 'p99', 'thread/uds p50', 'p99'], ratios),
    '',
  ];
};

if (require.main === module) main({ producer, consumer });
