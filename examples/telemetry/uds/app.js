'use strict';
// An application process that publishes telemetry: a latency metric every few milliseconds and an event
// now and then. Here over a Unix domain socket to the collector, one JSON object per line.
//
//   node uds/app.js <app name>        (TELEMETRY_SOCKET: the collector's socket path)
const net = require('net');

const app = process.argv[2] ?? 'app';
const socketPath = process.env.TELEMETRY_SOCKET ?? '/tmp/telemetry.sock';
const channel = net.createConnection(socketPath);
channel.on('error', () => {}); // collector gone: the app carries on without telemetry

let sent = 0;
let dropped = 0;
function publish(messages) {
  // One write per tick, however many messages: one syscall.
  channel.write(messages.map((message) => `${JSON.stringify(message)}\n`).join(''));
  sent += messages.length;
}

const timer = setInterval(() => {
  const batch = [{ app, kind: 'metric', name: 'latency_ms', value: 5 + Math.random() * 20, at: Date.now() }];
  if (Math.random() < 0.1) batch.push({ app, kind: 'event', name: 'request_failed', at: Date.now() });
  publish(batch);
}, 2);

function stop() {
  clearInterval(timer);
  channel.end(() => {
    // Exit once the report is out: process.send is asynchronous, an exit right after it can drop it.
    if (process.send) process.send({ app, sent, dropped }, () => process.exit(0));
    else process.exit(0);
  });
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
channel.on('connect', () => process.send?.({ ready: true }));
