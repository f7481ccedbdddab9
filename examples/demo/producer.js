'use strict';
// Demo producer: creates the ring and publishes small telemetry-like messages as fast as the tethered
// consumer allows, until told to stop (IPC 'stop', SIGINT or SIGTERM). Closing publishes the end of
// stream after everything sent, and unlinks the segment.
const { Producer } = require('shmring');
// (Inside this repository `require('shmring')` resolves to ./dist through the package's own name.)

const name = process.argv[2];
const producer = Producer.create(name, { capacity: 1 << 20 });
let stopping = false;
let sent = 0;

function report() {
  process.send?.({ role: 'producer', sent, stalls: producer.stats.producerStalls });
}

async function run() {
  const message = { seq: 0, host: 'demo', cpu: 0, mem: 0, sentAt: 0 };
  while (!stopping) {
    // A batch per turn of the event loop, so IPC and signals are served between batches.
    for (let i = 0; i < 512 && !stopping; i++) {
      message.seq = sent;
      message.cpu = (sent % 100) / 100;
      message.mem = 1000 + (sent % 7);
      message.sentAt = Date.now();
      if (!producer.send(message)) {
        // A tethered consumer holds the ring full: wait for space without blocking the event loop.
        await producer.sendAsync(message).catch(() => {});
        if (producer.isClosed) break;
      }
      sent++;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function stop() {
  if (stopping) return;
  stopping = true;
  go?.();
}

process.on('SIGINT', stop);
process.on('SIGTERM', stop);
let go;
const started = new Promise((resolve) => {
  go = resolve;
});
process.on('message', (message) => {
  if (message === 'start') go();
  if (message === 'stop') stop();
});
process.on('disconnect', stop); // the launcher went away

const timer = setInterval(report, 250);
process.send?.({ role: 'producer', ready: true });
// Wait for the launcher's go (the consumers have joined), or run at once when started by hand.
(process.send ? started : Promise.resolve()).then(run).then(() => {
  clearInterval(timer);
  producer.close();
  report();
  process.send?.({ role: 'producer', closed: true });
  process.disconnect?.();
});
