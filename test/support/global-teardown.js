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
};
