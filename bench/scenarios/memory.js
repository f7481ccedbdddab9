'use strict';
/*
 * Memory growth over many raw messages: the raw path should allocate nothing per message.
 *
 *   producer process ─▶ ring (1 MiB) ─▶ consumer process      10 M raw 64 B messages (quick: 1 M)
 *
 * Both sides run with --expose-gc, force a GC and record heapUsed and RSS after a warm-up (the first
 * 5% of the messages) and again at the end; the figure is the growth between the two.
 * Producer: sendBytes (sendBytesSync when full). Consumer: tryReceiveBytes (a view, no copy) with
 * receiveBytesSync when empty.
 */
const path = require('path');
const { main, ready } = require('../lib/role');

const DIST = path.join(__dirname, '..', '..', 'dist');
const MIB = 2 ** 20;

function snapshot() {
  global.gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

async function producer({ name, capacity, messages }) {
  const { Producer } = require(DIST);
  const p = Producer.create(name, { capacity });
  try {
    const msg = new Uint8Array(64);
    await ready();
    const warm = Math.floor(messages * 0.05);
    let before;
    for (let i = 0; i < messages; i++) {
      if (i === warm) before = snapshot();
      msg[0] = i;
      if (!p.sendBytes(msg)) while (!p.sendBytesSync(msg, 1000)) { /* bounded by the harness timeout */ }
    }
    p.sendBytesSync(Uint8Array.of(1), 1000);
    const after = snapshot();
    return { prodHeapGrowth: after.heap - before.heap, prodRssGrowth: after.rss - before.rss };
  } finally {
    p.close();
  }
}

async function consumer({ name, messages }) {
  const { Consumer } = require(DIST);
  const k = Consumer.open(name, { tethered: true });
  try {
    await ready();
    const warm = Math.floor(messages * 0.05);
    let before;
    let n = 0;
    for (;;) {
      let m = k.tryReceiveBytes();
      if (m === undefined) { m = k.receiveBytesSync(1000); if (m === undefined) { if (k.ended) throw new Error('no end marker'); continue; } }
      if (m.length !== 64) break;
      if (n === warm) before = snapshot();
      n++;
    }
    const after = snapshot();
    return { received: n, consHeapGrowth: after.heap - before.heap, consRssGrowth: after.rss - before.rss };
  } finally {
    k.close();
  }
}

module.exports = {
  name: 'memory',
  title: 'heap and RSS growth on the raw path',
  available: async () => require('./throughput').libraryAvailable(),
  cases(ctx) {
    return [{ id: 'shmring.memory.raw64', group: 'memory', transport: 'shmring', payload: 'raw64', messages: ctx.memoryMessages, repeatsQuick: 1 }];
  },
  async runOnce(c, ctx) {
    const name = ctx.uniqueSegmentName('mem');
    const [prod, cons] = await ctx.runProcesses([
      { script: __filename, role: 'producer', params: { name, capacity: ctx.capacity, messages: c.messages }, trigger: true, options: { nodeArgs: ['--expose-gc'] } },
      { script: __filename, role: 'consumer', params: { name, messages: c.messages }, options: { nodeArgs: ['--expose-gc'] } },
    ], { timeoutMs: ctx.runTimeoutMs * 3 });
    if (cons.received !== c.messages) throw new Error(`received ${cons.received} of ${c.messages}`);
    return {
      messages: c.messages,
      prod_heap_growth_mib: prod.prodHeapGrowth / MIB,
      prod_rss_growth_mib: prod.prodRssGrowth / MIB,
      cons_heap_growth_mib: cons.consHeapGrowth / MIB,
      cons_rss_growth_mib: cons.consRssGrowth / MIB,
      rss_growth_mib: Math.max(prod.prodRssGrowth, cons.consRssGrowth) / MIB,
    };
  },
};

if (require.main === module) main({ producer, consumer });
