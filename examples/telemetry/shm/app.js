'use strict';
// An application process that publishes telemetry: a latency metric every few milliseconds and an event
// now and then. Here over its own shared-memory ring, which the collector discovers by name prefix.
//
//   node shm/app.js <app name>        (TELEMETRY_PREFIX: the rings' name prefix, default '/telemetry.')
const { Producer } = require('shmring');

const app = process.argv[2] ?? 'app';
const prefix = process.env.TELEMETRY_PREFIX ?? '/telemetry.';
const channel = Producer.create(`${prefix}${app}.${process.pid}`);

let sent = 0;
let dropped = 0;
function publish(messages) {
  // One batch per tick: one publish and at most one wake of the collector, however many messages.
  // Fewer sent than given: the collector is behind and the ring is full. Telemetry must never stall
  // the app: drop the rest.
  const now = channel.sendBatch(messages);
  sent += now;
  dropped += messages.length - now;
}

const timer = setInterval(() => {
  const batch = [{ app, kind: 'metric', name: 'latency_ms', value: 5 + Math.random() * 20, at: Date.now() }];
  if (Math.random() < 0.1) batch.push({ app, kind: 'event', name: 'request_failed', at: Date.now() });
  publish(batch);
}, 2);

function stop() {
  clearInterval(timer);
  channel.close(); // END after the last message, then unlink: the collector drains it and lets it go
  // Exit once the report is out: process.send is asynchronous, an exit right after it can drop it.
  if (process.send) process.send({ app, sent, dropped }, () => process.exit(0));
  else process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.send?.({ ready: true });
