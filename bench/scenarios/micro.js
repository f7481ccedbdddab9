'use strict';
/*
 * In-process micro-benchmarks with the `benchmark` package (one fresh process per repeat):
 *
 *   one process: producer ─▶ ring (1 MiB) ─▶ consumer      (no second process: the cost of the code alone)
 *
 *   codec encode+decode   the library's MessagePack codec on the telemetry object, no ring (the floor)
 *   codec encode          the same, encode only
 *   send (no consumer)    Producer#send of the object: encode into the ring, publish
 *   send + tryReceive     the same plus a tethered consumer's decode: the whole object path
 *   sendBytes 64 B (+ tryReceiveBytes)
 *   claim/commit 16 KiB Float32 frame (+ drain with tryReceiveBytes)
 * Ring overhead (issue 8 goal: ≤ 10%) = (send + tryReceive) / (codec encode+decode) − 1, as the median of
 * paired ratios over 50 interleaved blocks of 8 000 operations each (pairedOverhead): both halves of a pair
 * see the same machine, which separate Benchmark runs seconds apart do not. The unpaired ratio of the
 * Benchmark figures is kept as ring_overhead_unpaired_percent.
 */
const path = require('path');
const { main } = require('../lib/role');
const { telemetry } = require('../lib/payloads');

const DIST = path.join(__dirname, '..', '..', 'dist');

/** msgpackr as a shmring codec, or undefined when it is not installed. */
function msgpackrCodec() {
  try {
    const { Packr } = require('msgpackr');
    const packr = new Packr({ useRecords: false, mapsAsObjects: true });
    return { encode: (value) => packr.pack(value), decode: (bytes) => packr.unpack(bytes) };
  } catch {
    return undefined;
  }
}

/**
 * Median over `blocks` of (time of `ops` calls of withRing) / (time of `ops` calls of alone) − 1, in %, the
 * two blocks of each pair run back to back (order alternating); the first 10 pairs are warm-up.
 */
function pairedOverhead(alone, withRing, blocks = 60, ops = 8000) {
  const time = (fn) => {
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < ops; j++) fn();
    return Number(process.hrtime.bigint() - t0);
  };
  const ratios = [];
  for (let b = 0; b < blocks; b++) {
    let a;
    let r;
    if (b & 1) { r = time(withRing); a = time(alone); } else { a = time(alone); r = time(withRing); }
    if (b >= 10) ratios.push(r / a);
  }
  ratios.sort((x, y) => x - y);
  return (ratios[ratios.length >> 1] - 1) * 100;
}

async function bench({ name, maxTime }) {
  const Benchmark = require('benchmark');
  const lib = require(DIST);
  const codec = lib.createMessagePackCodec();
  const objects = Array.from({ length: 64 }, (_, i) => telemetry(i));
  const results = {};
  const run = (label, fn) => {
    const b = new Benchmark(label, fn, { maxTime, minSamples: 5, initCount: 1000 });
    b.run({ async: false });
    if (b.error) throw b.error;
    results[label] = { ns: 1e9 / b.hz, rme: b.stats.rme };
  };

  let i = 0;
  run('codec_encode_decode', () => { const bytes = codec.encode(objects[i++ & 63]); if (codec.decode(bytes).tags === undefined) throw new Error('bad'); });
  run('codec_encode', () => { codec.encode(objects[i++ & 63]); });
  const encoded = objects.map((o) => codec.encode(o).slice());
  run('codec_decode', () => { if (codec.decode(encoded[i++ & 63]).tags === undefined) throw new Error('bad'); });
  // A faster MessagePack codec, plugged in through the `codec` option (msgpackr in standard MessagePack
  // mode: no records extension, so any MessagePack reader can decode it). Optional dev dependency.
  const fast = msgpackrCodec();
  if (fast) {
    run('msgpackr_encode_decode', () => { const bytes = fast.encode(objects[i++ & 63]); if (fast.decode(bytes).tags === undefined) throw new Error('bad'); });
    run('msgpackr_encode', () => { fast.encode(objects[i++ & 63]); });
    run('msgpackr_decode', () => { if (fast.decode(encoded[i++ & 63]).tags === undefined) throw new Error('bad'); });
  }

  const alone = lib.Producer.create(`${name}.alone`, { capacity: 1 << 20 });
  const u64 = new Uint8Array(64);
  const frameTemplate = new Float32Array(4096).fill(0.5);
  try {
    // No consumer: the producer never waits, the ring just wraps.
    run('send_no_consumer', () => { alone.send(objects[i++ & 63]); });
    run('sendBytes64_no_consumer', () => { alone.sendBytes(u64); });
    run('claim_commit_f32_16k_no_consumer', () => { const c = alone.claim(16384); c.float32.set(frameTemplate); c.commit(); });
  } finally {
    alone.close();
  }

  const p = lib.Producer.create(`${name}.pair`, { capacity: 1 << 20 });
  const k = lib.Consumer.open(`${name}.pair`, { tethered: true, wait: 'spin' });
  let pairedOverheadPercent;
  try {
    run('send_tryReceive', () => {
      if (!p.send(objects[i++ & 63])) throw new Error('ring full');
      if (k.tryReceive() === undefined) throw new Error('nothing received');
    });
    pairedOverheadPercent = pairedOverhead(
      () => { const bytes = codec.encode(objects[i++ & 63]); if (codec.decode(bytes).tags === undefined) throw new Error('bad'); },
      () => { if (!p.send(objects[i++ & 63])) throw new Error('ring full'); if (k.tryReceive() === undefined) throw new Error('nothing received'); },
    );
    run('sendBytes64_tryReceiveBytes', () => {
      if (!p.sendBytes(u64)) throw new Error('ring full');
      if (k.tryReceiveBytes() === undefined) throw new Error('nothing received');
    });
    run('claim_commit_f32_16k_drain', () => {
      const c = p.claim(16384);
      if (c === undefined) throw new Error('ring full');
      c.float32.set(frameTemplate);
      c.commit();
      if (k.tryReceiveBytes() === undefined) throw new Error('nothing received');
    });
  } finally {
    k.close();
    p.close();
  }
  const out = {};
  for (const [label, r] of Object.entries(results)) {
    out[`${label}_ns_per_op`] = r.ns;
    out[`${label}_rme_percent`] = r.rme;
  }
  out.ring_overhead_unpaired_percent = (results.send_tryReceive.ns / results.codec_encode_decode.ns - 1) * 100;
  out.ring_overhead_percent = pairedOverheadPercent;
  return out;
}

module.exports = {
  msgpackrCodec,
  name: 'micro',
  title: 'in-process micro-benchmarks (benchmark package)',
  async available() {
    try { require.resolve('benchmark'); } catch { return 'the benchmark package is not installed (devDependency)'; }
    return require('./throughput').libraryAvailable();
  },
  cases() {
    return [{ id: 'shmring.micro', group: 'micro', transport: 'shmring', repeatsQuick: 1 }];
  },
  async runOnce(c, ctx) {
    const name = ctx.uniqueSegmentName('micro');
    // The two rings this run creates are named <name>.alone and <name>.pair: track them too.
    ctx.trackSegment(`${name}.alone`);
    ctx.trackSegment(`${name}.pair`);
    const [r] = await ctx.runProcesses([
      { script: __filename, role: 'bench', params: { name, maxTime: ctx.microMaxTime } },
    ], { timeoutMs: ctx.runTimeoutMs * 2 });
    return r;
  },
};

if (require.main === module) main({ bench: async (params) => bench(params) });
