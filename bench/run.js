#!/usr/bin/env node
'use strict';
/*
 * shmring benchmark harness. `npm run bench` (= build, then `node bench/run.js`).
 *
 *   node bench/run.js [--quick] [--json] [--only <scenario|case-prefix>[,...]] [--repeats N] [--list]
 *                     [--report-only] [--fresh]
 *
 * Every measurement runs in fresh child processes (never threads, except the worker_threads reference),
 * is repeated (5 runs full, 3 quick) and reported as median, min and max. Progress goes to stderr.
 * Results: bench/results/latest.json (raw), bench/results/report.md (tables + goal verdicts),
 * docs/charts/*.svg (charts generated from the same results).
 *
 * --only merges the new cases into the existing latest.json (each case keeps the id of the run that
 * measured it, and the report says when figures come from more than one run); --fresh starts over.
 */
const fs = require('fs');
const path = require('path');
const { machineFacts, cpuTicks, foreignCpuPercent } = require('./lib/machine');
const { summarize } = require('./lib/stats');
const child = require('./lib/child');
const placement = require('./lib/placement');
const { PAYLOADS, telemetryEncodedSize } = require('./lib/payloads');
const { buildReport } = require('./lib/report');
const { writeCharts } = require('./lib/charts');

const RESULTS_DIR = path.join(__dirname, 'results');
const LATEST_JSON = path.join(RESULTS_DIR, 'latest.json');
const REPORT_MD = path.join(RESULTS_DIR, 'report.md');
const CHARTS_DIR = path.join(__dirname, '..', 'docs', 'charts');

// Order matters only for reading the progress: references first, then shmring.
const SCENARIOS = [
  './baselines/c-ring',
  './baselines/uds',
  './baselines/ipc',
  './baselines/worker',
  './baselines/zeromq',
  './scenarios/futex-wake',
  './scenarios/throughput',
  './scenarios/latency',
  './scenarios/idle-cpu',
  './scenarios/memory',
  './scenarios/micro',
  './scenarios/fanin',
  './scenarios/pino',
  './scenarios/c-client',
  './scenarios/bridge',
  './scenarios/wake-hops',
  './scenarios/join-stalls',
];

function parseArgs(argv) {
  const opts = { quick: false, json: false, only: null, repeats: null, list: false, reportOnly: false, fresh: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--json') opts.json = true;
    else if (a === '--list') opts.list = true;
    else if (a === '--report-only') opts.reportOnly = true;
    else if (a === '--fresh') opts.fresh = true;
    else if (a === '--only') opts.only = (argv[++i] || '').split(',').filter(Boolean);
    else if (a.startsWith('--only=')) opts.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--repeats') opts.repeats = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(fs.readFileSync(__filename, 'utf8').split('*/')[0]);
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown flag ${a} (see --help)\n`);
      process.exit(2);
    }
  }
  if (opts.repeats !== null && !(Number.isInteger(opts.repeats) && opts.repeats >= 1 && opts.repeats <= 50)) {
    process.stderr.write('bench: --repeats must be an integer from 1 to 50\n');
    process.exit(2);
  }
  return opts;
}

/** Everything a scenario needs: durations by mode, spawn helpers, and shared metric derivations. */
function makeContext(opts) {
  const quick = opts.quick;
  const objSize = telemetryEncodedSize();
  const ctx = {
    quick,
    root: path.join(__dirname, '..'),
    resultsDir: RESULTS_DIR,
    repeats: opts.repeats || (quick ? 3 : 5),
    tputMs: quick ? 150 : 1000,
    warmupMs: quick ? 100 : 300,
    runTimeoutMs: quick ? 20000 : 60000,
    pingRounds: quick ? 2000 : 20000,
    cPingRounds: quick ? 20000 : 200000,
    idleMs: quick ? 3000 : 10000,
    memoryMessages: quick ? 1e6 : 10e6,
    microMaxTime: quick ? 0.1 : 1,
    capacity: 1 << 20,
    fanInRings: quick ? [1, 8] : [1, 8, 64],
    latencyModes: [
      { id: 'paced', rate: 10000, durationMs: quick ? 500 : 3000 },
      { id: 'low-rate', rate: 1000, durationMs: quick ? 800 : 5000 },
    ],
    runProcesses: child.runProcesses,
    releaseResources: child.releaseResources,
    runCommand: child.runCommand,
    uniqueSegmentName: child.uniqueSegmentName,
    trackSegment: child.trackSegment,
    uniqueSocketPath: child.uniqueSocketPath,
    distPath: (file) => path.join(__dirname, '..', 'dist', file),
    /** Derives throughput and CPU-per-million figures from a producer and a consumer result. */
    throughputMetrics(prod, cons, payload) {
      const consumers = Array.isArray(cons) ? cons : [cons];
      const tEnd = Math.max(...consumers.map((c) => c.tEnd));
      const seconds = (tEnd - prod.t0) / 1e9;
      const messages = Math.min(...consumers.map((c) => c.messages));
      const sizeOf = PAYLOADS[payload].kind === 'obj' ? objSize : PAYLOADS[payload].size;
      const lost = consumers.some((c) => c.messages !== prod.sent);
      const sequenceErrors = consumers.reduce((s, c) => s + (c.sequenceErrors || 0), 0);
      if (lost || sequenceErrors) {
        throw new Error(`delivery check failed: sent ${prod.sent}, received ${consumers.map((c) => c.messages).join('/')}, sequence errors ${sequenceErrors}`);
      }
      const consCpu = consumers.reduce((s, c) => s + c.consCpuS, 0) / consumers.length;
      return {
        msgs_per_s: messages / seconds,
        bytes_per_s: (messages * sizeOf) / seconds,
        messages,
        seconds,
        prod_cpu_s_per_M: (prod.prodCpuS / messages) * 1e6,
        cons_cpu_s_per_M: (consCpu / messages) * 1e6,
      };
    },
  };
  return ctx;
}

function loadScenarios() {
  return SCENARIOS.map((p) => {
    const mod = require(p);
    mod.modulePath = p;
    return mod;
  });
}

function selected(opts, scenario, c) {
  if (!opts.only) return true;
  return opts.only.some((o) => o === scenario.name || c.id === o || c.id.startsWith(o.endsWith('.') ? o : `${o}.`) || c.id.startsWith(o));
}

function fmtDuration(ms) {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function headline(metrics) {
  if (!metrics) return '';
  if (metrics.msgs_per_s !== undefined) return `${(metrics.msgs_per_s / 1e6).toFixed(3)} M msg/s`;
  if (metrics.p50_us !== undefined) return `p50 ${metrics.p50_us.toFixed(2)} µs, p99 ${metrics.p99_us.toFixed(2)} µs`;
  if (metrics.rtt_p50_us !== undefined) return `rtt p50 ${metrics.rtt_p50_us.toFixed(2)} µs`;
  if (metrics.stalls_over_50ms !== undefined) return `${metrics.stalls_over_50ms} stall(s) > 50 ms in ${metrics.joins} joins/leaves`;
  if (metrics.core_percent !== undefined) return `${metrics.core_percent.toFixed(3)} % of a core`;
  if (metrics.rss_growth_mib !== undefined) return `rss +${metrics.rss_growth_mib.toFixed(1)} MiB`;
  const k = Object.keys(metrics).find((x) => x.endsWith('_ns_per_op'));
  if (k) return `${k} ${metrics[k].toFixed(1)}`;
  return '';
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const out = opts.json ? process.stderr : process.stdout;
  const progress = (s) => process.stderr.write(s);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });

  let previous = null;
  if (!opts.fresh && fs.existsSync(LATEST_JSON) && (opts.only || opts.reportOnly)) {
    try { previous = JSON.parse(fs.readFileSync(LATEST_JSON, 'utf8')); } catch { previous = null; }
  }
  if (opts.reportOnly) {
    if (!previous) { process.stderr.write('bench: no bench/results/latest.json to report on\n'); process.exit(1); }
    finish(previous, opts, out);
    return;
  }

  const machine = machineFacts();
  const runId = machine.date;
  const ctx = makeContext(opts);
  out.write(`shmring benchmarks (${opts.quick ? 'quick' : 'full'} mode, ${ctx.repeats} runs per figure)\n`);
  out.write(`CPU: ${machine.cpuModel} × ${machine.cores}   kernel: ${machine.kernel}   Node ${machine.node} (V8 ${machine.v8})   load ${machine.loadAverage.join(' ')}\n\n`);

  const scenarios = loadScenarios();
  const plan = [];
  for (const scenario of scenarios) {
    const cases = scenario.cases(ctx).filter((c) => selected(opts, scenario, c));
    if (cases.length) plan.push({ scenario, cases });
  }
  if (opts.list) {
    for (const { scenario, cases } of plan) for (const c of cases) out.write(`${scenario.name.padEnd(12)} ${c.id}\n`);
    return;
  }

  const results = {
    schema: 1,
    machine,
    mode: opts.quick ? 'quick' : 'full',
    repeats: ctx.repeats,
    runIds: [runId],
    cases: {},
    skipped: {},
  };
  if (previous && previous.machine && previous.machine.cpuModel === machine.cpuModel) {
    Object.assign(results.cases, previous.cases);
    Object.assign(results.skipped, previous.skipped || {});
  }

  const totalCases = plan.reduce((s, p) => s + p.cases.length, 0);
  const started = Date.now();
  // Which scenarios can run here; each is prepared once.
  const active = [];
  for (const { scenario, cases } of plan) {
    const availability = scenario.available ? await scenario.available(ctx) : true;
    if (availability !== true) {
      progress(`skip ${scenario.name}: ${availability}\n`);
      results.skipped[scenario.name] = String(availability);
      for (const c of cases) delete results.cases[c.id];
      continue;
    }
    delete results.skipped[scenario.name];
    if (scenario.prepare) await scenario.prepare(ctx);
    for (const c of cases) {
      const repeats = ctx.quick && c.repeatsQuick && !opts.repeats ? c.repeatsQuick : ctx.repeats;
      active.push({ scenario, c, repeats, runs: [], errors: [], ms: 0 });
    }
  }
  // Interleaved rounds: round r runs every case once, so that run r of a case and run r of its baseline
  // were measured minutes apart at most, under the same placement of the vCPUs; the report compares them
  // as paired ratios. A placement probe (cache-line ping-pong between CPU 0 and CPU 1) opens each round.
  results.rounds = [];
  const maxRepeats = Math.max(0, ...active.map((a) => a.repeats));
  for (let round = 0; round < maxRepeats; round++) {
    const pingPongNs = await placement.probe(child.PIN);
    results.rounds.push({ round, pingPongNs, placement: placement.placementOf(pingPongNs), pinned: child.PIN });
    progress(`round ${round + 1}/${maxRepeats}: CPU 0 <-> CPU 1 round trip ${pingPongNs === undefined ? '?' : `${Math.round(pingPongNs)} ns`} (${placement.placementOf(pingPongNs)})\n`);
    let index = 0;
    for (const entry of active) {
      index++;
      const { scenario, c } = entry;
      if (round >= entry.repeats) continue;
      if (entry.errors.length >= 2 && entry.runs.length === 0) continue; // failed twice in a row: will not recover
      progress(`[${index}/${active.length}] ${c.id} run ${round + 1}/${entry.repeats} ... `);
      const caseStart = Date.now();
      try {
        const before = cpuTicks();
        const metrics = await scenario.runOnce(c, ctx);
        const foreign = foreignCpuPercent(before, cpuTicks());
        if (foreign !== undefined) metrics.foreign_cpu_percent = foreign;
        metrics.round = round;
        entry.runs.push(metrics);
        progress(`${headline(metrics)}${foreign !== undefined && foreign > 10 ? `  (other processes used ${foreign.toFixed(0)}% of the CPUs)` : ''}\n`);
      } catch (err) {
        entry.errors.push(String(err && err.message ? err.message : err).slice(0, 2000));
        progress(`FAILED: ${entry.errors[entry.errors.length - 1].split('\n').slice(0, 2).join(' ')}\n`);
      }
      entry.ms += Date.now() - caseStart;
    }
  }
  for (const { scenario, c, runs, errors } of active) {
    const { runOnce, ...meta } = c; void runOnce;
    results.cases[c.id] = { ...meta, scenario: scenario.name, runId, runs, summary: summarize(runs.map(({ round, ...m }) => { void round; return m; })), errors };
  }
  results.runIds = [...new Set(Object.values(results.cases).map((c) => c.runId))].sort();
  results.elapsedMs = Date.now() - started;
  results.loadAverageAtEnd = require('os').loadavg().map((x) => Math.round(x * 100) / 100);
  progress(`bench: ${totalCases} cases in ${fmtDuration(results.elapsedMs)}\n`);
  fs.writeFileSync(LATEST_JSON, `${JSON.stringify(results, null, 1)}\n`);
  finish(results, opts, out);
}

function finish(results, opts, out) {
  const report = buildReport(results);
  fs.writeFileSync(REPORT_MD, report);
  let charts = [];
  try {
    charts = writeCharts(results, CHARTS_DIR);
  } catch (err) {
    process.stderr.write(`bench: charts not written: ${err.message}\n`);
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(results, null, 1)}\n`);
  else out.write(`${report}\n`);
  process.stderr.write(`bench: wrote ${path.relative(process.cwd(), LATEST_JSON)}, ${path.relative(process.cwd(), REPORT_MD)}${charts.length ? `, ${charts.map((c) => path.relative(process.cwd(), c)).join(', ')}` : ''}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench: ${err && err.stack ? err.stack : err}\n`);
  child.killAll();
  child.releaseResources();
  process.exit(1);
});
