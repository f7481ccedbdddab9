'use strict';
/*
 * The C client (native/, issue 16): raw throughput through shmring with C on either side, against the C
 * reference ring and against Node on both sides. One case per payload size; each run measures every
 * variant once, in an order rotated from run to run (interleaved), and reports paired ratios from the same
 * run (the summary gives their medians over the runs).
 *
 *   c-ring     ref_ring producer ─▶ SPSC ring (bench/c/ref_ring.c, busy-spin) ─▶ ref_ring consumer
 *   c-c        C producer (bench/c/shmring_bench.c) ─▶ shmring ─▶ C consumer (tethered), shmring_send per message
 *   c-c-seq    the same with options.sequential_publish: a full barrier (x86: xchg) in every publish for the
 *              sleep/wake handshake, as before the publish fence (docs/protocol.md); c-c publishes with a
 *              release store and leaves the barrier to a consumer going to sleep (membarrier)
 *   c-c-batch  the same as c-c with shmring_send_batch of 256 messages per call (one publish per batch, as
 *              the Node batch path)
 *   c-node     C producer ─▶ shmring ─▶ Node consumer (bench/scenarios/throughput.js's consumer)
 *   node-c     Node producer (throughput.js's producer) ─▶ shmring ─▶ C consumer
 *   node-node  Node producer ─▶ shmring ─▶ Node consumer
 *
 * Every shmring variant: 1 MiB ring, raw messages with the counter in their first bytes, checked by the
 * consumer, which copies each payload out; a warm-up, then a timed phase from the producer's first
 * message to the consumer's end marker (CLOCK_MONOTONIC on both sides). Goals (issue 16): c-c ≥ 70% of
 * c-ring for 64 B and ≥ 90% for 16 KiB.
 */
const path = require('path');
const { PAYLOADS } = require('../lib/payloads');

const { build } = require('../../scripts/build-c.js');
const REF_SOURCE = path.join(__dirname, '..', 'c', 'ref_ring.c');
const THROUGHPUT = path.join(__dirname, 'throughput.js');
const VARIANTS = ['c-ring', 'c-c', 'c-c-seq', 'c-c-batch', 'c-node', 'node-c', 'node-node'];
const BATCH = 256;
const key = (variant) => variant.replace(/-/g, '_');

let benchBinary;
let rotation = 0;

function cSpec(role, params) {
  return { script: 'shmring_bench', role, params, options: { command: benchBinary, args: [role, JSON.stringify(params)] } };
}

function nodeSpec(role, params) {
  return { script: THROUGHPUT, role, params };
}

async function shmringVariant(variant, payload, ctx) {
  const size = PAYLOADS[payload].size;
  const name = ctx.uniqueSegmentName('cclient');
  const common = { name, payload, size, capacity: ctx.capacity, durationMs: ctx.tputMs, warmupMs: ctx.warmupMs };
  const [producerSide, consumerSide, mode] = variant.split('-');
  const producerParams = {
    ...common,
    maxMessages: Number.MAX_SAFE_INTEGER,
    consumers: 1,
    batch: mode === 'batch' ? BATCH : 0,
    sequential: mode === 'seq' ? 1 : 0,
  };
  const producer = producerSide === 'c' ? cSpec('producer', producerParams) : nodeSpec('producer', producerParams);
  const consumer = consumerSide === 'c' ? cSpec('consumer', common) : nodeSpec('consumer', common);
  const [prod, cons] = await ctx.runProcesses([{ ...producer, trigger: true }, consumer], { timeoutMs: ctx.runTimeoutMs });
  return ctx.throughputMetrics(prod, cons, payload);
}

async function refVariant(payload, ctx) {
  const size = PAYLOADS[payload].size;
  const bin = path.join(ctx.resultsDir, 'ref_ring');
  const name = ctx.uniqueSegmentName('cring');
  const out = await ctx.runCommand(bin, ['tput', name, String(size), String(ctx.tputMs), String(200e6), String(ctx.capacity)], { timeoutMs: ctx.runTimeoutMs });
  const r = JSON.parse(out.trim().split('\n').pop());
  if (r.sequence_errors || r.messages !== r.sent) throw new Error(`C ring delivery check failed: ${out}`);
  return { msgs_per_s: r.msgs_per_s };
}

module.exports = {
  name: 'c-client',
  title: 'C client: C → C vs the C reference ring; C → Node and Node → C vs Node → Node',
  async available(ctx) {
    try {
      benchBinary = path.join(build({ only: ['shmring_bench'] }), 'shmring_bench');
      await ctx.runCommand(process.env.CC || 'cc', ['-O2', '-std=c11', '-o', path.join(ctx.resultsDir, 'ref_ring'), REF_SOURCE, '-lrt'], { timeoutMs: 60000 });
      return true;
    } catch (err) {
      return `cannot build the C client or the reference ring: ${err.message.split('\n')[0]}`;
    }
  },
  cases() {
    return ['raw64', 'raw16k'].map((payload) => ({ id: `c-client.tput.${payload}`, group: 'c-client', transport: 'c-client', payload }));
  },
  async runOnce(c, ctx) {
    const out = {};
    const order = VARIANTS.map((_, i) => VARIANTS[(i + rotation) % VARIANTS.length]);
    rotation++;
    for (const variant of order) {
      const metrics = variant === 'c-ring' ? await refVariant(c.payload, ctx) : await shmringVariant(variant, c.payload, ctx);
      out[`${key(variant)}_msgs_per_s`] = metrics.msgs_per_s;
    }
    // Paired ratios within this run: the summary's median over runs is the figure to quote.
    out.ratio_c_c_vs_c_ring = out.c_c_msgs_per_s / out.c_ring_msgs_per_s;
    out.ratio_c_c_seq_vs_c_ring = out.c_c_seq_msgs_per_s / out.c_ring_msgs_per_s;
    out.ratio_c_c_vs_c_c_seq = out.c_c_msgs_per_s / out.c_c_seq_msgs_per_s;
    out.ratio_c_c_batch_vs_c_ring = out.c_c_batch_msgs_per_s / out.c_ring_msgs_per_s;
    out.ratio_c_node_vs_node_node = out.c_node_msgs_per_s / out.node_node_msgs_per_s;
    out.ratio_node_c_vs_node_node = out.node_c_msgs_per_s / out.node_node_msgs_per_s;
    out.msgs_per_s = out.c_c_msgs_per_s;
    return out;
  },
  /** The report's section (called by lib/report.js). */
  reportLines(results, cases, { table, cell, stat, rate }) {
    const lines = ['## C client (issue 16): throughput with C on either side, interleaved in each run', ''];
    for (const c of cases) {
      const rows = VARIANTS.map((variant) => [variant, cell(stat(results, c.id, `${key(variant)}_msgs_per_s`), rate)]);
      const ratios = [
        ['C → C through shmring ÷ C reference ring (goal ≥ 0.70 at 64 B, ≥ 0.90 at 16 KiB)', 'ratio_c_c_vs_c_ring'],
        ['C → C, sequential_publish (a full barrier per publish) ÷ C reference ring', 'ratio_c_c_seq_vs_c_ring'],
        ['C → C ÷ C → C with sequential_publish (what the publish fence saves)', 'ratio_c_c_vs_c_c_seq'],
        [`C → C, shmring_send_batch of ${BATCH} ÷ C reference ring`, 'ratio_c_c_batch_vs_c_ring'],
        ['C → Node ÷ Node → Node', 'ratio_c_node_vs_node_node'],
        ['Node → C ÷ Node → Node', 'ratio_node_c_vs_node_node'],
      ];
      lines.push(`### ${PAYLOADS[c.payload].label}`, '', table(['Variant', 'msg/s'], rows), '');
      lines.push(table(['Paired ratio (median over runs)', 'ratio'], ratios.map(([label, key]) => [label, cell(stat(results, c.id, key))])), '');
    }
    return lines;
  },
};
