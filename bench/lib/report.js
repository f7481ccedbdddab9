'use strict';
// Markdown report from bench/results/latest.json: machine facts, goal verdicts (issue 8), one table per
// scenario. Every figure is the median over runs, with (min–max).
const { PAYLOADS } = require('./payloads');

const TRANSPORTS = [
  ['shmring', 'shmring'],
  ['shmring-spin', 'shmring (spin consumer)'],
  ['shmring-corked', 'shmring (corked, 1 024 per batch)'],
  ['shmring-batch', 'shmring batch path (sendBytesBatch 256 + poll)'],
  ['shmring-batch-msgpackr', 'shmring batch path, msgpackr codec'],
  ['shmring-alone', 'shmring producer, no consumer'],
  ['uds-naive', 'UDS naive'],
  ['uds-batched', 'UDS batched'],
  ['ipc', 'child_process IPC'],
  ['worker', 'worker MessagePort†'],
  ['zeromq', 'zeromq ipc://'],
  ['c-ring', 'C ring'],
];
const PAYLOAD_ORDER = ['raw16', 'raw64', 'raw1k', 'raw16k', 'obj', 'f32'];

function stat(results, id, metric) {
  const c = results.cases[id];
  return c && c.summary && c.summary[metric] ? c.summary[metric] : undefined;
}

function findCase(results, pred) {
  return Object.values(results.cases).find(pred);
}

function caseId(results, pred) {
  const c = findCase(results, pred);
  return c ? c.id : undefined;
}

function sig(v, digits = 3) {
  if (v === undefined || Number.isNaN(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  return `${+v.toPrecision(digits)}`;
}

function rate(v) {
  if (v === undefined) return '–';
  if (v >= 1e6) return `${sig(v / 1e6)} M`;
  if (v >= 1e3) return `${sig(v / 1e3)} k`;
  return sig(v);
}

function bytesRate(v) {
  if (v === undefined) return '–';
  if (v >= 1e9) return `${sig(v / 1e9)} GB/s`;
  if (v >= 1e6) return `${sig(v / 1e6)} MB/s`;
  return `${sig(v / 1e3)} kB/s`;
}

/** "median (min–max)" with a formatter. */
function cell(s, fmt = sig) {
  if (!s) return '–';
  if (s.n === 1 || s.min === s.max) return fmt(s.median);
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}

let currentResults = null;
/** ⚠ after a figure whose runs were disturbed by other processes (median foreign CPU > 10%). */
function mark(id) {
  const c = currentResults && currentResults.cases[id];
  const f = c && c.summary && c.summary.foreign_cpu_percent;
  return f && f.median > 10 ? ' ⚠' : '';
}

function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((h, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

function tputId(results, transport, payload, consumers = 1) {
  const groups = ['throughput', 'throughput-spin', 'throughput-corked', 'throughput-batch', 'throughput-alone'];
  return caseId(results, (c) => groups.includes(c.group) && c.transport === transport && c.payload === payload && (transport === 'shmring-alone' || (c.consumers || 1) === consumers));
}

/**
 * The ratio a/b of `metric` per round (run r of case a against run r of case b, measured in the same
 * interleaved round), summarised: median, min, max, and the spread (max - min) / median.
 */
function paired(results, idA, idB, metric) {
  const a = idA && results.cases[idA];
  const b = idB && results.cases[idB];
  if (!a || !b) return undefined;
  const ratios = [];
  for (const run of a.runs) {
    const other = b.runs.find((r) => r.round !== undefined && r.round === run.round);
    if (other && other[metric] > 0 && run[metric] !== undefined) ratios.push(run[metric] / other[metric]);
  }
  if (ratios.length === 0) return undefined;
  ratios.sort((x, y) => x - y);
  const median = ratios.length % 2 ? ratios[ratios.length >> 1] : (ratios[ratios.length / 2 - 1] + ratios[ratios.length / 2]) / 2;
  return { median, min: ratios[0], max: ratios[ratios.length - 1], n: ratios.length, spread: (ratios[ratios.length - 1] - ratios[0]) / median };
}

/** Goal verdicts of issue 14, each a median of paired ratios from the interleaved rounds. */
function pairedGoals(results) {
  const rows = [];
  const fmt = (p, percent) => (percent ? `${sig(p.median * 100)}% (${sig(p.min * 100)}–${sig(p.max * 100)}%)` : `${sig(p.median)}× (${sig(p.min)}–${sig(p.max)})`);
  const add = (goal, idA, idB, metric, target, test, percent = false) => {
    const p = paired(results, idA, idB, metric);
    if (!p) { rows.push([goal, '–', target, 'not measured']); return; }
    const wide = p.spread > 0.3;
    const verdict = test(p.median) ? 'met' : '**NOT met**';
    rows.push([goal, `${fmt(p, percent)}, n=${p.n}${wide ? ' ⚠ spread ' + sig(p.spread * 100) + '%' : ''}`, target, wide ? `${verdict} (spread > 30%: rerun)` : verdict]);
  };
  const batch64 = tputId(results, 'shmring-batch', 'raw64');
  const udsB64 = tputId(results, 'uds-batched', 'raw64');
  const c64 = tputId(results, 'c-ring', 'raw64');
  add('batch path 64 B vs batched UDS (msg/s)', batch64, udsB64, 'msgs_per_s', '≥ 1.5×', (r) => r >= 1.5);
  add('batch path 64 B vs C ring (msg/s)', batch64, c64, 'msgs_per_s', '≥ 60%', (r) => r >= 0.6, true);
  add('batch path 64 B producer CPU per message vs batched UDS', batch64, udsB64, 'prod_cpu_s_per_M', '≤ 1×', (r) => r <= 1);
  add('batch path 64 B consumer CPU per message vs batched UDS', batch64, udsB64, 'cons_cpu_s_per_M', '≤ 1×', (r) => r <= 1);
  add('default path 64 B vs naive UDS (msg/s)', tputId(results, 'shmring', 'raw64'), tputId(results, 'uds-naive', 'raw64'), 'msgs_per_s', '≥ 10×', (r) => r >= 10);
  add('default path 64 B vs the same producer with no consumer', tputId(results, 'shmring', 'raw64'), tputId(results, 'shmring-alone', 'raw64'), 'msgs_per_s', '≥ 50%', (r) => r >= 0.5, true);
  add('batch path 1 KiB vs batched UDS (bytes/s)', tputId(results, 'shmring-batch', 'raw1k'), tputId(results, 'uds-batched', 'raw1k'), 'bytes_per_s', '≥ 1.5×', (r) => r >= 1.5);
  add('batch path 1 KiB vs C ring (bytes/s)', tputId(results, 'shmring-batch', 'raw1k'), tputId(results, 'c-ring', 'raw1k'), 'bytes_per_s', '≥ 80%', (r) => r >= 0.8, true);
  add('16 KiB frames (claim/commit) vs C ring 16 KiB (bytes/s)', tputId(results, 'shmring', 'f32'), tputId(results, 'c-ring', 'raw16k'), 'bytes_per_s', '≥ 80%', (r) => r >= 0.8, true);
  add('objects, batch path with msgpackr vs batched UDS (same codec: @msgpack/msgpack) (msg/s)', tputId(results, 'shmring-batch-msgpackr', 'obj'), tputId(results, 'uds-batched', 'obj'), 'msgs_per_s', 'for information', () => true);
  add('objects, batch path vs batched UDS (msg/s)', tputId(results, 'shmring-batch', 'obj'), tputId(results, 'uds-batched', 'obj'), 'msgs_per_s', '≥ 1×', (r) => r >= 1);
  add('objects, batch path producer CPU per message vs batched UDS', tputId(results, 'shmring-batch', 'obj'), tputId(results, 'uds-batched', 'obj'), 'prod_cpu_s_per_M', '≤ 1×', (r) => r <= 1);
  add('objects, batch path consumer CPU per message vs batched UDS', tputId(results, 'shmring-batch', 'obj'), tputId(results, 'uds-batched', 'obj'), 'cons_cpu_s_per_M', '≤ 1×', (r) => r <= 1);
  add('default consumer at 10 000 msg/s: p50 vs UDS', latId(results, 'shmring', 'event-loop'), latId(results, 'uds', 'paced'), 'p50_us', '≤ 1×', (r) => r <= 1);
  add('default consumer at 10 000 msg/s: p99 vs UDS', latId(results, 'shmring', 'event-loop'), latId(results, 'uds', 'paced'), 'p99_us', '≤ 1×', (r) => r <= 1);
  add('default consumer at 1 000 msg/s: p50 vs UDS', latId(results, 'shmring', 'low-rate'), latId(results, 'uds', 'low-rate'), 'p50_us', '≤ 1×', (r) => r <= 1);
  add('default consumer at 1 000 msg/s: p99 vs UDS', latId(results, 'shmring', 'low-rate'), latId(results, 'uds', 'low-rate'), 'p99_us', '≤ 1×', (r) => r <= 1);
  add('spin consumer one-way p50 vs C ping-pong', latId(results, 'shmring', 'spin'), latId(results, 'c-ring', 'pingpong'), 'p50_us', '≤ 2×', (r) => r <= 2);
  return rows;
}

function latId(results, transport, mode) {
  return caseId(results, (c) => c.group === 'latency' && c.transport === transport && c.latencyMode === mode);
}

/** Goal verdicts of issue 8, from medians of the same run. */
function goals(results) {
  currentResults = results;
  const g = [];
  const m = (id, metric) => (id ? stat(results, id, metric) : undefined);
  const med = (id, metric) => { const s = m(id, metric); return s ? s.median : undefined; };
  const add = (goal, measured, target, ok, ids = []) => {
    const disturbed = ids.some((id) => id && mark(id));
    g.push({ goal, measured: measured + (disturbed ? ' ⚠' : ''), target, verdict: ok === undefined ? 'not measured' : ok ? 'met' : 'NOT met' });
  };
  const ring64 = med(tputId(results, 'shmring', 'raw64'), 'msgs_per_s');
  const udsB64 = med(tputId(results, 'uds-batched', 'raw64'), 'msgs_per_s');
  const c64 = med(tputId(results, 'c-ring', 'raw64'), 'msgs_per_s');
  const ratio = (a, b) => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);
  let r = ratio(ring64, udsB64);
  add('raw 64 B throughput vs batched UDS', r === undefined ? '–' : `${sig(r)}× (${rate(ring64)} vs ${rate(udsB64)} msg/s)`, '≥ 3×', r === undefined ? undefined : r >= 3, [tputId(results, 'shmring', 'raw64'), tputId(results, 'uds-batched', 'raw64')]);
  // Batched against batched: the producer corks 1 024 messages at a time, as the UDS baseline writes
  // ~1 000 frames per write().
  const corked64 = med(tputId(results, 'shmring-corked', 'raw64'), 'msgs_per_s');
  r = ratio(corked64, udsB64);
  if (r !== undefined) add('raw 64 B corked throughput vs batched UDS', `${sig(r)}× (${rate(corked64)} vs ${rate(udsB64)} msg/s)`, '≥ 3×', r >= 3, [tputId(results, 'shmring-corked', 'raw64'), tputId(results, 'uds-batched', 'raw64')]);
  r = ratio(ring64, c64);
  const c64best = (m(tputId(results, 'c-ring', 'raw64'), 'msgs_per_s') || {}).max;
  add('raw 64 B throughput vs C ring', r === undefined ? '–' : `${sig(r * 100)}% (${rate(ring64)} vs ${rate(c64)} msg/s; ${sig((ring64 / c64best) * 100)}% of the C ring's best run)`, '≥ 30%', r === undefined ? undefined : r >= 0.3, [tputId(results, 'shmring', 'raw64'), tputId(results, 'c-ring', 'raw64')]);
  const ringObj = med(tputId(results, 'shmring', 'obj'), 'msgs_per_s');
  const udsNObj = med(tputId(results, 'uds-naive', 'obj'), 'msgs_per_s');
  const udsBObj = med(tputId(results, 'uds-batched', 'obj'), 'msgs_per_s');
  r = ratio(ringObj, udsNObj);
  add('MessagePack object throughput vs naive UDS', r === undefined ? '–' : `${sig(r)}× (${rate(ringObj)} vs ${rate(udsNObj)} msg/s)`, '≥ 3×', r === undefined ? undefined : r >= 3, [tputId(results, 'shmring', 'obj'), tputId(results, 'uds-naive', 'obj')]);
  r = ratio(ringObj, udsBObj);
  add('MessagePack object throughput vs batched UDS', r === undefined ? '–' : `${sig(r)}× (${rate(ringObj)} vs ${rate(udsBObj)} msg/s)`, '≥ 1.5×', r === undefined ? undefined : r >= 1.5, [tputId(results, 'shmring', 'obj'), tputId(results, 'uds-batched', 'obj')]);
  const overhead = med('shmring.micro', 'ring_overhead_percent');
  const encDec = med('shmring.micro', 'codec_encode_decode_ns_per_op');
  const ringPath = med('shmring.micro', 'send_tryReceive_ns_per_op');
  add('ring overhead on top of encode+decode alone (in-process)', overhead === undefined ? '–' : `${sig(overhead)}% (median of paired ratios, interleaved; Benchmark figures ${sig(ringPath)} vs ${sig(encDec)} ns/msg)`, '≤ 10%', overhead === undefined ? undefined : overhead <= 10, ['shmring.micro']);
  const spin50 = med(latId(results, 'shmring', 'spin'), 'p50_us');
  const spin999 = med(latId(results, 'shmring', 'spin'), 'p999_us');
  const c50 = med(latId(results, 'c-ring', 'pingpong'), 'p50_us');
  r = ratio(spin50, c50);
  add('busy-spin one-way p50 vs C ping-pong', r === undefined ? '–' : `${sig(r)}× (${sig(spin50)} vs ${sig(c50)} µs)`, '≤ 2×', r === undefined ? undefined : r <= 2, [latId(results, 'shmring', 'spin'), latId(results, 'c-ring', 'pingpong')]);
  add('busy-spin one-way p99.9', spin999 === undefined ? '–' : `${sig(spin999)} µs`, '≤ 10 µs', spin999 === undefined ? undefined : spin999 <= 10, [latId(results, 'shmring', 'spin')]);
  const ev50 = med(latId(results, 'shmring', 'event-loop'), 'p50_us');
  const ev99 = med(latId(results, 'shmring', 'event-loop'), 'p99_us');
  const uds50 = med(latId(results, 'uds', 'paced'), 'p50_us');
  const uds99 = med(latId(results, 'uds', 'paced'), 'p99_us');
  add('default consumer (event loop, 10k msg/s) p50 vs UDS p50', ev50 === undefined || uds50 === undefined ? '–' : `${sig(ev50)} vs ${sig(uds50)} µs`, '≤ UDS', ev50 === undefined || uds50 === undefined ? undefined : ev50 <= uds50, [latId(results, 'shmring', 'event-loop'), latId(results, 'uds', 'paced')]);
  add('default consumer (event loop, 10k msg/s) p99 vs UDS p99', ev99 === undefined || uds99 === undefined ? '–' : `${sig(ev99)} vs ${sig(uds99)} µs`, '≤ ½ UDS', ev99 === undefined || uds99 === undefined ? undefined : ev99 <= uds99 / 2, [latId(results, 'shmring', 'event-loop'), latId(results, 'uds', 'paced')]);
  const low50 = med(latId(results, 'shmring', 'low-rate'), 'p50_us');
  const low99 = med(latId(results, 'shmring', 'low-rate'), 'p99_us');
  const udsLow50 = med(latId(results, 'uds', 'low-rate'), 'p50_us');
  const udsLow99 = med(latId(results, 'uds', 'low-rate'), 'p99_us');
  add('default consumer at 1 000 msg/s: p50 vs UDS p50', low50 === undefined || udsLow50 === undefined ? '–' : `${sig(low50)} vs ${sig(udsLow50)} µs`, '≤ UDS', low50 === undefined || udsLow50 === undefined ? undefined : low50 <= udsLow50, [latId(results, 'shmring', 'low-rate'), latId(results, 'uds', 'low-rate')]);
  add('default consumer at 1 000 msg/s: p99 vs UDS p99', low99 === undefined || udsLow99 === undefined ? '–' : `${sig(low99)} vs ${sig(udsLow99)} µs`, '≤ ½ UDS', low99 === undefined || udsLow99 === undefined ? undefined : low99 <= udsLow99 / 2, [latId(results, 'shmring', 'low-rate'), latId(results, 'uds', 'low-rate')]);
  const f32 = med(tputId(results, 'shmring', 'f32'), 'bytes_per_s');
  const c16k = med(tputId(results, 'c-ring', 'raw16k'), 'bytes_per_s');
  r = ratio(f32, c16k);
  const c16kBest = (m(tputId(results, 'c-ring', 'raw16k'), 'bytes_per_s') || {}).max;
  add('16 KiB Float32Array frames (claim/commit) vs C ring bytes/s', r === undefined ? '–' : `${sig(r * 100)}% (${bytesRate(f32)} vs ${bytesRate(c16k)}; ${sig((f32 / c16kBest) * 100)}% of the C ring's best run)`, '≥ 30%', r === undefined ? undefined : r >= 0.3, [tputId(results, 'shmring', 'f32'), tputId(results, 'c-ring', 'raw16k')]);
  const idle = med('shmring.idle.event-loop', 'core_percent');
  add('idle consumer CPU', idle === undefined ? '–' : `${sig(idle)}% of a core`, '≤ 1%', idle === undefined ? undefined : idle <= 1, ['shmring.idle.event-loop']);
  return g;
}

/** Explanations for unmet goals, computed from the same run (no hand-written numbers). */
function whyNotes(results, gs) {
  const notes = [];
  const med = (id, metric) => { const x = id && stat(results, id, metric); return x ? x.median : undefined; };
  const unmet = (prefix) => gs.some((g) => g.goal.startsWith(prefix) && g.verdict === 'NOT met');
  const ring64 = tputId(results, 'shmring', 'raw64');
  if (unmet('raw 64 B')) {
    const wakes = med(ring64, 'wakes_per_msg');
    const spin = med(tputId(results, 'shmring-spin', 'raw64'), 'msgs_per_s');
    const pair = med('shmring.micro', 'sendBytes64_tryReceiveBytes_ns_per_op');
    const batched = med(tputId(results, 'uds-batched', 'raw64'), 'msgs_per_s');
    const parts = [];
    if (wakes !== undefined && wakes > 0.05) parts.push(`with the default spin-then-sleep consumer the producer issued ${sig(wakes)} futex wakes per message: the consumer keeps up, drains the ring, sleeps, and each next message pays a wake (a syscall on the producer and a scheduler wake-up on the consumer)`);
    if (spin !== undefined) parts.push(`a busy-spinning consumer reaches ${rate(spin)} msg/s${batched ? ` (${sig(spin / batched)}× batched UDS)` : ''}`);
    if (pair !== undefined) parts.push(`in one process sendBytes + tryReceiveBytes cost ${sig(pair)} ns per message, a ceiling of about ${rate(1e9 / pair)} msg/s before any cross-core traffic`);
    parts.push('batched UDS amortises one write() over ~1 000 frames of 64 B, so per message it pays about as much as a plain JS loop over a buffer; the ring pays several Atomics (~20 ns each, not inlined) and a payload copy per message');
    notes.push(`raw 64 B: ${parts.join('; ')}.`);
  }
  if (unmet('MessagePack object')) {
    const encDec = med('shmring.micro', 'codec_encode_decode_ns_per_op');
    const enc = med('shmring.micro', 'codec_encode_ns_per_op');
    if (encDec !== undefined && enc !== undefined) {
      const dec = Math.max(1, encDec - enc);
      notes.push(`MessagePack object: the codec bounds this path: encode ${sig(enc)} ns and decode ≈ ${sig(dec)} ns per message here, so a consumer that decodes cannot exceed ≈ ${rate(1e9 / dec)} msg/s on one core whatever the transport. The UDS baselines pay nearly the same codec (@msgpack/msgpack Encoder/Decoder directly, without shmring\'s typed-array extension codec), so the ratio to UDS can only come from the transport\'s share of the cost, which is small next to the codec.`);
    }
  }
  if (unmet('ring overhead')) {
    const o = stat(results, 'shmring.micro', 'ring_overhead_percent');
    if (o) notes.push(`ring overhead: ${sig(o.median)}% median over runs (each run's figure is itself a median of paired ratios over interleaved blocks), runs spreading from ${sig(o.min)}% to ${sig(o.max)}%. What remains per message in process: the tail store and sleeper check of each publish, the consumer's release of its head each time it catches up (one message at a time here), and the per-call checks of send() and tryReceive(); the batch path (sendBatch + drain) pays them once per run.`);
  }
  if (unmet('busy-spin')) {
    const id = latId(results, 'shmring', 'spin');
    const disturbed = id && mark(id);
    notes.push(`busy-spin latency: the producer (pacing) and the consumer both spin, so they need both vCPUs to themselves${disturbed ? '; in this run other processes used the CPUs during these measurements (⚠), so every preemption shows up as a multi-millisecond sample' : ''}: on 2 vCPUs any kernel or harness activity preempts one of them, and p99.9 (1 in 1 000 messages) catches those millisecond-long gaps. The C ping-pong runs for well under a second, the shmring case for seconds. The p50 has the clock's own cost subtracted (see the latency table's note); what remains includes the BigInt stamp written into the message and the read path of tryReceiveBytes, where C reads clock_gettime once per round trip.`);
  }
  if (unmet('default consumer')) {
    const rtt = med('futex.rtt.waitAsync', 'rtt_p50_us');
    const blocking = med('futex.rtt.blocking', 'rtt_p50_us');
    notes.push(`default consumer: at 10 000 msg/s messages are 100 µs apart, longer than the default 50 µs spin, so the consumer is asleep for nearly every message: each delivery is a futex wake, the native waiter thread, and a hop to the JS thread${rtt ? ` (futex wake → waitAsync round trip p50 ${sig(rtt)} µs, i.e. ≈ ${sig(rtt / 2)} µs one way, against ${blocking ? sig(blocking / 2) : '–'} µs for a blocking wait)` : ''}; a UDS consumer pays one epoll wake-up for the same. Tails (p99) are dominated by scheduling on 2 vCPUs.`);
  }
  if (unmet('16 KiB')) {
    const wakes = med(tputId(results, 'shmring', 'f32'), 'wakes_per_msg');
    notes.push(`16 KiB frames: ${wakes !== undefined ? `${sig(wakes)} futex wakes per frame (sleeping consumer); ` : ''}claim() has no blocking form, so a producer that finds the ring full waits for 'drain' on the event loop.`);
  }
  return notes;
}

function buildReport(results) {
  currentResults = results;
  const out = [];
  const mc = results.machine || {};
  out.push('# shmring benchmark report');
  out.push('');
  out.push(`Generated by \`npm run bench${results.mode === 'quick' ? ' -- --quick' : ''}\` (bench/run.js) from bench/results/latest.json. ` +
    `Every figure: median over ${results.repeats} runs (each run in fresh processes), with (min–max).`);
  out.push('');
  out.push(`- CPU: ${mc.cpuModel} × ${mc.cores} cores${mc.governor ? ` (governor ${mc.governor})` : ''}; ${mc.memoryGiB} GiB RAM`);
  out.push(`- Kernel: ${mc.kernel}; Node ${mc.node} (V8 ${mc.v8}), ${mc.arch}`);
  out.push(`- Date: ${mc.date}; load average at start: ${(mc.loadAverage || []).join(', ')}${mc.commit ? `; commit ${mc.commit}` : ''}`);
  out.push(`- Mode: ${results.mode}${results.elapsedMs ? `, ${Math.round(results.elapsedMs / 1000)} s` : ''}${results.loadAverageAtEnd ? `; load average at end: ${results.loadAverageAtEnd.join(', ')}` : ''}`);
  const foreign = Object.values(results.cases).map((c) => c.summary && c.summary.foreign_cpu_percent && c.summary.foreign_cpu_percent.median).filter((v) => v !== undefined);
  if (foreign.length) {
    const disturbed = Object.values(results.cases).filter((c) => c.summary && c.summary.foreign_cpu_percent && c.summary.foreign_cpu_percent.median > 10);
    const sorted = [...foreign].sort((a, b) => a - b);
    out.push(`- CPU used by other processes (not this benchmark) during the measurements: median ${sig(sorted[sorted.length >> 1])}%, max ${sig(sorted[sorted.length - 1])}% of the machine.`);
    if (disturbed.length) {
      out.push(`- **Warning:** other processes used more than 10% of the CPUs during ${disturbed.length} of ${foreign.length} cases (marked ⚠ below: ${disturbed.map((c) => c.id).slice(0, 12).join(', ')}${disturbed.length > 12 ? ', …' : ''}). On ${mc.cores} cores this inflates tail latencies (busy-spin modes most) and spreads throughput; rerun on an idle machine before quoting those figures.`);
    }
  } else if (mc.cores && (mc.loadAverage || [0])[0] > mc.cores * 0.5) {
    out.push(`- **Warning:** the machine was busy at the start (load average ${mc.loadAverage[0]} on ${mc.cores} cores).`);
  }
  if (results.runIds && results.runIds.length > 1) {
    out.push(`- **Note:** figures come from ${results.runIds.length} separate invocations (\`--only\` merges); ratios across them are not from one run. Run without \`--only\` for a single-run report.`);
  }
  out.push('');

  out.push('## Goals (issue 8), from the medians of this run');
  out.push('');
  const gs = goals(results);
  out.push(table(['Goal', 'Measured', 'Target', 'Verdict'], gs.map((g) => [g.goal, g.measured, g.target, g.verdict === 'met' ? 'met' : g.verdict === 'NOT met' ? '**NOT met**' : g.verdict])));
  out.push('');

  if (results.rounds && results.rounds.length) {
    out.push('## Goals (issue 14), as medians of paired ratios');
    out.push('');
    out.push(`Each ratio pairs run r of a case with run r of its baseline: the cases ran interleaved, one run of each per round, ${results.rounds.length} rounds. ` +
      `Processes ${results.rounds[0].pinned ? 'pinned with taskset: producer (or server) on CPU 0, consumers on CPU 1' : 'not pinned'}. ` +
      'Placement per round (cache-line round trip CPU 0 ↔ CPU 1): ' +
      results.rounds.map((r) => `${r.round + 1}: ${r.pingPongNs === undefined ? '?' : `${Math.round(r.pingPongNs)} ns`} (${r.placement})`).join('; ') + '. ' +
      'A ratio whose spread over the rounds exceeds 30% is marked ⚠ and must be rerun before it is quoted.');
    out.push('');
    out.push(table(['Goal', 'Median paired ratio (min–max)', 'Target', 'Verdict'], pairedGoals(results)));
    out.push('');
  }

  const notes = whyNotes(results, gs);
  if (notes.length) {
    out.push('Why goals are not met (derived from this run\'s own figures):');
    out.push('');
    for (const n of notes) out.push(`- ${n}`);
    out.push('');
  }

  // Throughput 1 → 1
  const present = TRANSPORTS.filter(([t]) => PAYLOAD_ORDER.some((p) => tputId(results, t, p)));
  if (present.length) {
    out.push('## Throughput, one producer → one consumer (messages/s)');
    out.push('');
    out.push('Separate processes; the consumer checks every sequence number. shmring: library defaults (spin-then-sleep consumer). † threads in one process (reference only). The telemetry object goes through MessagePack everywhere except child_process IPC, which uses its own JSON serialization. shmring and UDS producers first send untimed for a warm-up (JIT tiers settle), then a start marker; IPC, worker and zeromq are timed from their first message. shmring / C ring compares bytes per second (Float32 frames against the C ring\'s 16 KiB messages).');
    out.push('');
    const header = ['Payload', ...present.map(([, label]) => label), 'shmring / C ring'];
    const rows = PAYLOAD_ORDER.filter((p) => present.some(([t]) => tputId(results, t, p))).map((p) => {
      const cRef = p === 'f32' ? tputId(results, 'c-ring', 'raw16k') : tputId(results, 'c-ring', p);
      const ring = tputId(results, 'shmring', p);
      const ringBytes = ring && stat(results, ring, 'bytes_per_s');
      const cBytes = cRef && stat(results, cRef, 'bytes_per_s');
      const frac = ringBytes && cBytes ? `${sig((ringBytes.median / cBytes.median) * 100)}%` : '–';
      return [PAYLOADS[p].label, ...present.map(([t]) => { const id = tputId(results, t, p); return id ? cell(stat(results, id, 'msgs_per_s'), rate) + mark(id) : '–'; }), frac];
    });
    out.push(table(header, rows));
    out.push('');
    out.push('Bytes per second (payload bytes):');
    out.push('');
    out.push(table(['Payload', ...present.map(([, label]) => label)], PAYLOAD_ORDER.filter((p) => present.some(([t]) => tputId(results, t, p))).map((p) => [
      PAYLOADS[p].label, ...present.map(([t]) => { const id = tputId(results, t, p); return id ? cell(stat(results, id, 'bytes_per_s'), bytesRate) : '–'; }),
    ])));
    out.push('');
    out.push('CPU seconds per million messages (producer / consumer):');
    out.push('');
    out.push(table(['Payload', ...present.map(([, label]) => label)], PAYLOAD_ORDER.filter((p) => present.some(([t]) => tputId(results, t, p))).map((p) => [
      PAYLOADS[p].label, ...present.map(([t]) => {
        const id = tputId(results, t, p);
        if (!id) return '–';
        const a = stat(results, id, 'prod_cpu_s_per_M');
        const b = stat(results, id, 'cons_cpu_s_per_M');
        return a && b ? `${sig(a.median)} / ${sig(b.median)}` : '–';
      }),
    ])));
    out.push('');
  }

  const fan = Object.values(results.cases).filter((c) => c.group === 'fanout').sort((a, b) => a.consumers - b.consumers);
  if (fan.length) {
    out.push('## Throughput, one producer → N consumers (every consumer receives everything)');
    out.push('');
    const rows = [];
    for (const payload of ['raw64', 'obj']) {
      const one = tputId(results, 'shmring', payload);
      if (one) rows.push([PAYLOADS[payload].label, '1', cell(stat(results, one, 'msgs_per_s'), rate), cell(stat(results, one, 'cons_cpu_s_per_M'))]);
      for (const c of fan.filter((x) => x.payload === payload)) rows.push([PAYLOADS[payload].label, String(c.consumers) + mark(c.id), cell(stat(results, c.id, 'msgs_per_s'), rate), cell(stat(results, c.id, 'cons_cpu_s_per_M'))]);
    }
    out.push(table(['Payload', 'Consumers', 'msg/s (each consumer)', 'consumer CPU s / M msgs'], rows));
    out.push('');
  }

  const lat = Object.values(results.cases).filter((c) => c.group === 'latency');
  if (lat.length) {
    out.push('## One-way latency (µs)');
    out.push('');
    const spinId = latId(results, 'shmring', 'spin');
    const clock = spinId ? stat(results, spinId, 'clock_ns') : undefined;
    const spinSamples = spinId ? stat(results, spinId, 'samples') : undefined;
    out.push(`Timestamp (process.hrtime.bigint, CLOCK_MONOTONIC) written in a 64 B message by the producer, read by the consumer on receipt; paced sends; first 5% of samples dropped. C ring: busy-spin ping-pong, RTT/2.${clock ? ` Busy-spin row: the clock's own cost (median interval between back-to-back reads, ${sig(clock.median)} ns here, measured in each run) is subtracted from every sample, since each sample spans about one clock read; ${spinSamples ? `${Math.round(spinSamples.min).toLocaleString('en-US')}+ samples per run` : ''}.` : ''}`);
    out.push('');
    const order = [['c-ring', 'pingpong', 'C ring ping-pong (busy-spin, RTT/2)'], ['shmring', 'spin', `shmring, busy-spin consumer, ${spinId && results.cases[spinId].rate ? `${results.cases[spinId].rate / 1000}k` : '10k'} msg/s`], ['shmring', 'event-loop', 'shmring, default consumer in event loop, 10k msg/s'], ['uds', 'paced', 'UDS, event-loop consumer, 10k msg/s'], ['shmring', 'low-rate', 'shmring, default consumer, 1k msg/s'], ['uds', 'low-rate', 'UDS, event-loop consumer, 1k msg/s']];
    const rows = order.map(([t, m, label]) => { const id = latId(results, t, m); return id ? [label + mark(id), cell(stat(results, id, 'p50_us')), cell(stat(results, id, 'p99_us')), cell(stat(results, id, 'p999_us'))] : null; }).filter(Boolean);
    out.push(table(['Mode', 'p50', 'p99', 'p99.9'], rows));
    out.push('');
  }

  const wake = Object.values(results.cases).filter((c) => c.group === 'wake');
  if (wake.length) {
    out.push('## Cross-process wake round trip (issue 2), µs');
    out.push('');
    out.push('Both sides sleep for every message: futex wait/wake through the native core vs a ping-pong over a Unix domain socket (net, event loop on both sides).');
    out.push('');
    out.push(table(['Mechanism', 'RTT p50', 'RTT p99', 'RTT p99.9'], wake.map((c) => [(c.mechanism || c.id) + mark(c.id), cell(stat(results, c.id, 'rtt_p50_us')), cell(stat(results, c.id, 'rtt_p99_us')), cell(stat(results, c.id, 'rtt_p999_us'))])));
    out.push('');
  }

  // Issue 14 section 2; the scenario renders its own section (lines, or none without its cases).
  out.push(...require('../scenarios/wake-hops').reportSection(results, { stat, cell, table, mark }));

  const idle = Object.values(results.cases).filter((c) => c.group === 'idle');
  if (idle.length) {
    out.push('## Idle consumer CPU');
    out.push('');
    out.push(table(['Process', '% of one core'], idle.map((c) => [c.transport === 'node' ? 'plain Node process (a timer only), the floor' : 'shmring consumer, defaults, \'message\' listener, nothing sent', cell(stat(results, c.id, 'core_percent'))])));
    out.push('');
  }

  const mem = Object.values(results.cases).filter((c) => c.group === 'memory');
  if (mem.length) {
    out.push('## Memory growth on the raw path');
    out.push('');
    out.push(table(['Messages', 'producer heap', 'producer RSS', 'consumer heap', 'consumer RSS'], mem.map((c) => [
      sig(c.messages), cell(stat(results, c.id, 'prod_heap_growth_mib')), cell(stat(results, c.id, 'prod_rss_growth_mib')), cell(stat(results, c.id, 'cons_heap_growth_mib')), cell(stat(results, c.id, 'cons_rss_growth_mib')),
    ])));
    out.push('');
    out.push('MiB, after a forced GC, between 5% and 100% of the messages (raw 64 B, sendBytes / tryReceiveBytes).');
    out.push('');
  }

  const micro = results.cases['shmring.micro'];
  if (micro && micro.summary) {
    out.push('## In-process micro-benchmarks (benchmark package), ns per message');
    out.push('');
    const labels = {
      codec_encode_decode: 'codec encode + decode of the telemetry object (no ring)',
      codec_encode: 'codec encode only',
      send_no_consumer: 'send(object), no consumer (encode into the ring)',
      send_tryReceive: 'send(object) + tryReceive() (tethered consumer, same process)',
      sendBytes64_no_consumer: 'sendBytes 64 B, no consumer',
      sendBytes64_tryReceiveBytes: 'sendBytes 64 B + tryReceiveBytes',
      claim_commit_f32_16k_no_consumer: 'claim/commit 16 KiB Float32Array frame (fill + commit), no consumer',
      claim_commit_f32_16k_drain: 'claim/commit 16 KiB frame + drain (tryReceiveBytes)',
    };
    out.push(table(['Operation', 'ns / message'], Object.entries(labels).filter(([k]) => micro.summary[`${k}_ns_per_op`]).map(([k, label]) => [label, cell(micro.summary[`${k}_ns_per_op`])])));
    out.push('');
    if (micro.summary.ring_overhead_percent) out.push(`Ring overhead over encode+decode alone: ${cell(micro.summary.ring_overhead_percent)}% (per run, the median of paired ratios over 50 interleaved blocks of 8 000 operations; from the Benchmark figures above, unpaired: ${micro.summary.ring_overhead_unpaired_percent ? cell(micro.summary.ring_overhead_unpaired_percent) : '–'}%).`);
    out.push('');
  }

  const fanin = Object.values(results.cases).filter((c) => c.group === 'fanin');
  if (fanin.length) {
    out.push('## Fan-in: N producer rings → one consumer (issue 5), next to one UDS server with N clients');
    out.push('');
    out.push(table(['Rings / clients', 'Transport', 'aggregate msg/s', 'wake latency p50 (µs)', 'p99 (µs)'], fanin.map((c) => [
      String(c.rings), c.transport + mark(c.id), cell(stat(results, c.id, 'msgs_per_s'), rate), cell(stat(results, c.id, 'p50_us')), cell(stat(results, c.id, 'p99_us')),
    ])));
    out.push('');
  }

  const pino = Object.values(results.cases).find((c) => c.group === 'pino');
  if (pino) out.push(...require('../scenarios/pino').reportLines(results, pino, { table, cell, stat, rate }));

  const cClient = Object.values(results.cases).filter((c) => c.group === 'c-client');
  if (cClient.length) out.push(...require('../scenarios/c-client').reportLines(results, cClient, { table, cell, stat, rate }));

  const bridge = Object.values(results.cases).filter((c) => c.group === 'bridge');
  if (bridge.length) {
    out.push('## NATS bridge (issue 18): ring → NATS → ring vs publishing to NATS directly, paired in each run');
    out.push('');
    out.push(table(['Case', 'bridge msg/s', 'direct msg/s', 'cost ratio (bridge/direct time per msg; goal ≤ 1.10)', 'p50 / p99 bridge (µs)', 'p50 / p99 direct (µs)', 'p50 / p99 one local ring hop (µs)', 'ring send ns (bridge / local reader)'], bridge.map((c) => [
      c.transport + mark(c.id), cell(stat(results, c.id, 'msgs_per_s'), rate), cell(stat(results, c.id, 'direct_msgs_per_s'), rate), cell(stat(results, c.id, 'cost_ratio')),
      `${cell(stat(results, c.id, 'p50_us'))} / ${cell(stat(results, c.id, 'p99_us'))}`, `${cell(stat(results, c.id, 'direct_p50_us'))} / ${cell(stat(results, c.id, 'direct_p99_us'))}`,
      `${cell(stat(results, c.id, 'ring_p50_us'))} / ${cell(stat(results, c.id, 'ring_p99_us'))}`,
      `${cell(stat(results, c.id, 'send_ns'))} / ${cell(stat(results, c.id, 'ring_send_ns'))}`,
    ])));
    out.push('');
  }

  // Issue 13, item 3; the scenario renders its own section.
  out.push(...require('../scenarios/join-stalls').reportSection(results, { stat, cell, table, mark }));

  const skipped = Object.entries(results.skipped || {});
  const failed = Object.values(results.cases).filter((c) => c.errors && c.errors.length);
  if (skipped.length || failed.length) {
    out.push('## Skipped and failed');
    out.push('');
    for (const [name, why] of skipped) out.push(`- ${name}: skipped: ${why}`);
    for (const c of failed) out.push(`- ${c.id}: ${c.errors.length} failed run(s): ${c.errors[0].split('\n')[0]}`);
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

module.exports = { buildReport, goals, pairedGoals, paired, stat, tputId, latId, TRANSPORTS, PAYLOAD_ORDER };
