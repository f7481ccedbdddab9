'use strict';
// The messages every transport carries, defined once so that shmring and its baselines move the same bytes.

const PAYLOADS = {
  raw16: { id: 'raw16', kind: 'raw', size: 16, label: 'raw 16 B' },
  raw64: { id: 'raw64', kind: 'raw', size: 64, label: 'raw 64 B' },
  raw1k: { id: 'raw1k', kind: 'raw', size: 1024, label: 'raw 1 KiB' },
  raw16k: { id: 'raw16k', kind: 'raw', size: 16384, label: 'raw 16 KiB' },
  obj: { id: 'obj', kind: 'obj', size: undefined, label: 'telemetry object (MessagePack)' },
  // A Float32Array frame of 16 KiB (4096 samples). shmring builds it in place (claim/commit); socket
  // baselines send the same 16 KiB of bytes.
  f32: { id: 'f32', kind: 'f32', size: 16384, label: 'Float32Array 16 KiB frame' },
};

const HOSTS = ['web-01', 'web-02', 'db-01', 'cache-01'];
const NAMES = ['cpu.load', 'mem.used', 'net.rx', 'net.tx'];

/** The telemetry object of issue 8: `{ ts, name, value, tags: { host, core } }`, varied per message. */
function telemetry(i) {
  return { ts: 1.7e12 + i, name: NAMES[i & 3], value: (i % 1000) * 0.25, tags: { host: HOSTS[(i >> 2) & 3], core: i & 7 } };
}

/** Size in bytes of the MessagePack encoding of a typical telemetry object (for bytes/s figures). */
function telemetryEncodedSize() {
  const { encode } = require('@msgpack/msgpack');
  return encode(telemetry(12345)).length;
}

module.exports = { PAYLOADS, telemetry, telemetryEncodedSize };
