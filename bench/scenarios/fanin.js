'use strict';
/*
 * Fan-in (issue 5): N producer rings into one collector, next to one UDS server with N clients.
 *
 *   producer process ×P ─▶ N rings (N/P each) ─▶ one consumer process (Selector: one futex_waitv wait)
 *   client process ×P ─▶ N UDS connections ─▶ one server process (net, event loop)
 *
 * N = 1, 8, 64; P = min(N, 4) processes (64 Node processes would measure process start-up and the
 * scheduler on this 2-core machine, not the transport): each process owns N/P rings or connections and
 * sends round-robin over them. Raw 64 B messages with an hrtime stamp; naive UDS framing (one write per
 * message, 4-byte length prefix), the same one-message-per-call pattern as sendBytes.
 *   tput  every producer sends as fast as it can for the duration: aggregate messages/s at the collector
 *   lat   paced at 2 000 msg/s in total (producers sleep between sends): the wake latency of a
 *         sleeping collector (p50/p99)
 * The shmring collector is the Selector from dist (src/api/selector.ts) with default consumer options and a
 * 'message' listener; the scenario is skipped when the build has no Selector.
 */
const net = require('net');
const path = require('path');
const { main, ready, nowNs } = require('../lib/role');
const { latencySummary } = require('../lib/stats');

const DIST = path.join(__dirname, '..', '..', 'dist');
const LAT_RATE = 2000;

function loadSelector() {
  const lib = require(DIST);
  if (typeof lib.Selector === 'function') return lib.Selector;
  // TODO(issue 5): drop this fallback once src/index.ts exports Selector.
  return require(path.join(DIST, 'api', 'selector')).Selector;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Paces by sleeping, not spinning: P producer processes must leave the 2 cores to the collector. */
function sleepUntil(targetNs) {
  const ms = (targetNs - nowNs()) / 1e6;
  if (ms > 0.02) Atomics.wait(sleeper, 0, 0, ms);
}

function stamp(view, seq) {
  view.setBigUint64(0, process.hrtime.bigint(), true);
  view.setUint32(8, seq, true);
}

// ---------------------------------------------------------------------------------------------------
// shmring
// ---------------------------------------------------------------------------------------------------
async function ringProducer({ names, capacity, mode, durationMs, rate }) {
  const { Producer } = require(DIST);
  const producers = names.map((n) => Producer.create(n, { capacity }));
  try {
    const msg = new Uint8Array(64);
    const view = new DataView(msg.buffer);
    await ready();
    const t0 = nowNs();
    const deadline = t0 + durationMs * 1e6;
    let sent = 0;
    const intervalNs = mode === 'lat' ? 1e9 / rate : 0;
    let next = t0;
    while (sent & 63 || nowNs() < deadline) {
      if (intervalNs) { next += intervalNs; sleepUntil(next); }
      const p = producers[sent % producers.length];
      stamp(view, sent);
      if (!p.sendBytes(msg)) while (!p.sendBytesSync(msg, 1000)) if (nowNs() > deadline + 20e9) throw new Error('collector stopped reading');
      sent++;
    }
    for (const p of producers) p.sendBytesSync(Uint8Array.of(0xee), 1000); // end marker per ring
    return { t0, sent };
  } finally {
    for (const p of producers) p.close();
  }
}

async function ringCollector({ names, mode, expectedPerSecond, durationMs }) {
  const Selector = loadSelector();
  const selector = new Selector({ closeWhenEmpty: false });
  for (const n of names) selector.add(n, { tethered: true });
  await ready();
  const samples = mode === 'lat' ? new Float64Array(Math.ceil((expectedPerSecond * durationMs) / 1000) + 1024) : null;
  let n = 0;
  let ends = 0;
  let messages = 0;
  const tEnd = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`collector: ${ends}/${names.length} end markers`)), durationMs + 30000);
    selector.on('error', reject);
    selector.on('message', (m) => {
      const now = process.hrtime.bigint();
      if (m.length !== 64) {
        if (++ends === names.length) { clearTimeout(timer); resolve(nowNs()); }
        return;
      }
      messages++;
      if (samples && n < samples.length) samples[n++] = Number(now - new DataView(m.buffer, m.byteOffset, 16).getBigUint64(0, true));
    });
  });
  selector.close();
  return { tEnd, messages, ...(samples ? latencySummary(samples.slice(Math.floor(n * 0.05), n)) : {}) };
}

// ---------------------------------------------------------------------------------------------------
// UDS: one server, N connections
// ---------------------------------------------------------------------------------------------------
async function udsClient({ socketPath, connections, mode, durationMs, rate }) {
  const sockets = await Promise.all(Array.from({ length: connections }, () => new Promise((resolve, reject) => {
    const s = net.connect(socketPath, () => resolve(s));
    s.once('error', reject);
  })));
  await ready();
  const t0 = nowNs();
  const deadline = t0 + durationMs * 1e6;
  const intervalNs = mode === 'lat' ? 1e9 / rate : 0;
  let next = t0;
  let sent = 0;
  while (sent & 63 || nowNs() < deadline) {
    if (intervalNs) { next += intervalNs; sleepUntil(next); }
    const s = sockets[sent % sockets.length];
    const frame = Buffer.allocUnsafe(68);
    frame.writeUInt32LE(64, 0);
    frame.writeBigUInt64LE(process.hrtime.bigint(), 4);
    frame.writeUInt32LE(sent, 12);
    if (!s.write(frame)) await new Promise((resolve) => s.once('drain', resolve));
    sent++;
  }
  await Promise.all(sockets.map((s) => new Promise((resolve) => s.end(Buffer.alloc(4), resolve))));
  return { t0, sent };
}

async function udsServer({ socketPath, connections, mode, expectedPerSecond, durationMs }) {
  const server = net.createServer();
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(socketPath, resolve); });
  const samples = mode === 'lat' ? new Float64Array(Math.ceil((expectedPerSecond * durationMs) / 1000) + 1024) : null;
  let n = 0;
  let ends = 0;
  let messages = 0;
  let resolveEnd;
  const ended = new Promise((resolve) => { resolveEnd = resolve; });
  server.on('connection', (socket) => {
    let pending = null;
    socket.on('data', (chunk) => {
      const now = process.hrtime.bigint();
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      let off = 0;
      while (buf.length - off >= 4) {
        const len = buf.readUInt32LE(off);
        if (buf.length - off - 4 < len) break;
        if (len === 0) { if (++ends === connections) resolveEnd(nowNs()); off += 4; continue; }
        messages++;
        if (samples && n < samples.length) samples[n++] = Number(now - buf.readBigUInt64LE(off + 4));
        off += 4 + len;
      }
      pending = off < buf.length ? buf.subarray(off) : null;
    });
  });
  await ready();
  const tEnd = await ended;
  server.close();
  return { tEnd, messages, ...(samples ? latencySummary(samples.slice(Math.floor(n * 0.05), n)) : {}) };
}

// ---------------------------------------------------------------------------------------------------
function available() {
  try {
    loadSelector();
    return typeof loadSelector() === 'function' ? true : 'no Selector in dist';
  } catch (err) {
    // TODO(issue 5): the multi-ring consumer is not built yet; this scenario runs once dist has a Selector.
    return `no Selector in dist yet (issue 5): ${err.message.split('\n')[0]}`;
  }
}

module.exports = {
  name: 'fanin',
  title: 'fan-in: N rings into one collector vs one UDS server with N clients',
  available: async () => available(),
  cases(ctx) {
    const cases = [];
    for (const rings of ctx.fanInRings) {
      for (const transport of ['shmring', 'uds']) {
        cases.push({ id: `fanin.${transport}.${rings}`, group: 'fanin', transport: transport === 'shmring' ? 'shmring Selector' : 'UDS server', kind: transport, rings, repeatsQuick: 1 });
      }
    }
    return cases;
  },
  async runOnce(c, ctx) {
    const procs = Math.min(c.rings, 4);
    const latMs = ctx.quick ? 600 : 2000;
    const out = {};
    for (const mode of ['tput', 'lat']) {
      const durationMs = mode === 'tput' ? ctx.tputMs : latMs;
      const rate = LAT_RATE / procs;
      let specs;
      if (c.kind === 'shmring') {
        const names = Array.from({ length: c.rings }, (_, i) => ctx.uniqueSegmentName(`fanin${i}`));
        specs = [];
        for (let p = 0; p < procs; p++) {
          specs.push({ script: __filename, role: 'ring-producer', params: { names: names.filter((_, i) => i % procs === p), capacity: 1 << 18, mode, durationMs, rate }, trigger: true });
        }
        specs.push({ script: __filename, role: 'ring-collector', params: { names, mode, expectedPerSecond: LAT_RATE, durationMs } });
      } else {
        const socketPath = ctx.uniqueSocketPath('fanin');
        specs = [{ script: __filename, role: 'uds-server', params: { socketPath, connections: c.rings, mode, expectedPerSecond: LAT_RATE, durationMs } }];
        for (let p = 0; p < procs; p++) {
          const connections = Array.from({ length: c.rings }, (_, i) => i).filter((i) => i % procs === p).length;
          specs.push({ script: __filename, role: 'uds-client', params: { socketPath, connections, mode, durationMs, rate }, trigger: true });
        }
      }
      const results = await ctx.runProcesses(specs, { timeoutMs: ctx.runTimeoutMs + durationMs });
      const collector = c.kind === 'shmring' ? results[results.length - 1] : results[0];
      const producers = c.kind === 'shmring' ? results.slice(0, -1) : results.slice(1);
      const sent = producers.reduce((s, r) => s + r.sent, 0);
      if (collector.messages !== sent) throw new Error(`fan-in ${mode}: sent ${sent}, collected ${collector.messages}`);
      if (mode === 'tput') {
        out.msgs_per_s = sent / ((collector.tEnd - Math.min(...producers.map((r) => r.t0))) / 1e9);
      } else {
        out.p50_us = collector.p50_us;
        out.p99_us = collector.p99_us;
        out.p999_us = collector.p999_us;
      }
    }
    return out;
  },
};

if (require.main === module) {
  main({ 'ring-producer': ringProducer, 'ring-collector': ringCollector, 'uds-client': udsClient, 'uds-server': udsServer });
}
