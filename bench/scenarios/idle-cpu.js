'use strict';
/*
 * CPU used by an idle consumer: nothing is sent for the whole window.
 *
 *   producer process (creates the ring, then sends nothing) ─▶ ring ─▶ idle consumer process
 *
 * The consumer uses the defaults (spin-then-sleep) with a 'message' listener in an ordinary event loop,
 * and measures its own process.cpuUsage() over the window (10 s full, 3 s quick). A plain idle Node
 * process (a timer and nothing else) is measured the same way as the floor (full mode only).
 */
const path = require('path');
const { main, ready, cpuSeconds } = require('../lib/role');

const DIST = path.join(__dirname, '..', '..', 'dist');

async function producer({ name, capacity, idleMs }) {
  const { Producer } = require(DIST);
  const p = Producer.create(name, { capacity });
  try {
    await ready();
    await new Promise((resolve) => setTimeout(resolve, idleMs + 2000));
    return {};
  } finally {
    p.close();
  }
}

async function consumer({ name, idleMs, plain }) {
  let k;
  if (!plain) {
    const { Consumer } = require(DIST);
    k = Consumer.open(name, { tethered: true });
    k.on('message', () => { throw new Error('no message was sent'); });
  }
  await ready();
  const keepAlive = setInterval(() => {}, 1 << 30);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  const cpu = cpuSeconds(cpu0);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  clearInterval(keepAlive);
  if (k) k.close();
  return { core_percent: (cpu / wall) * 100, cpu_s: cpu, wall_s: wall };
}

module.exports = {
  name: 'idle-cpu',
  title: 'CPU of an idle consumer',
  available: async () => require('./throughput').libraryAvailable(),
  cases(ctx) {
    const cases = [{ id: 'shmring.idle.event-loop', group: 'idle', transport: 'shmring', repeatsQuick: 1 }];
    if (!ctx.quick) cases.push({ id: 'node.idle.plain', group: 'idle', transport: 'node', plain: true });
    return cases;
  },
  async runOnce(c, ctx) {
    if (c.plain) {
      const [cons] = await ctx.runProcesses([
        { script: __filename, role: 'consumer', params: { plain: true, idleMs: ctx.idleMs } },
      ], { timeoutMs: ctx.runTimeoutMs + ctx.idleMs });
      return cons;
    }
    const name = ctx.uniqueSegmentName('idle');
    const [, cons] = await ctx.runProcesses([
      { script: __filename, role: 'producer', params: { name, capacity: ctx.capacity, idleMs: ctx.idleMs } },
      { script: __filename, role: 'consumer', params: { name, idleMs: ctx.idleMs } },
    ], { timeoutMs: ctx.runTimeoutMs + ctx.idleMs });
    return cons;
  },
};

if (require.main === module) main({ producer, consumer });
