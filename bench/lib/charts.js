'use strict';
// SVG charts for docs/charts/, generated from the bench's own results.
const fs = require('fs');
const path = require('path');
const { groupedBarChart } = require('./svg');
const { stat, tputId, latId, TRANSPORTS, PAYLOAD_ORDER } = require('./report');
const { PAYLOADS } = require('./payloads');

function subtitle(results) {
  const m = results.machine || {};
  return `${m.cpuModel} × ${m.cores}, ${m.kernel}, Node ${m.node}; median of ${results.repeats} runs, whiskers min–max (${results.mode} mode)`;
}

function writeCharts(results, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const written = [];

  const transports = TRANSPORTS.filter(([t]) => t !== 'shmring-spin' && PAYLOAD_ORDER.some((p) => tputId(results, t, p)));
  const payloads = PAYLOAD_ORDER.filter((p) => transports.some(([t]) => tputId(results, t, p)));
  if (transports.length && payloads.length) {
    const cells = payloads.map((p) => transports.map(([t]) => {
      const id = tputId(results, t, p === 'f32' && t !== 'shmring' ? (t === 'c-ring' ? 'raw16k' : 'f32') : p);
      return id ? stat(results, id, 'msgs_per_s') : undefined;
    }));
    const svg = groupedBarChart({
      title: 'Throughput by message size, one producer → one consumer (separate processes)',
      subtitle: subtitle(results),
      yLabel: 'messages per second',
      groups: payloads.map((p) => PAYLOADS[p].label.replace(' (MessagePack)', '').replace('telemetry object', 'object (msgpack)').replace('Float32Array 16 KiB frame', 'f32 16 KiB frame')),
      series: transports.map(([, label]) => label),
      cells,
      log: true,
    });
    const file = path.join(dir, 'throughput-by-size.svg');
    fs.writeFileSync(file, svg);
    written.push(file);
  }

  const modes = [
    ['c-ring', 'pingpong', 'C ring ping-pong'],
    ['shmring', 'spin', 'shmring spin'],
    ['shmring', 'event-loop', 'shmring default, 10k/s'],
    ['uds', 'paced', 'UDS, 10k/s'],
    ['shmring', 'low-rate', 'shmring default, 1k/s'],
    ['uds', 'low-rate', 'UDS, 1k/s'],
  ].filter(([t, m]) => latId(results, t, m));
  if (modes.length) {
    const cells = modes.map(([t, m]) => ['p50_us', 'p99_us', 'p999_us'].map((k) => stat(results, latId(results, t, m), k)));
    const svg = groupedBarChart({
      title: 'One-way latency percentiles by mode',
      subtitle: subtitle(results),
      yLabel: 'microseconds',
      groups: modes.map(([, , label]) => label),
      series: ['p50', 'p99', 'p99.9'],
      cells,
      log: true,
    });
    const file = path.join(dir, 'latency-by-mode.svg');
    fs.writeFileSync(file, svg);
    written.push(file);
  }
  return written;
}

module.exports = { writeCharts };
