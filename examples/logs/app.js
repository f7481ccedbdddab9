'use strict';
// An application that logs with pino, through the shmring/pino transport (pino's worker thread writes
// each line into the ring /NAME, which the transport creates). Logs --lines lines at about --rate lines/s,
// each with a counter n, then ends the logger: the collector then sees a clean end.
//
//   node examples/logs/app.js /logs.app [--lines 5000] [--rate 5000]
const pino = require('pino');

function option(flag, fallback) {
  const index = process.argv.indexOf(flag);
  return index === -1 ? fallback : process.argv[index + 1];
}
const name = process.argv[2];
const lines = Number(option('--lines', '5000'));
const rate = Number(option('--rate', '5000'));
if (!name || !name.startsWith('/') || !(lines >= 0) || !(rate > 0)) {
  console.error('usage: node examples/logs/app.js /ring-name [--lines N] [--rate LINES_PER_SECOND]');
  process.exit(2);
}

// The whole integration: a pino transport whose target is shmring/pino and whose options name the ring.
const transport = pino.transport({ target: 'shmring/pino', options: { name } });
const logger = pino(transport);

let n = 0;
const perTick = Math.max(1, Math.round(rate / 100));
function tick() {
  for (let i = 0; i < perTick && n < lines; i++, n++) {
    logger.info({ n, route: '/orders', status: 200, ms: n % 17 }, 'request handled');
  }
  if (n < lines) {
    setTimeout(tick, 10);
    return;
  }
  // end() flushes what pino still buffers, then the transport closes the ring: a clean end of stream.
  console.error(`app: logged ${n} lines into ${name}`);
  transport.end();
}
transport.once('ready', tick);
