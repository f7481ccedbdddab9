'use strict';
/*
 * Join/leave stalls (issue 13, item 3): does a producer ever sleep for space it already has?
 *
 *   producer (sendBytesSync or sendBytesAsync, 64 B, 4 KiB ring) ─▶ ring ◀─ 2 consumer processes, each
 *   joining tethered, reading 0–32 messages and leaving, over and over        + 1 process spinning (load)
 *
 * A 4 KiB ring holds 64 such messages, so the producer waits for space many times per join. Every head
 * move that frees space (a read, a join settling its head, a leave, a reclaim) must wake it; a lost wakeup
 * shows as one send taking a whole `livenessIntervalMs` (500 ms by default), the producer's fallback poll.
 * Each send is timed; a "stall" is one send taking longer than 50 ms. Goal: none over 10 000 joins/leaves
 * (full mode; 1 000 quick) with a CPU-bound process occupying one of the two cores.
 *
 * Nothing is pinned: the four processes share the two CPUs as the scheduler likes, as on a loaded host.
 * A consumer preempted while it holds the ring can legitimately delay the producer, but for a scheduler
 * slice (milliseconds), far below the 50 ms bound.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { main, ready } = require('../lib/role');

const DIST = path.join(__dirname, '..', '..', 'dist');
const STALL_MS = 50;
// A sleep that lasted the producer's fallback timeout (livenessIntervalMs, 500 ms by default): the
// signature of a lost wakeup, as opposed to a consumer descheduled while it held the ring.
const FALLBACK_SLEEP_MS = 450;
const RING_CAPACITY = 4096;
const PAYLOAD = new Uint8Array(64);

const CONSUMERS = 2;

/** True once every consumer wrote its done file (checked every few hundred sends: a readdir is ~µs). */
function finished(doneDir) {
  return fs.readdirSync(doneDir).length >= CONSUMERS;
}

async function producer({ name, mode, doneDir, deadlineMs }) {
  const { Producer } = require(DIST);
  const p = Producer.create(name, { capacity: RING_CAPACITY });
  try {
    await ready();
    const stop = Date.now() + deadlineMs;
    let sends = 0;
    let stalls = 0;
    let fallbackSleeps = 0;
    let longestNs = 0;
    let waitedNs = 0;
    for (;;) {
      if ((sends & 255) === 0 && (finished(doneDir) || Date.now() > stop)) break;
      const t0 = process.hrtime.bigint();
      if (mode === 'sync') {
        if (!p.sendBytesSync(PAYLOAD, 10000)) throw new Error('sendBytesSync timed out after 10 s');
      } else {
        await p.sendBytesAsync(PAYLOAD, { timeout: 10000 });
      }
      const ns = Number(process.hrtime.bigint() - t0);
      sends++;
      if (ns > 1e5) waitedNs += ns;
      if (ns > longestNs) longestNs = ns;
      if (ns > STALL_MS * 1e6) stalls++;
      if (ns > FALLBACK_SLEEP_MS * 1e6) fallbackSleeps++;
    }
    return { sends, stalls_over_50ms: stalls, sleeps_to_fallback: fallbackSleeps, longest_send_ms: longestNs / 1e6, waited_s: waitedNs / 1e9 };
  } finally {
    p.close();
  }
}

async function consumer({ name, joins, doneDir, seed }) {
  const { Consumer } = require(DIST);
  let state = seed >>> 0 || 1;
  const random = (n) => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state % n; };
  await ready();
  let read = 0;
  for (let j = 0; j < joins; j++) {
    const k = Consumer.open(name, { tethered: true });
    const want = random(33);
    let got = 0;
    const until = Date.now() + 10000;
    while (got < want) {
      got += k.poll(() => {}, want - got);
      if (Date.now() > until) throw new Error(`join ${j}: ${got} of ${want} messages in 10 s`);
    }
    read += got;
    k.close();
  }
  fs.writeFileSync(path.join(doneDir, `consumer-${process.pid}`), '');
  return { joins, read };
}

async function hog({ doneDir, deadlineMs }) {
  await ready();
  const stop = Date.now() + deadlineMs;
  let x = 0;
  while (!finished(doneDir) && Date.now() < stop) for (let i = 0; i < 1e6; i++) x += i;
  return { spun: x > 0 };
}

/** Runs a role unpinned (see the header). */
function unpinned(role, params) {
  return { script: __filename, role, params, options: { command: process.execPath, args: [__filename, role, JSON.stringify(params)] } };
}

module.exports = {
  name: 'join-stalls',
  title: 'Producer stalls while tethered consumers join and leave (issue 13)',
  available: async () => require('./throughput').libraryAvailable(),
  cases(ctx) {
    return ['sync', 'async'].map((mode) => ({
      id: `shmring.join-stalls.${mode}`, group: 'join-stalls', transport: 'shmring', mode, repeatsQuick: 1,
      joinsTotal: ctx.quick ? 1000 : 10000,
    }));
  },
  async runOnce(c, ctx) {
    const name = ctx.uniqueSegmentName('stalls');
    const doneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-stalls-'));
    const deadlineMs = 120000;
    try {
      const perConsumer = c.joinsTotal / CONSUMERS;
      const [prod, a, b] = await ctx.runProcesses([
        unpinned('producer', { name, mode: c.mode, doneDir, deadlineMs }),
        unpinned('consumer', { name, joins: perConsumer, doneDir, seed: 1 }),
        unpinned('consumer', { name, joins: perConsumer, doneDir, seed: 2 }),
        unpinned('hog', { doneDir, deadlineMs }),
      ], { timeoutMs: deadlineMs + 30000 });
      if (a.joins + b.joins !== c.joinsTotal) throw new Error(`consumers joined ${a.joins + b.joins} times, not ${c.joinsTotal}`);
      process.stderr.write(`${prod.sends} sends, ${a.read + b.read} read, longest send ${prod.longest_send_ms.toFixed(1)} ms ... `);
      return { joins: a.joins + b.joins, sends: prod.sends, stalls_over_50ms: prod.stalls_over_50ms, sleeps_to_fallback: prod.sleeps_to_fallback, longest_send_ms: prod.longest_send_ms, waited_s: prod.waited_s };
    } finally {
      fs.rmSync(doneDir, { recursive: true, force: true });
    }
  },
};

/** Lines of the report's section (bench/lib/report.js), or none when the cases did not run. */
module.exports.reportSection = function reportSection(results, { stat, cell, table, mark }) {
  const cases = Object.values(results.cases).filter((c) => c.group === 'join-stalls');
  if (!cases.length) return [];
  const totalStalls = cases.reduce((s, c) => s + (c.runs || []).reduce((t, r) => t + r.stalls_over_50ms, 0), 0);
  const totalJoins = cases.reduce((s, c) => s + (c.runs || []).reduce((t, r) => t + r.joins, 0), 0);
  return [
    '## Producer stalls while consumers join and leave (issue 13), 4 KiB ring',
    '',
    `Two consumer processes join tethered, read 0–32 messages and leave, ${cases[0].joinsTotal.toLocaleString('en-US')} joins/leaves per run in all, while the producer sends 64 B as fast as the ring lets it and a third process spins on a core; nothing pinned. A stall is one send taking over ${STALL_MS} ms (a lost wakeup costs \`livenessIntervalMs\`, 500 ms). **Goal: none.** Over all runs: ${totalStalls} stall(s) in ${totalJoins.toLocaleString('en-US')} joins/leaves. A send that lasts the fallback timeout is the mark of a lost wakeup; shorter stalls are a consumer preempted while it held the ring, which other load on the machine lengthens (see the ⚠ marks).`,
    '',
    table(['Send', 'sends per run', 'stalls > 50 ms (per run)', `sends > ${FALLBACK_SLEEP_MS} ms (lost-wakeup signature)`, 'longest send (ms)', 'time waiting for space (s)'], cases.map((c) => [
      (c.mode === 'sync' ? '`sendBytesSync`' : '`await sendBytesAsync`') + mark(c.id),
      cell(stat(results, c.id, 'sends')), cell(stat(results, c.id, 'stalls_over_50ms')), cell(stat(results, c.id, 'sleeps_to_fallback')), cell(stat(results, c.id, 'longest_send_ms')), cell(stat(results, c.id, 'waited_s')),
    ])),
    '',
  ];
};

if (require.main === module) main({ producer, consumer, hog });
