'use strict';
/*
 * The NATS bridge (issue 18): ring → NATS → ring against an application that publishes to NATS directly
 * with the same client (@nats-io/transport-node), over one nats-server started for each run.
 *
 *   bridge: producer process ─▶ ring A ─▶ bridge process (Bridge, ring → NATS) ─▶ nats-server
 *             ─▶ bridge process (Bridge, NATS → ring) ─▶ ring B ─▶ consumer process
 *   direct: publisher process ─▶ nats-server ─▶ subscriber process          (the baseline: same client)
 *   ring:   producer process ─▶ ring A ─▶ consumer process                  (the producer's send cost alone)
 *
 * Cases: bridge.core (core NATS) and bridge.jetstream (JetStream, file store: the bridge pipelines its
 * publishes, up to 4096 awaiting their acknowledgement; the direct publisher does the same with the
 * client's js.publish, with async traces off as in the bridge; both receivers use a durable consumer with
 * ack policy "all" and acknowledge once per batch). Every run measures the three paths in turn (order alternating between runs), so each run
 * gives paired ratios: cost_ratio = bridge time per message / direct time per message, and
 * send_cost_ratio = the producer's CPU per message with the bridge attached / with a local consumer.
 * Throughput: N messages of 64 B as fast as the sender goes, timed from the first send to the last
 * receive (one clock: CLOCK_MONOTONIC). Latency: paced sends (1 000 msg/s, the sender sleeping in between),
 * receive time − send time stamped in the message; the first 5 % dropped. Also the latency of one
 * local ring hop (ring_p50_us), measured alongside.
 */
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const { main, ready, nowNs, cpuSeconds } = require('../lib/role');
const { latencySummary } = require('../lib/stats');

const DIST = path.join(__dirname, '..', '..', 'dist');
const NATS_SERVER = process.env.NATS_SERVER_BIN || '/usr/sbin/nats-server';
const SIZE = 64;
const WINDOW = 256;
/** JetStream publishes in flight at most, as the bridge's default (DEFAULT_BRIDGE_MAX_IN_FLIGHT). */
const IN_FLIGHT = 4096;
const LAT_RATE = 1000;
const WARMUP_FRACTION = 0.05;

function stamp(buffer, i) {
  const view = new DataView(buffer.buffer, buffer.byteOffset, 16);
  view.setBigUint64(0, process.hrtime.bigint(), true);
  view.setUint32(8, i, true);
}

function readStamp(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  return { sentNs: view.getBigUint64(0, true), i: view.getUint32(8, true) };
}

/** Counts messages (checking order), records receive-time latencies in 'lat' mode; resolves at `count`. */
function makeReceiver(count, mode) {
  const samples = mode === 'lat' ? new Float64Array(count) : null;
  let n = 0;
  let resolve;
  const finished = new Promise((r) => { resolve = r; });
  return {
    finished,
    onMessage(bytes) {
      const now = process.hrtime.bigint();
      const { sentNs, i } = readStamp(bytes);
      if (i !== n) throw new Error(`message ${i} arrived when ${n} was expected`);
      if (samples) samples[n] = Number(now - sentNs);
      if (++n === count) resolve({ messages: n, tEnd: nowNs(), ...(samples ? latencySummary(samples.slice(Math.floor(count * WARMUP_FRACTION))) : {}) });
    },
  };
}

async function pace(count, mode, send) {
  const buffer = new Uint8Array(SIZE).fill(0xab);
  const intervalNs = 1e9 / LAT_RATE;
  let next = nowNs();
  const cpu0 = process.cpuUsage();
  const t0 = nowNs();
  for (let i = 0; i < count; i++) {
    if (mode === 'lat') {
      // Sleep, not spin, between sends: a spinning sender would take one of the two cores from the
      // five processes of the bridge path (and only from the two of the direct one).
      next += intervalNs;
      const waitMs = (next - nowNs()) / 1e6;
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
    stamp(buffer, i);
    await send(buffer, i);
  }
  return { t0, sent: count, prodCpuS: cpuSeconds(cpu0) };
}

// ---- roles -------------------------------------------------------------------------------------------

async function producer({ ring, count, mode }) {
  const { Producer } = require(DIST);
  const p = Producer.create(ring, { capacity: 1 << 22 });
  try {
    await ready();
    // sendBytes first: the ring's own path; sendBytesAsync only when a tethered reader holds it full.
    return await pace(count, mode, (b) => (p.sendBytes(b) ? undefined : p.sendBytesAsync(b)));
  } finally {
    // Keep the segment until the readers are done: they hold it mapped, and the name goes with close().
    p.close();
  }
}

async function ringSink({ ring, count, mode }) {
  const { Consumer } = require(DIST);
  const k = Consumer.open(ring, { openTimeout: 10000 });
  const receiver = makeReceiver(count, mode);
  await ready();
  k.on('message', (m) => receiver.onMessage(m));
  const result = await receiver.finished;
  k.close();
  return result;
}

async function bridgeOut({ ring, server, stream, subject }) {
  const { Bridge } = require(path.join(DIST, 'integrations', 'bridge'));
  const bridge = new Bridge({ fromRing: ring, toSubject: subject, servers: server, jetstream: stream, statusIntervalMs: 0, openTimeout: 10000 });
  await bridge.start();
  await ready();
  await bridge.finished();
  return { lost: bridge.status().lost };
}

async function bridgeIn({ ring, server, stream, subject, count }) {
  const { Bridge } = require(path.join(DIST, 'integrations', 'bridge'));
  const bridge = new Bridge({ toRing: ring, fromSubject: subject, servers: server, jetstream: stream, statusIntervalMs: 100, ringCapacity: 1 << 22 });
  await bridge.start();
  await ready();
  // Done once everything is in ring B (the sink may still be reading: it has the ring mapped).
  await new Promise((resolve) => {
    const check = (s) => { if (s.forwarded >= count) resolve(); };
    bridge.on('status', check);
  });
  await bridge.close();
  return { forwarded: bridge.status().forwarded };
}

async function directPub({ server, stream, subject, count, mode }) {
  const { connect } = require('@nats-io/transport-node');
  const { jetstream } = require('@nats-io/jetstream');
  const nc = await connect({ servers: server, noAsyncTraces: true });
  const js = stream ? jetstream(nc) : null;
  await ready();
  let inFlight = [];
  let head = 0;
  let previousFlush = null;
  const result = await pace(count, mode, async (b, i) => {
    const copy = b.slice();
    if (js) {
      // The same pattern as the bridge: pipelined publishes, acks taken in order, at most IN_FLIGHT waiting.
      inFlight.push(js.publish(subject, copy, { msgID: `direct:${i}` }));
      while (inFlight.length - head > IN_FLIGHT - WINDOW || (head < inFlight.length && (i === count - 1 || mode === 'lat'))) {
        await inFlight[head++];
      }
      if (head > 65536) {
        inFlight = inFlight.slice(head);
        head = 0;
      }
    } else {
      nc.publish(subject, copy);
      if ((i + 1) % WINDOW === 0 || i === count - 1 || mode === 'lat') {
        const flush = nc.flush();
        await previousFlush;
        previousFlush = flush;
      }
    }
  });
  await previousFlush;
  await nc.close();
  return result;
}

async function directSub({ server, stream, subject, count, mode }) {
  const { connect } = require('@nats-io/transport-node');
  const { jetstream, jetstreamManager, AckPolicy } = require('@nats-io/jetstream');
  const nc = await connect({ servers: server });
  const receiver = makeReceiver(count, mode);
  if (stream) {
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(stream, { durable_name: 'direct', ack_policy: AckPolicy.All, filter_subject: subject });
    const consumer = await jetstream(nc).consumers.get(stream, 'direct');
    // As the bridge: one acknowledgement (ack-all) for the messages of one socket read.
    let last = null;
    await consumer.consume({
      max_messages: 1024,
      callback: (m) => {
        receiver.onMessage(m.data);
        if (last === null) queueMicrotask(() => { last.ack(); last = null; });
        last = m;
      },
    });
    await ready();
  } else {
    const sub = nc.subscribe(subject);
    await nc.flush();
    await ready();
    void (async () => {
      for await (const m of sub) receiver.onMessage(m.data);
    })();
  }
  const result = await receiver.finished;
  await nc.close();
  return result;
}

// ---- the harness side --------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A nats-server with JetStream on a free port, its store in a temporary directory. */
async function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-bench-nats-'));
  const port = await freePort();
  const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`nats-server not ready in 20 s: ${log.slice(-500)}`)), 20000);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.stderr.on('data', (d) => {
      log += d;
      if (/Server is ready/.test(log)) { clearTimeout(timer); resolve(); }
    });
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function ensureStream(url, stream, subject) {
  const { connect } = require('@nats-io/transport-node');
  const { jetstreamManager } = require('@nats-io/jetstream');
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [subject] });
  } finally {
    await nc.close();
  }
}

async function measure(pathKind, c, ctx, mode, count) {
  const server = await startServer();
  try {
    const stream = c.jetstream ? `BENCH${process.pid}` : undefined;
    const subject = `bench.${pathKind}`;
    if (stream) await ensureStream(server.url, stream, subject);
    const common = { server: server.url, stream, subject, count, mode };
    let specs;
    if (pathKind === 'direct') {
      specs = [
        { script: __filename, role: 'direct-sub', params: common },
        { script: __filename, role: 'direct-pub', params: common, trigger: true },
      ];
    } else if (pathKind === 'ring') {
      const ring = ctx.uniqueSegmentName('bridge-local');
      specs = [
        { script: __filename, role: 'producer', params: { ...common, ring }, trigger: true },
        { script: __filename, role: 'ring-sink', params: { ...common, ring } },
      ];
    } else {
      const ringA = ctx.uniqueSegmentName('bridge-a');
      const ringB = ctx.uniqueSegmentName('bridge-b');
      specs = [
        { script: __filename, role: 'bridge-in', params: { ...common, ring: ringB } },
        { script: __filename, role: 'ring-sink', params: { ...common, ring: ringB } },
        { script: __filename, role: 'producer', params: { ...common, ring: ringA }, trigger: true },
        { script: __filename, role: 'bridge-out', params: { ...common, ring: ringA } },
      ];
    }
    const sinkIndex = pathKind === 'direct' ? 0 : 1;
    const sendIndex = pathKind === 'bridge' ? 2 : pathKind === 'direct' ? 1 : 0;
    const results = await ctx.runProcesses(specs, { timeoutMs: ctx.runTimeoutMs + 60000 });
    const sink = results[sinkIndex];
    const sender = results[sendIndex];
    if (sink.messages !== count) throw new Error(`${pathKind}: sent ${count}, received ${sink.messages}`);
    return { seconds: (sink.tEnd - sender.t0) / 1e9, sendNs: (sender.prodCpuS / count) * 1e9, p50_us: sink.p50_us, p99_us: sink.p99_us };
  } finally {
    await server.stop();
  }
}

let runCounter = 0;

module.exports = {
  name: 'bridge',
  title: 'NATS bridge: ring → NATS → ring against publishing to NATS directly (same client)',
  available: async () => {
    if (!fs.existsSync(NATS_SERVER)) return `no nats-server at ${NATS_SERVER} (apt-get install nats-server)`;
    try {
      require.resolve('@nats-io/transport-node');
      require.resolve('@nats-io/jetstream');
    } catch {
      return 'the optional NATS client is not installed (@nats-io/transport-node, @nats-io/jetstream)';
    }
    return fs.existsSync(path.join(DIST, 'integrations', 'bridge', 'index.js')) ? true : 'no dist/integrations/bridge (npm run build)';
  },
  cases() {
    return [
      { id: 'bridge.core', group: 'bridge', transport: 'shmring bridge over core NATS', jetstream: false },
      { id: 'bridge.jetstream', group: 'bridge', transport: 'shmring bridge over JetStream', jetstream: true },
    ];
  },
  async runOnce(c, ctx) {
    const count = c.jetstream ? (ctx.quick ? 10000 : 100000) : (ctx.quick ? 20000 : 200000);
    const latCount = Math.round(LAT_RATE * (ctx.quick ? 1 : 3));
    // Alternate the order between runs, so neither path always runs on a warmer (or busier) machine.
    const order = runCounter++ % 2 === 0 ? ['direct', 'bridge', 'ring'] : ['ring', 'bridge', 'direct'];
    const tput = {};
    const lat = {};
    for (const kind of order) tput[kind] = await measure(kind, c, ctx, 'tput', count);
    for (const kind of order) lat[kind] = await measure(kind, c, ctx, 'lat', latCount);
    return {
      msgs_per_s: count / tput.bridge.seconds,
      direct_msgs_per_s: count / tput.direct.seconds,
      // Time per message through the bridge over time per message publishing directly (1.10 = 10 % more).
      cost_ratio: tput.bridge.seconds / tput.direct.seconds,
      p50_us: lat.bridge.p50_us,
      p99_us: lat.bridge.p99_us,
      direct_p50_us: lat.direct.p50_us,
      direct_p99_us: lat.direct.p99_us,
      // One local ring hop (producer ─▶ ring ─▶ consumer) on the same machine at the same moment: the bridge path has two.
      ring_p50_us: lat.ring.p50_us,
      ring_p99_us: lat.ring.p99_us,
      // The ring producer's CPU per send with the bridge as its reader, and with a local reader.
      send_ns: tput.bridge.sendNs,
      ring_send_ns: tput.ring.sendNs,
      send_cost_ratio: tput.bridge.sendNs / tput.ring.sendNs,
    };
  },
};

if (require.main === module) {
  main({
    producer,
    'ring-sink': ringSink,
    'bridge-out': bridgeOut,
    'bridge-in': bridgeIn,
    'direct-pub': directPub,
    'direct-sub': directSub,
  });
}
