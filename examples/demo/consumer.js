'use strict';
// Demo consumer. 'fast': tethered, the 'message' event form (every available message per wakeup).
// 'slow': untethered, for await with a pause now and then: it falls behind, is overwritten, and counts
// exactly what it lost, without ever holding the producer back.
const { Consumer } = require('shmring');

const [name, kind] = process.argv.slice(2);
let consumer; // joined in main(): Consumer.connect waits for the producer's ring without blocking
let latencyMs = 0;

function report(extra = {}) {
  const { received, lost, lagBytes } = consumer.isClosed ? { ...last, lagBytes: 0 } : consumer.stats;
  last = { received, lost };
  process.send?.({ role: kind, received, lost, lagBytes, latencyMs, ...extra });
}
let last = { received: 0, lost: 0 };

let timer;
let finished = false;

function finish() {
  // (Not consumer.isClosed: leaving a for await loop closes the consumer by itself.)
  if (consumer === undefined || finished) return;
  finished = true;
  report();
  clearInterval(timer);
  consumer.close();
  report({ closed: true });
  process.disconnect?.();
}

// SIGINT/SIGTERM: read what is already in the ring, then leave (the producer unlinks the segment).
function drainAndLeave() {
  if (consumer === undefined) process.exit(0);
  if (finished) return;
  try {
    consumer.drain(() => {});
  } catch {
    // the producer died: nothing more to read
  }
  finish();
}
process.on('SIGINT', drainAndLeave);
process.on('SIGTERM', drainAndLeave);

async function slow() {
  let count = 0;
  for await (const message of consumer) {
    latencyMs = Date.now() - message.sentAt;
    if (++count % 2000 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function fast() {
  return new Promise((resolve, reject) => {
    consumer.on('message', (message) => {
      latencyMs = Date.now() - message.sentAt;
    });
    consumer.on('end', resolve);
    consumer.on('error', reject);
    consumer.on('close', resolve);
  });
}

async function main() {
  consumer = await Consumer.connect(name, { tethered: kind !== 'slow', timeout: 5000 });
  timer = setInterval(report, 250);
  process.send?.({ role: kind, ready: true });
  await (kind === 'slow' ? slow() : fast());
}

main().then(finish, (error) => {
  console.error(`consumer ${kind}: ${error.message}`);
  finish();
  process.exitCode = 1;
});
