'use strict';
/*
 * Reference: a minimal SPSC ring in C (bench/c/ref_ring.c), busy-spinning, C11 atomics. The physical
 * limit of this machine for what shmring does; every shmring figure is also shown as a fraction of it.
 *
 *   producer process ─▶ shm ring (1 MiB, 8-byte record header + memcpy) ─▶ consumer process   (throughput)
 *   ping process ◀──▶ one cache line each way in shm ◀──▶ pong process                       (latency = RTT/2)
 *
 * The harness compiles it with `cc -O2` into bench/results/ at run time (skipped if no C compiler).
 * The program forks its two processes itself and unlinks its segment as soon as it is mapped.
 */
const fs = require('fs');
const path = require('path');

const SOURCE = path.join(__dirname, '..', 'c', 'ref_ring.c');

function binaryPath(ctx) { return path.join(ctx.resultsDir, 'ref_ring'); }

module.exports = {
  name: 'c-ring',
  title: 'Reference ring in C (busy-spin)',
  async available(ctx) {
    const bin = binaryPath(ctx);
    try {
      const fresh = fs.existsSync(bin) && fs.statSync(bin).mtimeMs >= fs.statSync(SOURCE).mtimeMs;
      if (!fresh) await ctx.runCommand(process.env.CC || 'cc', ['-O2', '-std=c11', '-o', bin, SOURCE, '-lrt'], { timeoutMs: 60000 });
      return true;
    } catch (err) {
      return `cannot compile bench/c/ref_ring.c: ${err.message.split('\n')[0]}`;
    }
  },
  cases(opts) {
    const cases = ['raw16', 'raw64', 'raw1k', 'raw16k'].map((payload) => ({
      id: `c-ring.tput.${payload}`, group: 'throughput', transport: 'c-ring', payload, consumers: 1,
    }));
    cases.push({ id: 'c-ring.lat.pingpong', group: 'latency', transport: 'c-ring', latencyMode: 'pingpong' });
    void opts;
    return cases;
  },
  async runOnce(c, ctx) {
    const bin = binaryPath(ctx);
    const name = ctx.uniqueSegmentName('cring');
    try {
      if (c.group === 'throughput') {
        const size = { raw16: 16, raw64: 64, raw1k: 1024, raw16k: 16384 }[c.payload];
        const out = await ctx.runCommand(bin, ['tput', name, String(size), String(ctx.tputMs), String(200e6), String(ctx.capacity)], { timeoutMs: ctx.runTimeoutMs });
        const r = JSON.parse(out.trim().split('\n').pop());
        if (r.sequence_errors || r.messages !== r.sent) throw new Error(`C ring delivery check failed: ${out}`);
        return {
          msgs_per_s: r.msgs_per_s,
          bytes_per_s: r.bytes_per_s,
          messages: r.messages,
          seconds: r.seconds,
          prod_cpu_s_per_M: (r.prod_cpu_s / r.messages) * 1e6,
          cons_cpu_s_per_M: (r.cons_cpu_s / r.messages) * 1e6,
        };
      }
      const rounds = ctx.cPingRounds;
      // Bounded in count and in time (3 s full, 1 s quick): on a busy machine each round can take a
      // scheduler slice.
      const out = await ctx.runCommand(bin, ['pingpong', name, String(rounds), '1000', String(ctx.quick ? 1000 : 3000)], { timeoutMs: ctx.runTimeoutMs });
      return JSON.parse(out.trim().split('\n').pop());
    } finally {
      ctx.releaseResources && ctx.releaseResources();
    }
  },
};
