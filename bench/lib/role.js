'use strict';
// Child side of a measurement (see child.js): `node <scenario> <role> <params-json>`.


/** Prints READY, then resolves when the harness says GO. If the harness dies, so does this child. */
function ready() {
  return new Promise((resolve) => {
    let buffered = '';
    const onData = (d) => {
      buffered += d;
      if (buffered.includes('GO\n')) {
        process.stdin.off('data', onData);
        resolve();
      }
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', () => process.exit(3));
    process.stdout.write('READY\n');
  });
}

/** Reports the result and exits (flushing stdout first). */
function done(result) {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`, () => process.exit(0));
}

/** Runs the role function named on the command line; any failure exits non-zero with the stack on stderr. */
function main(roles) {
  const role = process.argv[2];
  const params = process.argv[3] ? JSON.parse(process.argv[3]) : {};
  const fn = roles[role];
  if (!fn) {
    process.stderr.write(`unknown role ${role}; expected one of ${Object.keys(roles).join(', ')}\n`);
    process.exit(2);
  }
  Promise.resolve()
    .then(() => fn(params))
    .then((result) => { if (result !== undefined) done(result); })
    .catch((err) => {
      process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
      process.exit(1);
    });
}

const hrnow = process.hrtime.bigint;

/** Wall time in ns (a Number) from process.hrtime.bigint(): CLOCK_MONOTONIC, one clock for all processes. */
function nowNs() { return Number(hrnow()); }

/** CPU seconds (user + system) since `since` (a process.cpuUsage() value). */
function cpuSeconds(since) {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

module.exports = { ready, done, main, nowNs, cpuSeconds, hrnow };
