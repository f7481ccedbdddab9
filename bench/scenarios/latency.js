'use strict';
/*
 * shmring one-way latency: p50 / p99 / p99.9 of (receive time − send time), stamped in the message.
 *
 *   producer process ─▶ ring, paced sends, hrtime stamp in a 64 B message ─▶ consumer process
 *
 * One clock for both processes: process.hrtime.bigint() is CLOCK_MONOTONIC, system-wide.
 * Consumer modes:
 *   spin        wait: 'spin', tryReceiveBytes() in a busy loop (lowest latency, burns a core), 40 000 msg/s
 *               (SPIN_RATE: a 3 s run then has ≥ 100 000 samples; the consumer never sleeps, so the rate
 *               does not change what a sample measures). The clock's own cost is subtracted: each sample
 *               spans about one clock read (the end of the producer's, the start of the consumer's), and
 *               process.hrtime.bigint() costs 50-200 ns here, a large share of a sub-microsecond one-way
 *               time (Node has no cheaper clock: performance.now() and process.hrtime() cost as much). The
 *               consumer measures it before the run (median interval between back-to-back reads) and
 *               reports it as clock_ns.
 *   event-loop  the defaults (spin-then-sleep) with a 'message' listener in an ordinary event loop, 10 000 msg/s
 *   low-rate    the same consumer at 1 000 msg/s, where sleeping (futex wake) dominates
 * The producer spins between sends so send times are exact. The first 5% of samples are dropped
 * (JIT warm-up). Compared with: uds.lat.paced / uds.lat.low-rate (same pacing, same 64 B frames,
 * an event-loop consumer), and c-ring.lat.pingpong (busy-spin, RTT/2).
 */
const path = require('path');
const { main, ready, nowNs, cpuSeconds } = require('../lib/role');
const { latencySummary } = require('../lib/stats');

const DIST = path.join(__dirname, '..', '..', 'dist');
const WARMUP_FRACTION = 0.05;
/** The spin case's send rate: 3 s at 40 000 msg/s gives ≥ 100 000 samples after the warm-up is dropped. */
const SPIN_RATE = 40000;

/** Median interval between two back-to-back process.hrtime.bigint() reads, in ns: what a sample's clock costs it. */
function clockCostNs() {
  const pairs = new Float64Array(20001);
  for (let i = 0; i < pairs.length; i++) {
    const a = process.hrtime.bigint();
    const b = process.hrtime.bigint();
    pairs[i] = Number(b - a);
  }
  pairs.sort();
  return pairs[pairs.length >> 1];
}

/** The paced producer (also wake-hops.js's): 64 B frames carrying their send time, `rate` per second. */
async function producer({ name, capacity, rate, durationMs }) {
  const { Producer } = require(DIST);
  const p = Producer.create(name, { capacity });
  try {
    const count = Math.max(10, Math.round((rate * durationMs) / 1000));
    const intervalNs = 1e9 / rate;
    const msg = new Uint8Array(64);
    const view = new DataView(msg.buffer);
    await ready();
    let next = nowNs();
    for (let i = 0; i < count; i++) {
      next += intervalNs;
      while (nowNs() < next) { /* pacing */ }
      view.setBigUint64(0, process.hrtime.bigint(), true);
      view.setUint32(8, i, true);
      if (!p.sendBytes(msg)) p.sendBytesSync(msg, 1000);
    }
    p.sendBytesSync(Uint8Array.of(0xee), 1000); // end marker: a 1-byte message
    const { wakesSent, bellsRung } = p.stats;
    return { sent: count, wakesSent, bellsRung };
  } finally {
    p.close();
  }
}

async function consumer({ name, mode, expected }) {
  const { Consumer } = require(DIST);
  const k = Consumer.open(name, { tethered: true, from: 'next', ...(mode === 'spin' ? { wait: 'spin' } : {}) });
  const samples = new Float64Array(expected + 16);
  let n = 0;
  try {
    const clockNs = mode === 'spin' ? clockCostNs() : 0;
    await ready();
    const cpu0 = process.cpuUsage();
    const giveUp = nowNs() + (expected / 100 + 30) * 1e9;
    if (mode === 'spin') {
      for (let spins = 0; ; spins++) {
        const m = k.tryReceiveBytes();
        if (m === undefined) {
          if ((spins & 0xffff) === 0 && (k.ended || nowNs() > giveUp)) throw new Error('no end marker');
          continue;
        }
        const now = process.hrtime.bigint();
        if (m.length !== 64) break;
        if (n < samples.length) samples[n++] = Number(now - new DataView(m.buffer, m.byteOffset, 16).getBigUint64(0, true));
      }
    } else {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no end marker')), Number(giveUp - nowNs()) / 1e6);
        k.on('message', (m) => {
          const now = process.hrtime.bigint();
          if (m.length !== 64) { clearTimeout(timer); k.pause(); resolve(); return; }
          if (n < samples.length) samples[n++] = Number(now - new DataView(m.buffer, m.byteOffset, 16).getBigUint64(0, true));
        });
        k.on('error', reject);
      });
    }
    const consCpuS = cpuSeconds(cpu0);
    const kept = samples.slice(Math.floor(n * WARMUP_FRACTION), n);
    // The spin case's samples without the clock read each includes (see the header).
    if (clockNs > 0) for (let i = 0; i < kept.length; i++) kept[i] = Math.max(0, kept[i] - clockNs);
    return { ...latencySummary(kept), consCpuS, ...(clockNs > 0 ? { clock_ns: clockNs } : {}) };
  } finally {
    k.close();
  }
}

module.exports = {
  pacedProducer: producer,
  name: 'latency',
  title: 'shmring one-way latency',
  available: async () => require('./throughput').libraryAvailable(),
  cases(ctx) {
    const [paced, low] = ctx.latencyModes;
    return [
      { id: 'shmring.lat.spin', group: 'latency', transport: 'shmring', latencyMode: 'spin', consumerMode: 'spin', rate: SPIN_RATE, durationMs: paced.durationMs },
      { id: 'shmring.lat.event-loop', group: 'latency', transport: 'shmring', latencyMode: 'event-loop', consumerMode: 'event-loop', rate: paced.rate, durationMs: paced.durationMs },
      { id: 'shmring.lat.low-rate', group: 'latency', transport: 'shmring', latencyMode: 'low-rate', consumerMode: 'event-loop', rate: low.rate, durationMs: low.durationMs },
    ];
  },
  async runOnce(c, ctx) {
    const name = ctx.uniqueSegmentName('lat');
    const expected = Math.max(10, Math.round((c.rate * c.durationMs) / 1000));
    const [, cons] = await ctx.runProcesses([
      { script: __filename, role: 'producer', params: { name, capacity: ctx.capacity, rate: c.rate, durationMs: c.durationMs }, trigger: true },
      { script: __filename, role: 'consumer', params: { name, mode: c.consumerMode, expected } },
    ], { timeoutMs: ctx.runTimeoutMs + c.durationMs });
    return cons;
  },
};

if (require.main === module) main({ producer, consumer });
