'use strict';
// The consumer, in a worker thread. With --spin it busy-polls (wait: 'spin' + receiveSync): the lowest
// latency, paid for with a core, and harmless to the main thread, whose event loop never waits for it.
// Otherwise it sleeps in the kernel between messages (for await).
const { parentPort, workerData } = require('worker_threads');
const { Consumer } = require('shmring');

const consumer = Consumer.open(workerData.name, { wait: workerData.spin ? 'spin' : 'spin-then-sleep' });
let received = 0;
let latencySumNs = 0;
let latencyCount = 0;

function handle(message) {
  received++;
  const latency = Number(process.hrtime.bigint()) - message.sentAt;
  if (latency >= 0) {
    latencySumNs += latency;
    latencyCount++;
  }
}

const progress = () => {
  parentPort.postMessage({ received, lost: consumer.lost, meanLatencyUs: latencyCount ? latencySumNs / latencyCount / 1000 : 0 });
  latencySumNs = 0;
  latencyCount = 0;
};

// The main thread asks the worker to leave (its SIGINT/SIGTERM): read what is there, then close.
function onStop(message) {
  if (message === 'stop' && !consumer.isClosed) {
    consumer.drain(handle);
    consumer.close();
  }
}
parentPort.on('message', onStop);

async function main() {
  parentPort.postMessage({ ready: true });
  if (workerData.spin) {
    // receiveSync blocks this thread only. Its bounded waits let 'stop' messages in between.
    let lastProgress = Date.now();
    for (;;) {
      const message = consumer.receiveSync(100);
      if (message !== undefined) handle(message);
      else if (consumer.ended) break;
      if (Date.now() - lastProgress >= 250) {
        progress();
        lastProgress = Date.now();
        // Let parentPort messages ('stop') be delivered.
        await new Promise((resolve) => setImmediate(resolve));
        if (consumer.isClosed) break;
      }
    }
  } else {
    const timer = setInterval(progress, 250);
    for await (const message of consumer) handle(message);
    clearInterval(timer);
  }
  progress();
  if (!consumer.isClosed) consumer.close();
  parentPort.postMessage({ done: true, received });
  // A listening port keeps a worker alive: stop listening, and the worker exits by itself.
  parentPort.off('message', onStop);
}

main().catch((error) => {
  parentPort.postMessage({ error: error.message, code: error.code });
});
