'use strict';
// The facts that make a figure comparable: printed at the top of every report.
const os = require('os');
const fs = require('fs');
const { execFileSync } = require('child_process');

function readFirst(path) {
  try { return fs.readFileSync(path, 'utf8').trim(); } catch { return undefined; }
}

function machineFacts() {
  const cpus = os.cpus();
  let commit;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: __dirname, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch { commit = undefined; }
  return {
    cpuModel: (cpus[0] && cpus[0].model) || 'unknown',
    cores: cpus.length,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    v8: process.versions.v8,
    arch: process.arch,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    governor: readFirst('/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor'),
    thpShmem: readFirst('/sys/kernel/mm/transparent_hugepage/shmem_enabled'),
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    commit,
    date: new Date().toISOString(),
  };
}

module.exports = { machineFacts };
