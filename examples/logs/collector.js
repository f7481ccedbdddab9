'use strict';
// Turns a ring of log lines back into lines: writes each to stdout, or to --out FILE (appending), with
// its newline, until the application ends its logger. Ctrl-C stops it cleanly.
//
//   node examples/logs/collector.js /logs.app [--out app.log] [--from next|oldest]
//
// Exit codes: 0 clean end or Ctrl-C, 1 the application died (PRODUCER_DIED: every line it logged into
// the ring was written first), 2 usage.
const fs = require('fs');
const { collectLines } = require('shmring/pino');

function option(flag, fallback) {
  const index = process.argv.indexOf(flag);
  return index === -1 ? fallback : process.argv[index + 1];
}
const name = process.argv[2];
const out = option('--out', undefined);
const from = option('--from', 'oldest');
if (!name || !name.startsWith('/') || !['next', 'oldest'].includes(from)) {
  console.error('usage: node examples/logs/collector.js /ring-name [--out FILE] [--from next|oldest]');
  process.exit(2);
}

const output = out ? fs.createWriteStream(out, { flags: 'a' }) : process.stdout;
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
process.once('SIGTERM', () => stop.abort());

console.error(`collector: waiting for ${name}`);
// from 'oldest': also the lines the app logged before we joined, as far as the ring still holds them.
collectLines(name, output, { from, openTimeout: 30_000, signal: stop.signal }).then(
  ({ lines, lost }) => finish(`collector: ${name} ended cleanly after ${lines} lines (lost ${lost})`, 0),
  (error) => {
    if (error.code === 'ABORTED') finish('collector: stopped', 0);
    else finish(`collector: ${error.code ?? 'error'}: ${error.message}`, 1);
  },
);

function finish(message, code) {
  const done = () => {
    console.error(message);
    process.exitCode = code;
  };
  if (output === process.stdout) done();
  else output.end(done);
}
