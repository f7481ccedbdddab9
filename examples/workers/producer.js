'use strict';
// The producer process: publishes { seq, sentAt } at a steady rate until told to stop (IPC 'stop',
// SIGINT, SIGTERM); close() then ends the stream for the consumer and unlinks the segment.
const { Producer } = require('shmring');

const [name, rateArg] = process.argv.slice(2);
const perSecond = Number(rateArg) || 10000;
const producer = Producer.create(name, { capacity: 1 << 20 });
let seq = 0;
let timer;
let stopping = false;

function begin() {
  const startedAt = Date.now();
  timer = setInterval(() => {
    const due = Math.floor(((Date.now() - startedAt) / 1000) * perSecond);
    while (seq < due) {
      // process.hrtime in ns as a double: the worker measures one-way latency with the same clock.
      if (!producer.send({ seq, sentAt: Number(process.hrtime.bigint()) })) break; // full: catch up next tick
      seq++;
    }
  }, 1);
}

function stop() {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  producer.close();
  process.send?.({ sent: seq, closed: true });
  process.disconnect?.();
}

process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.on('disconnect', stop);
process.on('message', (message) => {
  if (message === 'start') begin();
  if (message === 'stop') stop();
});
process.send?.({ ready: true });
if (!process.send) begin();
