'use strict';
// The collector: receives the telemetry of every application process and prints aggregates each second.
// Here as a Selector over every ring named TELEMETRY_PREFIX*: one ring per app, found as apps start.
//
//   node shm/collector.js             (TELEMETRY_PREFIX: the rings' name prefix, default '/telemetry.')
const { Selector } = require('shmring');

const prefix = process.env.TELEMETRY_PREFIX ?? '/telemetry.';
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

const selector = new Selector();
const following = selector.follow(prefix, { unlinkDead: true }); // a crashed app's ring is removed once read
selector.on('message', record);
selector.on('warning', (error) => console.warn(`collector: ${error.message}`));

const ticker = setInterval(() => console.log(`collector: ${received} messages from ${byApp.size} apps`), 1000);

function finish() {
  console.table(aggregates());
  // Exit once the report is out: process.send is asynchronous, an exit right after it can drop it.
  if (process.send) process.send({ received, apps: aggregates() }, () => process.exit(0));
  else process.exit(0);
}
function stop() {
  clearInterval(ticker);
  selector.on('close', finish);
  following.close(); // stop following; the selector closes once every app's ring is drained
  setTimeout(finish, 3000).unref(); // an app that never closes its ring
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.on('disconnect', stop); // started by a launcher (run.js) that is gone
process.send?.({ ready: true }); // only now: a Ctrl-C from here on finds the handlers above
