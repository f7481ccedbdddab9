'use strict';
/*
 * Optional peer: zeromq (PUSH ─▶ PULL over ipc://), only when `require('zeromq')` works. It is not a
 * dependency of shmring: install it yourself (`npm install --no-save zeromq`, it ships prebuilt binaries)
 * or point SHMRING_BENCH_ZEROMQ at a directory where it is installed.
 *
 *   producer process (PUSH, bind) ─▶ ipc:// socket file ─▶ consumer process (PULL, connect)
 *
 * Raw payloads as single-frame messages; the telemetry object encoded with @msgpack/msgpack.
 * A zero-length message ends the stream.
 */
const path = require('path');
const { PAYLOADS, telemetry } = require('../lib/payloads');

function loadZeromq() {
  try { return require('zeromq'); } catch (first) {
    const dir = process.env.SHMRING_BENCH_ZEROMQ;
    if (!dir) throw first;
    return require(require.resolve('zeromq', { paths: [dir, path.join(dir, 'node_modules')] }));
  }
}

async function consumer({ endpoint, payload }) {
  const isObject = PAYLOADS[payload].kind === 'obj';
  const { ready, nowNs, cpuSeconds } = require('../lib/role');
  const zmq = loadZeromq();
  const { Decoder } = require('@msgpack/msgpack');
  const decoder = new Decoder();
  const sock = new zmq.Pull();
  sock.connect(endpoint);
  await ready();
  const cpu0 = process.cpuUsage();
  let messages = 0;
  let bytes = 0;
  let sequenceErrors = 0;
  let checksum = 0;
  for await (const [msg] of sock) {
    if (msg.length === 0) break;
    if (isObject) {
      checksum += decoder.decode(msg).tags.core;
    } else if (msg.readUInt32LE(0) !== messages >>> 0) {
      sequenceErrors++;
    }
    messages++;
    bytes += msg.length;
  }
  const tEnd = nowNs();
  sock.close();
  return { tEnd, messages, bytes, sequenceErrors, consCpuS: cpuSeconds(cpu0), checksum };
}

async function producer({ endpoint, payload, durationMs, maxMessages }) {
  const { ready, nowNs, cpuSeconds } = require('../lib/role');
  const zmq = loadZeromq();
  const { Encoder } = require('@msgpack/msgpack');
  const encoder = new Encoder();
  const def = PAYLOADS[payload];
  const sock = new zmq.Push({ sendHighWaterMark: 100000 });
  await sock.bind(endpoint);
  const raw = def.kind === 'obj' ? null : Buffer.alloc(def.size, 0xab);
  await ready();
  const cpu0 = process.cpuUsage();
  const t0 = nowNs();
  const deadline = t0 + durationMs * 1e6;
  let sent = 0;
  while (sent < maxMessages && (sent & 63 || nowNs() < deadline)) {
    if (raw) {
      // zeromq may keep a reference to the Buffer until it is sent: one fresh Buffer per message.
      const msg = Buffer.allocUnsafe(raw.length);
      raw.copy(msg);
      msg.writeUInt32LE(sent >>> 0, 0);
      await sock.send(msg);
    } else { await sock.send(encoder.encode(telemetry(sent))); }
    sent++;
  }
  await sock.send(Buffer.alloc(0));
  const prodCpuS = cpuSeconds(cpu0);
  // process.exit() would drop what zeromq's I/O thread has not written yet: report, then stay alive
  // until the harness has the consumer's result and kills this process.
  process.stdout.write(`RESULT ${JSON.stringify({ t0, sent, prodCpuS })}\n`);
  return undefined;
}

module.exports = {
  name: 'zeromq',
  title: 'zeromq PUSH/PULL over ipc:// (optional)',
  async available() {
    try { loadZeromq(); return true; } catch { return 'zeromq is not installed (optional peer: npm install --no-save zeromq, or set SHMRING_BENCH_ZEROMQ=<dir>)'; }
  },
  cases(opts) {
    const payloads = opts.quick ? ['raw64', 'obj'] : ['raw16', 'raw64', 'raw1k', 'raw16k', 'obj'];
    return payloads.map((payload) => ({ id: `zeromq.tput.${payload}`, group: 'throughput', transport: 'zeromq', payload, consumers: 1 }));
  },
  async runOnce(c, ctx) {
    const endpoint = `ipc://${ctx.uniqueSocketPath('zmq')}`;
    const [prod, cons] = await ctx.runProcesses([
      { script: __filename, role: 'producer', params: { endpoint, payload: c.payload, durationMs: ctx.tputMs, maxMessages: 50e6 } },
      { script: __filename, role: 'consumer', params: { endpoint, payload: c.payload }, trigger: false },
    ], { timeoutMs: ctx.runTimeoutMs });
    return ctx.throughputMetrics(prod, cons, c.payload);
  },
};

if (require.main === module) require('../lib/role').main({ producer, consumer });
