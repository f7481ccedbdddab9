'use strict';
// Safety net: every test unlinks what it creates. A test segment still here whose creating process
// (the pid in its name, see names.ts) has exited is a leak: report it loudly and remove it, so one buggy
// test cannot fill /dev/shm. Segments of processes still running (another jest run) are left alone.
const fs = require('fs');
module.exports = async () => {
  const before = new Set(JSON.parse(process.env.SHMRING_TEST_PREEXISTING || '[]'));
  const leaked = fs.readdirSync('/dev/shm').filter((f) => {
    if (!f.startsWith('shmring-test.') || before.has(f)) return false;
    const pid = Number(f.split('.')[1]);
    return !(Number.isInteger(pid) && fs.existsSync(`/proc/${pid}`));
  });
  for (const f of leaked) {
    try { fs.unlinkSync(`/dev/shm/${f}`); } catch { /* raced with a child's cleanup */ }
  }
  if (leaked.length > 0) {
    console.warn(`\nshmring tests leaked ${leaked.length} segment(s), now removed:\n  ${leaked.join('\n  ')}`);
  }
  // Doorbell FIFOs carry no pid: one this run made that nobody holds open for reading any more is an
  // orphan (a consumer killed by a crash test after its ring was unlinked, so no reclaim removed it).
  // Older than the bells' grace, so a consumer of another run between mkfifo and open is not touched.
  let bells = [];
  try {
    const { sweepOrphanBells } = require('../../dist/ring/bells');
    bells = sweepOrphanBells({ dryRun: true }).removed.filter((path) => !before.has(path.slice('/dev/shm/'.length)));
  } catch {
    // No dist/ (jest run without `npm run build`): no bell sweep, the segments' net above still ran.
  }
  for (const path of bells) {
    try { fs.unlinkSync(path); } catch { /* raced with its reclaim */ }
  }
  if (bells.length > 0) console.warn(`\nshmring tests left ${bells.length} doorbell FIFO(s), now removed:\n  ${bells.join('\n  ')}`);
};
