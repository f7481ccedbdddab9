'use strict';
// Records which test segments already existed, so teardown reports only what this run leaked.
const fs = require('fs');
module.exports = async () => {
  const before = fs.readdirSync('/dev/shm').filter((f) => f.startsWith('shmring-test.') || f.startsWith('.shmring-bell-'));
  process.env.SHMRING_TEST_PREEXISTING = JSON.stringify(before);
};
