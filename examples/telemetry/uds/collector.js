'use strict';
// The collector: receives the telemetry of every application process and prints aggregates each second.
// Here as a Unix domain socket server: one connection per app, one JSON object per line.
//
//   node uds/collector.js             (TELEMETRY_SOCKET: the socket path)
const fs = require('fs');
const net = require('net');

const socketPath = process.env.TELEMETRY_SOCKET ?? '/tmp/telemetry.sock';
const byApp = new Map();
let received = 0;

function record(message) {
  received++;
  let app = byApp.get(message.app);
  if (app === undefined) byApp.set(message.app, (app = { metrics: 0, sum: 0, max: 0, events: 0 }));
  if (message.kind === 'metric') {
    app.metrics++;
    app.sum += message.value;
    app.max = Math.max(app.max, message.value);
  } else {
    app.events++;
  }
}

function aggregates() {
  return [...byApp].map(([app, a]) => ({
    app,
    metrics: a.metrics,
    'mean latency ms': Number((a.sum / (a.metrics || 1)).toFixed(2)),
    'max latency ms': Number(a.max.toFixed(2)),
    events: a.events,
  }));
}

fs.rmSync(socketPath, { force: true });
const server = net.createServer((socket) => {
  let partial = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) record(JSON.parse(line));
  });
});
server.listen(socketPath, () => process.send?.({ ready: true }));

const ticker = setInterval(() => console.log(`collector: ${received} messages from ${byApp.size} apps`), 1000);

function finish() {
  console.table(aggregates());
  // Exit once the report is out: process.send is asynchronous, an exit right after it can drop it.
  if (process.send) process.send({ received, apps: aggregates() }, () => process.exit(0));
  else process.exit(0);
}
function stop() {
  clearInterval(ticker);
  server.close(finish); // stop accepting; finish once every app has disconnected
  setTimeout(finish, 3000).unref(); // an app that never disconnects
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.on('disconnect', stop); // started by a launcher (run.js) that is gone
