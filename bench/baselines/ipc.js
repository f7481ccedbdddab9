'use strict';
/*
 * Baseline: child_process IPC (`process.send`), what a Node user gets for free with `fork()`.
 *
 *   producer process ──fork()──▶ consumer process
 *   producer process ─▶ IPC channel (process.send) ─▶ consumer process
 *
 * Raw payloads go with `serialization: 'advanced'` (structured clone keeps a Uint8Array binary);
 * the telemetry object goes with the default JSON serialization, which is IPC's own codec and what
 * users of process.send get (so this column is "object over IPC", not MessagePack).
 * Backpressure: when process.send() returns false the producer waits for that send's callback.
 * The consumer is forked by the producer (the IPC channel only exists between parent and child); both
 * are fresh processes separate from the harness.
 */
const { fork } = require('child_process');
const { PAYLOADS, telemetry } = require('../lib/payloads');
const { main, ready, nowNs, cpuSeconds } = require('../lib/role');

function consumer() {
  const cpu0 = process.cpuUsage();
  let messages = 0;
  let bytes = 0;
  let sequenceErrors = 0;
  let checksum = 0;
  process.on('message', (m) => {
    if (m === 'end') {
      process.send({ result: { tEnd: nowNs(), messages, bytes, sequenceErrors, consCpuS: cpuSeconds(cpu0), checksum } }, () => process.exit(0));
      return;
    }
    if (m instanceof Uint8Array) {
      if ((m[0] | (m[1] << 8) | (m[2] << 16) | (m[3] << 24)) >>> 0 !== messages >>> 0) sequenceErrors++;
      bytes += m.length;
    } else {
      checksum += m.tags.core;
    }
    messages++;
  });
  process.send('ready');
}

async function producer({ payload, durationMs, maxMessages }) {
  const def = PAYLOADS[payload];
  const serialization = def.kind === 'obj' ? 'json' : 'advanced';
  const kid = fork(__filename, ['ipc-consumer', '{}'], { serialization, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const result = new Promise((resolve, reject) => {
    kid.on('message', (m) => { if (m && m.result) resolve(m.result); });
    kid.on('exit', (code) => reject(new Error(`IPC consumer exited with ${code}`)));
  });
  result.catch(() => {});
  await new Promise((resolve) => kid.once('message', resolve)); // 'ready'
  const raw = def.kind === 'obj' ? null : new Uint8Array(def.size).fill(0xab);
  await ready();
  const cpu0 = process.cpuUsage();
  const t0 = nowNs();
  const deadline = t0 + durationMs * 1e6;
  let sent = 0;
  // One shared callback (no closure per message) counts flushed sends; when send() reports a backlog
  // the producer waits until everything sent so far has been flushed.
  let flushed = 0;
  let waiter = null;
  const onSent = () => { flushed++; if (waiter && flushed >= waiter.target) { const w = waiter; waiter = null; w.resolve(); } };
  while (sent < maxMessages && (sent & 63 || nowNs() < deadline)) {
    let ok;
    if (raw) {
      raw[0] = sent; raw[1] = sent >>> 8; raw[2] = sent >>> 16; raw[3] = sent >>> 24;
      ok = kid.send(raw, undefined, undefined, onSent);
    } else {
      ok = kid.send(telemetry(sent), undefined, undefined, onSent);
    }
    sent++;
    if (!ok && flushed < sent) await new Promise((resolve) => { waiter = { target: sent, resolve }; });
  }
  kid.send('end');
  const prodCpuS = cpuSeconds(cpu0);
  const r = await result;
  kid.kill();
  return { t0, sent, prodCpuS, consumer: r };
}

module.exports = {
  name: 'ipc',
  title: 'child_process IPC (process.send)',
  cases(opts) {
    const payloads = opts.quick ? ['raw64', 'obj'] : ['raw16', 'raw64', 'raw1k', 'raw16k', 'obj'];
    return payloads.map((payload) => ({ id: `ipc.tput.${payload}`, group: 'throughput', transport: 'ipc', payload, consumers: 1 }));
  },
  async runOnce(c, ctx) {
    const [prod] = await ctx.runProcesses([
      { script: __filename, role: 'producer', params: { payload: c.payload, durationMs: ctx.tputMs, maxMessages: 50e6 }, trigger: true },
    ], { timeoutMs: ctx.runTimeoutMs });
    return ctx.throughputMetrics(prod, prod.consumer, c.payload);
  },
};

if (require.main === module) {
  main({ producer, 'ipc-consumer': consumer });
}
