#!/usr/bin/env node
'use strict';
// Node producer ─▶ ring ─▶ C consumer (msgpack_reader, msgpack-c): the C side decodes the objects the
// Node side sends and prints each as a JSON line. Build the C side first: `node scripts/build-c.js`.
//   node examples/c-msgpack/run.js [--name /ring]
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { Producer } = require('shmring');

const index = process.argv.indexOf('--name');
const name = index === -1 ? `/shmring-c-msgpack.${process.pid}` : process.argv[index + 1];
const reader = path.join(__dirname, '..', '..', 'build', 'c', 'msgpack_reader');
if (!fs.existsSync(reader)) {
  throw new Error(`${reader} is missing: run \`node scripts/build-c.js\` first (it needs libmsgpack-dev: apt-get install libmsgpack-dev)`);
}

const producer = Producer.create(name, { capacity: 1 << 16 });
const child = spawn(reader, [name], { stdio: ['ignore', 'pipe', 'inherit'] });
child.stdout.pipe(process.stdout);
let ready = false;
child.stdout.on('data', (chunk) => {
  if (ready || !String(chunk).includes('"ready"')) return;
  ready = true;
  // What a telemetry agent in Node sends; the C side sees the same values.
  producer.send({ host: 'web-1', cpu: 0.42, ok: true, tags: ['a', 'b'], n: -5, big: 2 ** 40, none: null });
  producer.send({ samples: Float32Array.of(0.5, -1.25, 3), counts: Int32Array.of(-1, 2, 30000) });
  producer.send({ at: new Date(Date.UTC(2026, 11, 2, 6, 0, 0, 250)), text: 'quote " and \\ backslash' });
  producer.send([1, 'two', { three: 3 }]);
  producer.close(); // END: the reader prints {"end":"END"} and exits
});
child.on('exit', (code) => {
  if (!producer.isClosed) producer.close();
  process.exitCode = code ?? 1;
});
