'use strict';
/*
 * shmring throughput, one producer to one or more consumers (every consumer receives everything).
 *
 *   producer process ─▶ ring (1 MiB, tethered) ─▶ consumer process          (1 → 1)
 *   producer process ─▶ ring (1 MiB, tethered) ─▶ consumer process ×2 / ×4  (1 → N, broadcast)
 *
 * Payloads (bench/lib/payloads.js): raw 16 B / 64 B / 1 KiB / 16 KiB with sendBytes; the telemetry object
 * with send (MessagePack, the library's default codec); 16 KiB Float32Array frames built in place with
 * claim/commit (a claim on a full ring is retried for up to 50 µs, then waits for 'drain'). The consumer does the same work as the C reference ring: copies each raw payload out
 * (tryReceiveBytes gives a view) and checks its sequence number; objects are decoded (tryReceive).
 * Both sides use the library's defaults: the consumer is 'spin-then-sleep' (receiveBytesSync when the
 * ring is empty), the producer waits with sendBytesSync when tethered consumers hold the ring full.
 * Warm-up: the producer first sends for warmupMs untimed, then a start marker (consumers reset their
 * counts), so the figure is steady state, as for the uds baseline. Timed: from the producer's first send to the moment the last consumer has the end marker, on
 * one clock (process.hrtime.bigint, CLOCK_MONOTONIC). Compared with: uds, ipc, worker, zeromq, c-ring.
 */
const path = require('path');
const { PAYLOADS, telemetry } = require('../lib/payloads');
const { main, ready, nowNs, cpuSeconds } = require('../lib/role');

const DIST = path.join(__dirname, '..', '..', 'dist');
const WAIT_SLICE_MS = 1000; // every blocking wait is bounded; the overall run is bounded by the harness
/** Payloads up to this size are copied out of the ring word by word, larger ones with Uint8Array#set. */
const SMALL_COPY_MAX = 256;
/** How long the frame producer retries a claim on a full ring before it waits for 'drain'. */
const CLAIM_SPIN_NS = 50e3;

/**
 * The batch path (issue 14): sendBytesBatch / sendBatch of `batchSize` messages per call, one publish
 * each; the consumer reads with poll() (raw) or drain() (objects). Same warm-up, markers and timing.
 */
function codecOption(codecName) {
  if (codecName !== 'msgpackr') return {};
  const { Packr } = require('msgpackr');
  const packr = new Packr({ useRecords: false, mapsAsObjects: true });
  return { codec: { encode: (value) => packr.pack(value), decode: (bytes) => packr.unpack(bytes) } };
}

async function batchProducer({ name, capacity, payload, durationMs, warmupMs, consumers, batchSize, codec }) {
  const { Producer } = require(DIST);
  const def = PAYLOADS[payload];
  const p = Producer.create(name, { capacity, maxConsumers: Math.max(4, consumers), ...codecOption(codec) });
  try {
    const raw = def.kind === 'raw';
    const list = raw ? Array.from({ length: batchSize }, () => new Uint8Array(def.size).fill(0xab)) : new Array(batchSize);
    const sendAll = (count, giveUp) => {
      let done = 0;
      let stalls = 0;
      while (done < count) {
        const part = done === 0 && count === list.length ? list : list.slice(done, count);
        const n = raw ? p.sendBytesBatch(part) : p.sendBatch(part);
        done += n;
        if (done < count) {
          stalls++;
          const next = list[done];
          while (!(raw ? p.sendBytesSync(next, WAIT_SLICE_MS) : p.sendSync(next, WAIT_SLICE_MS))) if (nowNs() > giveUp) throw new Error('consumers stopped reading');
          done++;
        }
      }
      return stalls;
    };
    const fill = (first) => {
      for (let i = 0; i < batchSize; i++) {
        const n = first + i;
        if (raw) { const b = list[i]; b[0] = n; b[1] = n >>> 8; b[2] = n >>> 16; b[3] = n >>> 24; } else list[i] = telemetry(n);
      }
    };
    const marker = (value) => { const giveUp = nowNs() + 20e9; while (!(raw ? p.sendBytesSync(value, WAIT_SLICE_MS) : p.sendSync(value, WAIT_SLICE_MS))) if (nowNs() > giveUp) throw new Error('consumers stopped reading'); };
    await ready();
    let end = nowNs() + warmupMs * 1e6;
    for (let sent = 0; nowNs() < end; sent += batchSize) { fill(sent); sendAll(batchSize, end + 20e9); }
    marker(raw ? new Uint8Array(2) : 'start');
    const cpu0 = process.cpuUsage();
    const t0 = nowNs();
    end = t0 + durationMs * 1e6;
    let sent = 0;
    let stalls = 0;
    while (nowNs() < end) { fill(sent); stalls += sendAll(batchSize, end + 20e9); sent += batchSize; }
    marker(raw ? Uint8Array.of(0xee) : null);
    const prodCpuS = cpuSeconds(cpu0);
    return { t0, sent, prodCpuS, stalls, wakes: (p.stats || {}).wakesSent };
  } finally {
    p.close();
  }
}

async function batchConsumer({ name, payload, durationMs, codec }) {
  const { Consumer } = require(DIST);
  const def = PAYLOADS[payload];
  const k = Consumer.open(name, { tethered: true, from: 'next', ...codecOption(codec) });
  try {
    const size = def.size || 1;
    const local = new Uint8Array(Math.max(4, size));
    const localWords = new Int32Array(local.buffer);
    let ringBytes = null;
    let ringWords = null;
    await ready();
    const giveUp = nowNs() + (durationMs + 30000) * 1e6;
    let cpu0 = process.cpuUsage();
    let messages = 0;
    let bytes = 0;
    let sequenceErrors = 0;
    let checksum = 0;
    let done = false;
    if (def.kind === 'obj') {
      const onValue = (v) => {
        if (v === null) { done = true; return; }
        if (v === 'start') { messages = 0; cpu0 = process.cpuUsage(); return; }
        checksum += v.tags.core;
        messages++;
      };
      while (!done) {
        if (k.drain(onValue) > 0) continue;
        const v = k.receiveSync(WAIT_SLICE_MS);
        if (v === undefined) { if (k.ended || nowNs() > giveUp) throw new Error('no end marker'); continue; }
        onValue(v);
      }
    } else {
      const onMessage = (ring, offset, length) => {
        if (done) return;
        if (length === 2) { messages = 0; bytes = 0; sequenceErrors = 0; cpu0 = process.cpuUsage(); return; }
        if (length !== size) { done = true; return; }
        // The same work as the C reference: copy the payload out of the ring, as memcpy does it: small
        // payloads word by word without allocating (payloads are 16-byte aligned, so whole 32-bit words; 16
        // and 64 B are multiples of 4), larger ones with Uint8Array#set, whose fixed cost (the subarray
        // view, ~50 ns here) a word loop overtakes at about 256 B (1 KiB: ~140 ns looped, ~50 ns set).
        if (length > SMALL_COPY_MAX) {
          local.set(ring.subarray(offset, offset + length));
        } else {
          if (ring !== ringBytes) { ringBytes = ring; ringWords = new Int32Array(ring.buffer, ring.byteOffset, ring.byteLength >> 2); }
          const from = offset >> 2;
          for (let i = 0, n = length >> 2; i < n; i++) localWords[i] = ringWords[from + i];
        }
        if ((local[0] | (local[1] << 8) | (local[2] << 16) | (local[3] << 24)) >>> 0 !== messages >>> 0) sequenceErrors++;
        messages++;
        bytes += length;
      };
      while (!done) {
        if (k.poll(onMessage) > 0) continue;
        const m = k.receiveBytesSync(WAIT_SLICE_MS);
        if (m === undefined) { if (k.ended || nowNs() > giveUp) throw new Error('no end marker'); continue; }
        onMessage(m, 0, m.length);
      }
    }
    const tEnd = nowNs();
    return { tEnd, messages, bytes, sequenceErrors, consCpuS: cpuSeconds(cpu0), checksum };
  } finally {
    k.close();
  }
}

async function producer({ name, capacity, payload, durationMs, warmupMs, maxMessages, consumers, batch = 0 }) {
  const { Producer } = require(DIST);
  const def = PAYLOADS[payload];
  const p = Producer.create(name, { capacity, maxConsumers: Math.max(4, consumers) });
  try {
    const raw = def.kind === 'raw' ? new Uint8Array(def.size).fill(0xab) : null;
    const frameTemplate = def.kind === 'f32' ? new Float32Array(def.size / 4).fill(0.5) : null;
    await ready();
    let cpu0 = process.cpuUsage();
    let t0 = nowNs();
    let deadline = t0 + warmupMs * 1e6;
    let giveUp = deadline + 20e9;
    let sent = 0;
    let stalls = 0;
    let warm = warmupMs <= 0;
    if (warm) deadline = t0 + durationMs * 1e6;
    for (;;) {
      if (!(sent < maxMessages && (sent & 63 || nowNs() < deadline))) {
        if (warm) break;
        // Warm-up over (JIT tiers settled): the start marker tells consumers to reset their counts.
        if (def.kind === 'obj') { while (!p.sendSync('start', WAIT_SLICE_MS)) if (nowNs() > giveUp) throw new Error('consumers stopped reading'); } else { while (!p.sendBytesSync(new Uint8Array(2), WAIT_SLICE_MS)) if (nowNs() > giveUp) throw new Error('consumers stopped reading'); }
        warm = true;
        sent = 0;
        stalls = 0;
        cpu0 = process.cpuUsage();
        t0 = nowNs();
        deadline = t0 + durationMs * 1e6;
        giveUp = deadline + 20e9;
        continue;
      }
      // Corked: publish every `batch` messages with one store (Producer#cork/uncork), as batched UDS
      // writes many frames per write().
      if (batch > 0 && sent % batch === 0) {
        p.uncork();
        p.cork();
      }
      if (raw) {
        raw[0] = sent; raw[1] = sent >>> 8; raw[2] = sent >>> 16; raw[3] = sent >>> 24;
        if (!p.sendBytes(raw)) {
          stalls++;
          while (!p.sendBytesSync(raw, WAIT_SLICE_MS)) if (nowNs() > giveUp) throw new Error('consumers stopped reading');
        }
      } else if (frameTemplate) {
        let c = p.claim(def.size);
        // Full: first retry for a moment (the C reference's producer busy-waits when full, and the library's
        // consumer spins 50 µs before it sleeps): the consumer frees a quarter ring every few µs at this size,
        // while a 'drain' comes through the space waiter's thread and the event loop, tens of µs later.
        if (c === undefined) {
          const spinUntil = nowNs() + CLAIM_SPIN_NS;
          while (c === undefined && nowNs() < spinUntil) c = p.claim(def.size);
          if (c === undefined) stalls++;
        }
        while (c === undefined) {
          // No blocking claim in the API: wait for 'drain' on the event loop (a failed claim arms the
          // producer's async space waiter, which only completes when the event loop runs).
          await new Promise((resolve) => { const t = setTimeout(resolve, WAIT_SLICE_MS); p.once('drain', () => { clearTimeout(t); resolve(); }); });
          if (nowNs() > giveUp) throw new Error('consumers stopped reading');
          c = p.claim(def.size);
        }
        const f32 = c.float32;
        f32.set(frameTemplate);
        f32[0] = sent;
        c.commit();
      } else {
        const value = telemetry(sent);
        if (!p.send(value)) {
          stalls++;
          while (!p.sendSync(value, WAIT_SLICE_MS)) if (nowNs() > giveUp) throw new Error('consumers stopped reading');
        }
      }
      sent++;
    }
    if (batch > 0) p.uncork();
    const tSendEnd = nowNs();
    // End marker: a 1-byte raw message (or `null` for objects), which no measured message is.
    if (def.kind === 'obj') { while (!p.sendSync(null, WAIT_SLICE_MS)) if (nowNs() > giveUp) break; } else { while (!p.sendBytesSync(Uint8Array.of(0xee), WAIT_SLICE_MS)) if (nowNs() > giveUp) break; }
    const prodCpuS = cpuSeconds(cpu0);
    const stats = p.stats || {};
    return { t0, tSendEnd, sent, prodCpuS, stalls, wakes: stats.wakesSent };
  } finally {
    p.close();
  }
}

async function consumer({ name, payload, durationMs, wait = 'spin-then-sleep' }) {
  const { Consumer } = require(DIST);
  const def = PAYLOADS[payload];
  const k = Consumer.open(name, { tethered: true, from: 'next', wait });
  try {
    const local = new Uint8Array(def.size || 1);
    await ready();
    const giveUp = nowNs() + (durationMs + 30000) * 1e6;
    let cpu0 = process.cpuUsage();
    let messages = 0;
    let bytes = 0;
    let sequenceErrors = 0;
    let checksum = 0;
    if (def.kind === 'obj') {
      for (;;) {
        let v = k.tryReceive();
        if (v === undefined) {
          v = k.receiveSync(WAIT_SLICE_MS);
          if (v === undefined) { if (k.ended || nowNs() > giveUp) throw new Error('no end marker'); continue; }
        }
        if (v === null) break;
        if (v === 'start') { messages = 0; cpu0 = process.cpuUsage(); continue; }
        checksum += v.tags.core;
        messages++;
      }
    } else {
      const size = def.size;
      const f32 = def.kind === 'f32';
      for (;;) {
        let m = k.tryReceiveBytes();
        if (m === undefined) {
          m = k.receiveBytesSync(WAIT_SLICE_MS);
          if (m === undefined) { if (k.ended || nowNs() > giveUp) throw new Error('no end marker'); continue; }
        }
        if (m.length === 2) { messages = 0; bytes = 0; sequenceErrors = 0; cpu0 = process.cpuUsage(); continue; }
        if (m.length !== size) break;
        local.set(m); // same work as the C reference: copy the payload out of the ring
        if (f32) {
          if (new Float32Array(local.buffer, 0, 1)[0] !== messages) sequenceErrors++;
        } else if ((local[0] | (local[1] << 8) | (local[2] << 16) | (local[3] << 24)) >>> 0 !== messages >>> 0) {
          sequenceErrors++;
        }
        messages++;
        bytes += size;
      }
    }
    const tEnd = nowNs();
    return { tEnd, messages, bytes, sequenceErrors, consCpuS: cpuSeconds(cpu0), checksum };
  } finally {
    k.close();
  }
}

function msgpackrInstalled() {
  try {
    require.resolve('msgpackr');
    return true;
  } catch {
    return false;
  }
}

function libraryAvailable() {
  try {
    const lib = require(DIST);
    return typeof lib.Producer === 'function' && typeof lib.Consumer === 'function' ? true : 'dist/ has no Producer/Consumer';
  } catch (err) {
    return `shmring is not built (npm run build): ${err.message.split('\n')[0]}`;
  }
}

module.exports = {
  name: 'throughput',
  title: 'shmring throughput, 1 producer → N consumers',
  available: async () => libraryAvailable(),
  libraryAvailable,
  cases(opts) {
    const payloads = ['raw16', 'raw64', 'raw1k', 'raw16k', 'obj', 'f32'];
    const cases = payloads.map((payload) => ({ id: `shmring.tput.${payload}`, group: 'throughput', transport: 'shmring', payload, consumers: 1 }));
    cases.push({ id: 'shmring.tput.raw64.spin', group: 'throughput-spin', transport: 'shmring-spin', payload: 'raw64', consumers: 1, wait: 'spin' });
    // The same producer with no consumer attached: what the default path could reach if publishing cost
    // nothing (issue 14: the default path should reach half of it).
    cases.push({ id: 'shmring.tput.raw64.alone', group: 'throughput-alone', transport: 'shmring-alone', payload: 'raw64', consumers: 0 });
    for (const payload of ['raw16', 'raw64', 'obj']) {
      cases.push({ id: `shmring.tput.${payload}.corked`, group: 'throughput-corked', transport: 'shmring-corked', payload, consumers: 1, batch: 1024 });
    }
    for (const payload of ['raw16', 'raw64', 'raw1k', 'obj']) {
      cases.push({ id: `shmring.tput.${payload}.batch`, group: 'throughput-batch', transport: 'shmring-batch', payload, consumers: 1, batchSize: 256 });
    }
    if (msgpackrInstalled()) {
      cases.push({ id: 'shmring.tput.obj.batch.msgpackr', group: 'throughput-batch', transport: 'shmring-batch-msgpackr', payload: 'obj', consumers: 1, batchSize: 256, codec: 'msgpackr' });
    }
    for (const n of [2, 4]) cases.push({ id: `shmring.fanout${n}.raw64`, group: 'fanout', transport: 'shmring', payload: 'raw64', consumers: n });
    if (!opts.quick) cases.push({ id: 'shmring.fanout2.obj', group: 'fanout', transport: 'shmring', payload: 'obj', consumers: 2 });
    return cases;
  },
  async runOnce(c, ctx) {
    const name = ctx.uniqueSegmentName('tput');
    if (c.consumers === 0) {
      const [prod] = await ctx.runProcesses([
        { script: __filename, role: 'producer', params: { name, capacity: ctx.capacity, payload: c.payload, durationMs: ctx.tputMs, warmupMs: ctx.warmupMs, maxMessages: 100e6, consumers: 0 }, trigger: true },
      ], { timeoutMs: ctx.runTimeoutMs });
      const seconds = (prod.tSendEnd - prod.t0) / 1e9;
      return { msgs_per_s: prod.sent / seconds, bytes_per_s: (prod.sent * PAYLOADS[c.payload].size) / seconds, messages: prod.sent, seconds, prod_cpu_s_per_M: (prod.prodCpuS / prod.sent) * 1e6 };
    }
    if (c.batchSize) {
      const [prod, ...cons] = await ctx.runProcesses([
        { script: __filename, role: 'batchProducer', params: { name, capacity: ctx.capacity, payload: c.payload, durationMs: ctx.tputMs, warmupMs: ctx.warmupMs, consumers: 1, batchSize: c.batchSize, codec: c.codec }, trigger: true },
        { script: __filename, role: 'batchConsumer', params: { name, payload: c.payload, durationMs: ctx.tputMs, codec: c.codec } },
      ], { timeoutMs: ctx.runTimeoutMs });
      const metrics = ctx.throughputMetrics(prod, cons, c.payload);
      return { ...metrics, producer_stalls: prod.stalls, ...(typeof prod.wakes === 'number' ? { wakes_per_msg: prod.wakes / metrics.messages } : {}) };
    }
    const specs = [{
      script: __filename,
      role: 'producer',
      params: { name, capacity: ctx.capacity, payload: c.payload, durationMs: ctx.tputMs, warmupMs: ctx.warmupMs, maxMessages: 100e6, consumers: c.consumers, batch: c.batch || 0 },
      trigger: true,
    }];
    for (let i = 0; i < c.consumers; i++) {
      specs.push({ script: __filename, role: 'consumer', params: { name, payload: c.payload, durationMs: ctx.tputMs, wait: c.wait || 'spin-then-sleep' } });
    }
    const [prod, ...cons] = await ctx.runProcesses(specs, { timeoutMs: ctx.runTimeoutMs });
    const metrics = ctx.throughputMetrics(prod, cons, c.payload);
    // Futex wakes the producer issued per message (sleeping consumers): the main cost of a consumer
    // that keeps up and therefore keeps falling asleep. Counted over warm-up and measured part together.
    return { ...metrics, producer_stalls: prod.stalls, ...(typeof prod.wakes === 'number' ? { wakes_per_msg: prod.wakes / metrics.messages } : {}) };
  },
};

if (require.main === module) main({ producer, consumer, batchProducer, batchConsumer });
