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

/**
 * CPU ticks of the whole machine (busy and total, from /proc/stat) and of this process with its reaped
 * children (/proc/self/stat utime+stime+cutime+cstime). The difference between two snapshots tells how
 * much CPU *other* processes used during a measurement: a disturbed figure can be flagged as such.
 */
function cpuTicks() {
  try {
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = cpu.reduce((a, b) => a + b, 0);
    const idle = cpu[3] + (cpu[4] || 0);
    const self = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    // fields[0] is field 3 (state); utime is field 14 -> index 11.
    const own = fields[11] + fields[12] + fields[13] + fields[14];
    return { busy: total - idle, total, own };
  } catch {
    return undefined;
  }
}

/** Percent of the machine's CPU time (all cores) used by processes outside this harness between a and b. */
function foreignCpuPercent(a, b) {
  if (!a || !b || b.total <= a.total) return undefined;
  const foreign = Math.max(0, b.busy - a.busy - (b.own - a.own));
  return (foreign / (b.total - a.total)) * 100;
}

module.exports = { machineFacts, cpuTicks, foreignCpuPercent };
