'use strict';
/*
 * Logs with the real pino (issue 17): lines/s and the application's CPU per line, shmring/pino against
 * pino writing to a file and to a Unix socket. One case; each run measures every variant once, in an
 * order rotated from run to run (interleaved), and reports paired ratios from the same run.
 *
 *   shm-transport    app process: pino ─▶ pino.transport({ target: 'shmring/pino' }) (worker thread)
 *                       ─▶ ring ─▶ collector process (collectLines, tethered, counts lines)
 *   shm-destination  app process: pino ─▶ createDestination() (same thread) ─▶ ring ─▶ collector process
 *   file-transport   app process: pino ─▶ pino.transport({ target: 'pino/file' }) (worker) ─▶ file in $TMPDIR
 *   file-destination app process: pino ─▶ pino.destination({ sync: false }) (sonic-boom, same thread) ─▶ file
 *   uds              app process: pino ─▶ net.Socket ─▶ Unix socket ─▶ server process (counts lines)
 *
 * The app logs N lines (200 000; 50 000 in --quick) of ~130 bytes, 1 000 per turn of the event loop, then
 * ends its stream. Timed from the first line to the last line delivered: counted by the collector or
 * server, or (file) flushed and closed. App CPU: process.cpuUsage() of the whole app process over the same
 * span (main thread plus pino's worker thread for transports), per line.
 */
const net = require('net');
const { Writable } = require('stream');
const { main, ready, nowNs, cpuSeconds } = require('../lib/role');

const VARIANTS = ['shm-transport', 'shm-destination', 'file-transport', 'file-destination', 'uds'];
const BATCH = 1000;

function countingWritable(expected, onAll) {
  let lines = 0;
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
      if (lines >= expected) onAll(lines);
      callback();
    },
  });
  stream.lines = () => lines;
  return stream;
}

/** The app: builds the pino destination of `variant`, waits for GO, logs, ends the stream. */
async function app({ variant, name, file, socketPath, lines }) {
  const pino = require('pino');
  let stream;
  if (variant === 'shm-transport') stream = pino.transport({ target: 'shmring/pino', options: { name } });
  else if (variant === 'shm-destination') stream = require('shmring/pino').createDestination({ name });
  else if (variant === 'file-transport') stream = pino.transport({ target: 'pino/file', options: { destination: file } });
  else if (variant === 'file-destination') stream = pino.destination({ dest: file, sync: false });
  else {
    stream = net.connect(socketPath);
    await new Promise((resolve, reject) => { stream.once('connect', resolve); stream.once('error', reject); });
  }
  if (variant.endsWith('transport')) await new Promise((resolve) => stream.once('ready', resolve));
  const logger = pino({ base: { pid: process.pid, hostname: 'bench' } }, stream);
  await ready();
  const cpu0 = process.cpuUsage();
  const t0 = nowNs();
  let n = 0;
  await new Promise((resolve) => {
    const turn = () => {
      const stop = Math.min(lines, n + BATCH);
      for (; n < stop; n++) logger.info({ n, route: '/orders', status: 200, ms: n % 17 }, 'request handled');
      if (n < lines) setImmediate(turn);
      else resolve();
    };
    turn();
  });
  const closed = new Promise((resolve) => stream.once('close', resolve));
  stream.end();
  await closed;
  return { t0, tEnd: nowNs(), appCpuS: cpuSeconds(cpu0), sent: n };
}

async function shmCollector({ name, lines }) {
  const { collectLines } = require('shmring/pino');
  let tEnd = 0;
  const output = countingWritable(lines, () => { if (!tEnd) tEnd = nowNs(); });
  const done = collectLines(name, output, { openTimeout: 10_000 });
  await ready();
  await done;
  return { tEnd, lines: output.lines() };
}

async function udsServer({ socketPath, lines }) {
  const server = net.createServer();
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(socketPath, resolve); });
  let tEnd = 0;
  let output;
  const finished = new Promise((resolve) => {
    output = countingWritable(lines, () => { if (!tEnd) { tEnd = nowNs(); resolve(); } });
  });
  server.on('connection', (socket) => socket.pipe(output));
  await ready();
  await finished;
  server.close();
  return { tEnd, lines: output.lines() };
}

let rotation = 0;

module.exports = {
  name: 'pino',
  title: 'pino logs: shmring/pino vs a file vs a Unix socket',
  available: async () => {
    try {
      require.resolve('pino');
      return true;
    } catch {
      return 'pino is not installed (a devDependency: npm install)';
    }
  },
  cases() {
    return [{ id: 'pino.lines', group: 'pino', transport: 'pino', repeatsQuick: 3 }];
  },
  async runOnce(_c, ctx) {
    const lines = ctx.quick ? 50_000 : 200_000;
    const out = {};
    const order = VARIANTS.map((_, i) => VARIANTS[(i + rotation) % VARIANTS.length]);
    rotation++;
    for (const variant of order) {
      const params = { variant, lines };
      const specs = [];
      if (variant.startsWith('shm')) {
        params.name = ctx.uniqueSegmentName('pino');
        specs.push({ script: __filename, role: 'app', params, trigger: true });
        specs.push({ script: __filename, role: 'shm-collector', params: { name: params.name, lines } });
      } else if (variant === 'uds') {
        params.socketPath = ctx.uniqueSocketPath('pino');
        specs.push({ script: __filename, role: 'uds-server', params: { socketPath: params.socketPath, lines } });
        specs.push({ script: __filename, role: 'app', params, trigger: true });
      } else {
        // A path the harness unlinks after the run, like a socket's.
        params.file = ctx.uniqueSocketPath('pino-log');
        specs.push({ script: __filename, role: 'app', params, trigger: true });
      }
      const results = await ctx.runProcesses(specs, { timeoutMs: ctx.runTimeoutMs });
      const appResult = results.find((r) => r.appCpuS !== undefined);
      const reader = results.find((r) => r.lines !== undefined);
      const delivered = reader ? reader.lines : lines;
      if (appResult.sent !== lines || delivered !== lines) throw new Error(`${variant}: logged ${appResult.sent}, delivered ${delivered} of ${lines}`);
      const tEnd = reader ? Math.max(reader.tEnd, 0) : appResult.tEnd;
      const key = variant.replace('-', '_');
      out[`${key}_lines_per_s`] = lines / ((tEnd - appResult.t0) / 1e9);
      out[`${key}_app_cpu_us_per_line`] = (appResult.appCpuS / lines) * 1e6;
    }
    // Paired ratios (this run's variants against each other): > 1 means shmring/pino is faster / cheaper.
    out.ratio_tput_shm_vs_file_transport = out.shm_transport_lines_per_s / out.file_transport_lines_per_s;
    out.ratio_tput_shm_vs_file_destination = out.shm_destination_lines_per_s / out.file_destination_lines_per_s;
    out.ratio_tput_shm_destination_vs_uds = out.shm_destination_lines_per_s / out.uds_lines_per_s;
    out.ratio_cpu_file_vs_shm_transport = out.file_transport_app_cpu_us_per_line / out.shm_transport_app_cpu_us_per_line;
    out.ratio_cpu_file_vs_shm_destination = out.file_destination_app_cpu_us_per_line / out.shm_destination_app_cpu_us_per_line;
    out.ratio_cpu_uds_vs_shm_destination = out.uds_app_cpu_us_per_line / out.shm_destination_app_cpu_us_per_line;
    out.lines = lines;
    return out;
  },
  /** The report's section (called by lib/report.js). */
  reportLines(results, c, { table, cell, stat, rate }) {
    const rows = VARIANTS.map((variant) => {
      const key = variant.replace('-', '_');
      return [variant, cell(stat(results, c.id, `${key}_lines_per_s`), rate), cell(stat(results, c.id, `${key}_app_cpu_us_per_line`))];
    });
    const ratios = [
      ['transport (worker): shmring/pino vs pino/file, lines/s', 'ratio_tput_shm_vs_file_transport'],
      ['destination (same thread): shmring/pino vs sonic-boom file, lines/s', 'ratio_tput_shm_vs_file_destination'],
      ['destination: shmring/pino vs Unix socket, lines/s', 'ratio_tput_shm_destination_vs_uds'],
      ['app CPU per line, pino/file ÷ shmring/pino (transport)', 'ratio_cpu_file_vs_shm_transport'],
      ['app CPU per line, file ÷ shmring/pino (destination)', 'ratio_cpu_file_vs_shm_destination'],
      ['app CPU per line, Unix socket ÷ shmring/pino (destination)', 'ratio_cpu_uds_vs_shm_destination'],
    ];
    return [
      '## Logs with pino (issue 17): lines/s and app CPU per line, interleaved in each run',
      '',
      table(['Variant', 'lines/s', 'app CPU µs / line'], rows),
      '',
      table(['Paired ratio (median over runs)', 'ratio'], ratios.map(([label, key]) => [label, cell(stat(results, c.id, key))])),
      '',
    ];
  },
};

if (require.main === module) {
  main({ app, 'shm-collector': shmCollector, 'uds-server': udsServer });
}
