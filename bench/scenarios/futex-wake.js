'use strict';
/*
 * Cross-process futex wake round trip (issue 2), next to a ping-pong over a Unix domain socket
 * (uds.pingpong, same run).
 *
 *   pinger process ──wake(ping)──▶ shm word ──▶ ponger process (blocked in futex.wait)
 *   pinger process (blocked in futex.wait) ◀── shm word ◀──wake(pong)── ponger process
 *
 * Both sides sleep in the kernel for every message (no spinning): this is the cost of one wake each
 * way, i.e. what a sleeping consumer pays. Two ponger variants:
 *   blocking   futex.wait() on the ponger's main thread (workers, dedicated processes)
 *   waitAsync  futex.waitAsync() resolving into the ponger's event loop (the native waiter thread)
 * The pinger always blocks in futex.wait. Figures: round-trip p50/p99/p99.9.
 * Words: ping at byte 0, pong at byte 128 (separate cache-line pairs) of a one-page segment.
 */
const path = require('path');
const { main, ready, nowNs } = require('../lib/role');
const { latencySummary } = require('../lib/stats');

const DIST = path.join(__dirname, '..', '..', 'dist');
const PING = 0;
const PONG = 128;

function mapWords(name, create) {
  const { Segment } = require(path.join(DIST, 'core', 'segment'));
  const segment = create ? Segment.create(name, 4096) : Segment.open(name);
  const buffer = segment.map(0, 4096, { writable: true });
  return { segment, buffer, words: new Int32Array(buffer) };
}

/** Blocks until words[index] === value (bounded: throws after `giveUpNs`). */
function waitFor(futex, buffer, words, index, value, giveUpNs) {
  for (;;) {
    const current = Atomics.load(words, index);
    if (current === value) return;
    if (nowNs() > giveUpNs) throw new Error('peer stopped answering');
    futex.wait(buffer, index * 4, current, 1000);
  }
}

async function pinger({ name, rounds, warmup }) {
  const futex = require(path.join(DIST, 'core', 'futex'));
  const { Segment } = require(path.join(DIST, 'core', 'segment'));
  const { segment, buffer, words } = mapWords(name, true);
  try {
    await ready();
    const rtt = new Float64Array(rounds);
    const giveUp = nowNs() + 60e9;
    for (let i = 1; i <= rounds + warmup; i++) {
      const t0 = nowNs();
      Atomics.store(words, PING / 4, i);
      futex.wake(buffer, PING, 1);
      waitFor(futex, buffer, words, PONG / 4, i, giveUp);
      const t1 = nowNs();
      if (i > warmup) rtt[i - warmup - 1] = t1 - t0;
    }
    Atomics.store(words, PING / 4, -1);
    futex.wake(buffer, PING, 1);
    const s = latencySummary(rtt);
    return { rtt_p50_us: s.p50_us, rtt_p99_us: s.p99_us, rtt_p999_us: s.p999_us, samples: s.samples };
  } finally {
    segment.close();
    try { Segment.unlink(name); } catch { /* already gone */ }
  }
}

async function ponger({ name, mode }) {
  const futex = require(path.join(DIST, 'core', 'futex'));
  const { segment, buffer, words } = mapWords(name, false);
  try {
    await ready();
    const giveUp = nowNs() + 60e9;
    let last = 0;
    for (;;) {
      let current = Atomics.load(words, PING / 4);
      while (current === last) {
        if (nowNs() > giveUp) throw new Error('pinger stopped');
        if (mode === 'waitAsync') await futex.waitAsync(buffer, PING, current, { timeout: 1000 });
        else futex.wait(buffer, PING, current, 1000);
        current = Atomics.load(words, PING / 4);
      }
      if (current === -1) break;
      last = current;
      Atomics.store(words, PONG / 4, current);
      futex.wake(buffer, PONG, 1);
    }
    return {};
  } finally {
    segment.close();
  }
}

function available() {
  try {
    const futex = require(path.join(DIST, 'core', 'futex'));
    const { Segment } = require(path.join(DIST, 'core', 'segment'));
    if (typeof futex.wait !== 'function' || typeof futex.waitAsync !== 'function' || typeof Segment.create !== 'function') {
      return 'dist/futex or dist/segment lacks wait/waitAsync/Segment.create';
    }
    return true;
  } catch (err) {
    return `dist/futex or dist/segment missing (npm run build): ${err.message.split('\n')[0]}`;
  }
}

module.exports = {
  name: 'futex-wake',
  title: 'cross-process futex wake round trip',
  available: async () => available(),
  cases() {
    return [
      { id: 'futex.rtt.blocking', group: 'wake', transport: 'futex', mechanism: 'futex wait ⇄ wake (blocking)', mode: 'blocking' },
      { id: 'futex.rtt.waitAsync', group: 'wake', transport: 'futex', mechanism: 'futex wake → waitAsync (event loop)', mode: 'waitAsync' },
    ];
  },
  async runOnce(c, ctx) {
    const name = ctx.uniqueSegmentName('futex');
    const [ping] = await ctx.runProcesses([
      { script: __filename, role: 'pinger', params: { name, rounds: ctx.pingRounds, warmup: 200 }, trigger: true },
      { script: __filename, role: 'ponger', params: { name, mode: c.mode } },
    ], { timeoutMs: ctx.runTimeoutMs });
    return ping;
  },
};

if (require.main === module) main({ pinger, ponger });
