'use strict';
/*
 * Baseline: Node `net` over a Unix domain socket, what users pick by default.
 *
 *   throughput:  producer process ─▶ UDS (4-byte length + payload frames) ─▶ consumer process (server)
 *   latency:     producer process ─▶ UDS, paced, hrtime stamp in the frame ─▶ consumer event loop
 *   ping-pong:   client process ◀──▶ UDS ◀──▶ echo server process        (round trip, for issue 2)
 *
 * Framing is the same as shmring's record: a 4-byte little-endian length, then the raw payload bytes or
 * the MessagePack encoding (@msgpack/msgpack, one reused Encoder/Decoder) of the telemetry object.
 * Two producers:
 *   naive    one socket.write per message, each frame in its own Buffer;
 *   batched  frames concatenated into 64 KiB chunks, one write per chunk (what a careful user does;
 *            faster than cork/uncork, which still builds one writev entry per frame).
 * A length-0 frame ends the stream. The producer first sends untimed for warmupMs (JIT warm-up, as in
 * the shmring scenario), then a 2-byte start frame; only the part from there to the end frame is timed.
 */
const net = require('net');
const { PAYLOADS, telemetry } = require('../lib/payloads');
const { main, ready, nowNs, cpuSeconds } = require('../lib/role');
const { latencySummary } = require('../lib/stats');

const BATCH_CHUNK = 64 * 1024;

function listen(socketPath) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
  });
}

function connect(socketPath) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Splits a byte stream into frames; calls onFrame(buffer, start, length) and onEnd() for a 0 frame. */
function frameReader(onFrame, onEnd) {
  let pending = null;
  return (chunk) => {
    const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32LE(off);
      if (buf.length - off - 4 < len) break;
      if (len === 0) { onEnd(); return; }
      onFrame(buf, off + 4, len);
      off += 4 + len;
    }
    pending = off < buf.length ? buf.subarray(off) : null;
  };
}

// ---------------------------------------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------------------------------------
async function tputConsumer({ socketPath, payload }) {
  const server = await listen(socketPath);
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  await ready();
  const socket = await accepted;
  const kind = PAYLOADS[payload].kind;
  const { Decoder } = require('@msgpack/msgpack');
  const decoder = new Decoder();
  let messages = 0;
  let bytes = 0;
  let sequenceErrors = 0;
  let checksum = 0;
  let cpu0 = process.cpuUsage();
  return new Promise((resolve) => {
    socket.on('data', frameReader(
      (buf, start, len) => {
        if (len === 2) { messages = 0; bytes = 0; sequenceErrors = 0; cpu0 = process.cpuUsage(); return; }
        if (kind === 'obj') {
          const value = decoder.decode(buf.subarray(start, start + len));
          checksum += value.tags.core;
        } else if (buf.readUInt32LE(start) !== (messages >>> 0)) {
          sequenceErrors++;
        }
        messages++;
        bytes += len;
      },
      () => {
        const tEnd = nowNs();
        const cpu = cpuSeconds(cpu0);
        socket.destroy();
        server.close();
        resolve({ tEnd, messages, bytes, sequenceErrors, consCpuS: cpu, checksum });
      },
    ));
  });
}

async function tputProducer({ socketPath, payload, mode, durationMs, warmupMs = 0, maxMessages }) {
  const socket = await connect(socketPath);
  const def = PAYLOADS[payload];
  const { Encoder } = require('@msgpack/msgpack');
  const encoder = new Encoder();
  const raw = def.kind === 'obj' ? null : Buffer.alloc(def.size, 0xab);
  const waitDrain = () => new Promise((resolve) => socket.once('drain', resolve));
  await ready();
  let cpu0 = process.cpuUsage();
  let t0 = nowNs();
  let deadline = t0 + warmupMs * 1e6;
  let warm = warmupMs <= 0;
  if (warm) deadline = t0 + durationMs * 1e6;
  let sent = 0;
  let chunk = mode === 'batched' ? Buffer.allocUnsafe(BATCH_CHUNK) : null;
  let used = 0;
  let writable = true;
  const flush = () => {
    if (used === 0) return;
    writable = socket.write(chunk.subarray(0, used));
    chunk = Buffer.allocUnsafe(BATCH_CHUNK);
    used = 0;
  };
  for (;;) {
    if (!(sent < maxMessages && (sent & 63 || nowNs() < deadline))) {
      if (warm) break;
      // Warm-up over: a 2-byte start frame tells the consumer to reset its counts.
      if (mode === 'batched') flush();
      writable = socket.write(Buffer.from([2, 0, 0, 0, 0, 0]));
      if (!writable) { await waitDrain(); writable = true; }
      warm = true;
      sent = 0;
      cpu0 = process.cpuUsage();
      t0 = nowNs();
      deadline = t0 + durationMs * 1e6;
      continue;
    }
    let body;
    if (raw) { raw.writeUInt32LE(sent >>> 0, 0); body = raw; } else { body = encoder.encodeSharedRef(telemetry(sent)); }
    const frameLength = 4 + body.length;
    if (mode === 'naive') {
      const frame = Buffer.allocUnsafe(frameLength);
      frame.writeUInt32LE(body.length, 0);
      frame.set(body, 4);
      writable = socket.write(frame);
    } else {
      if (used + frameLength > BATCH_CHUNK) flush();
      if (frameLength > BATCH_CHUNK) {
        const frame = Buffer.allocUnsafe(frameLength);
        frame.writeUInt32LE(body.length, 0);
        frame.set(body, 4);
        writable = socket.write(frame);
      } else {
        chunk.writeUInt32LE(body.length, used);
        chunk.set(body, used + 4);
        used += frameLength;
      }
    }
    sent++;
    if (!writable) { await waitDrain(); writable = true; }
  }
  if (mode === 'batched') flush();
  const end = Buffer.alloc(4);
  await new Promise((resolve) => socket.end(end, resolve));
  return { t0, sent, prodCpuS: cpuSeconds(cpu0) };
}

// ---------------------------------------------------------------------------------------------------
// One-way latency: paced sends, hrtime stamp (8 bytes) + sequence (4 bytes) in a 64-byte frame body.
// ---------------------------------------------------------------------------------------------------
async function latConsumer({ socketPath, warmupFraction = 0.05 }) {
  const server = await listen(socketPath);
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  await ready();
  const socket = await accepted;
  const samples = [];
  const cpu0 = process.cpuUsage();
  return new Promise((resolve) => {
    socket.on('data', frameReader(
      (buf, start) => { samples.push(Number(process.hrtime.bigint() - buf.readBigUInt64LE(start))); },
      () => {
        const cpu = cpuSeconds(cpu0);
        socket.destroy();
        server.close();
        const kept = Float64Array.from(samples.slice(Math.floor(samples.length * warmupFraction)));
        resolve({ ...latencySummary(kept), consCpuS: cpu });
      },
    ));
  });
}

async function latProducer({ socketPath, rate, durationMs }) {
  const socket = await connect(socketPath);
  const count = Math.max(10, Math.round((rate * durationMs) / 1000));
  const intervalNs = 1e9 / rate;
  await ready();
  let next = nowNs();
  for (let i = 0; i < count; i++) {
    next += intervalNs;
    while (nowNs() < next) { /* pacing: spin so the send time is exact */ }
    const frame = Buffer.allocUnsafe(4 + 64);
    frame.writeUInt32LE(64, 0);
    frame.writeBigUInt64LE(process.hrtime.bigint(), 4);
    frame.writeUInt32LE(i, 12);
    if (!socket.write(frame)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  await new Promise((resolve) => socket.end(Buffer.alloc(4), resolve));
  return { sent: count };
}

// ---------------------------------------------------------------------------------------------------
// Ping-pong round trip (the UDS counterpart of the futex wake round trip).
// ---------------------------------------------------------------------------------------------------
async function echoServer({ socketPath }) {
  const server = await listen(socketPath);
  const accepted = new Promise((resolve) => server.once('connection', resolve));
  await ready();
  const socket = await accepted;
  return new Promise((resolve) => {
    socket.on('data', (d) => { socket.write(d); });
    socket.on('end', () => { server.close(); resolve({}); });
  });
}

async function pingClient({ socketPath, rounds, warmup }) {
  const socket = await connect(socketPath);
  socket.setNoDelay && socket.setNoDelay(true);
  await ready();
  const rtt = new Float64Array(rounds);
  const ping = Buffer.alloc(4);
  let i = 0;
  let t0 = 0;
  await new Promise((resolve) => {
    socket.on('data', () => {
      const t1 = nowNs();
      if (i >= warmup) rtt[i - warmup] = t1 - t0;
      i++;
      if (i >= rounds + warmup) { resolve(); return; }
      t0 = nowNs();
      socket.write(ping);
    });
    t0 = nowNs();
    socket.write(ping);
  });
  await new Promise((resolve) => socket.end(resolve));
  const s = latencySummary(rtt);
  return { rtt_p50_us: s.p50_us, rtt_p99_us: s.p99_us, rtt_p999_us: s.p999_us, samples: s.samples };
}

// ---------------------------------------------------------------------------------------------------
// Harness side
// ---------------------------------------------------------------------------------------------------
module.exports = {
  name: 'uds',
  title: 'Node net over a Unix domain socket',
  cases(opts) {
    const payloads = opts.quick ? ['raw64', 'obj'] : ['raw16', 'raw64', 'raw1k', 'raw16k', 'obj'];
    const cases = [];
    for (const mode of ['naive', 'batched']) {
      for (const payload of payloads) {
        cases.push({ id: `uds.${mode}.tput.${payload}`, group: 'throughput', transport: `uds-${mode}`, payload, consumers: 1, mode });
      }
    }
    for (const lat of opts.latencyModes) {
      cases.push({ id: `uds.lat.${lat.id}`, group: 'latency', transport: 'uds', latencyMode: lat.id, rate: lat.rate, durationMs: lat.durationMs });
    }
    cases.push({ id: 'uds.pingpong', group: 'wake', transport: 'uds', mechanism: 'uds ping-pong' });
    return cases;
  },
  async runOnce(c, ctx) {
    const { runProcesses, uniqueSocketPath } = ctx;
    const socketPath = uniqueSocketPath('uds');
    if (c.group === 'throughput') {
      const [cons, prod] = await runProcesses([
        { script: __filename, role: 'tput-consumer', params: { socketPath, payload: c.payload } },
        { script: __filename, role: 'tput-producer', params: { socketPath, payload: c.payload, mode: c.mode, durationMs: ctx.tputMs, warmupMs: ctx.warmupMs, maxMessages: 50e6 }, trigger: true },
      ], { timeoutMs: ctx.runTimeoutMs });
      return ctx.throughputMetrics(prod, cons, c.payload);
    }
    if (c.group === 'latency') {
      const [cons] = await runProcesses([
        { script: __filename, role: 'lat-consumer', params: { socketPath } },
        { script: __filename, role: 'lat-producer', params: { socketPath, rate: c.rate, durationMs: c.durationMs }, trigger: true },
      ], { timeoutMs: ctx.runTimeoutMs + c.durationMs });
      return cons;
    }
    const [, client] = await runProcesses([
      { script: __filename, role: 'echo-server', params: { socketPath } },
      { script: __filename, role: 'ping-client', params: { socketPath, rounds: ctx.pingRounds, warmup: 200 }, trigger: true },
    ], { timeoutMs: ctx.runTimeoutMs });
    return client;
  },
};

if (require.main === module) {
  main({
    'tput-consumer': tputConsumer,
    'tput-producer': tputProducer,
    'lat-consumer': latConsumer,
    'lat-producer': latProducer,
    'echo-server': echoServer,
    'ping-client': pingClient,
  });
}
