'use strict';
// The jest environment of mutation runs only (stryker.config.json): the suite's environment, plus a bail.
// Stryker runs, for each mutant, every test that reaches the mutated code, in one jest run. Jest cannot
// bail when run programmatically, so a mutant that the first test already kills would still run all the
// others (up to a minute for a mutant of reader.ts). Here, once a test has failed under a mutant, every
// later test of that mutant's run is skipped: the mutant is killed either way (Stryker needs one failing
// test), only sooner. Outside a mutant run (the dry run, plain jest) nothing changes.
const ShmringEnvironment = require('./environment');

const MUTANT = '__STRYKER_ACTIVE_MUTANT__';
// Shared by the environments of all test files of one jest run (they live in this process, not in the
// test sandbox): which mutant has failed a test already.
const bail = { mutant: undefined };

class StrykerBailEnvironment extends ShmringEnvironment {
  async handleTestEvent(event, state) {
    await super.handleTestEvent(event, state);
    const mutant = process.env[MUTANT];
    if (mutant === undefined) return;
    if (event.name === 'test_start' && bail.mutant === mutant) {
      event.test.mode = 'skip';
    } else if (event.name === 'test_done' && event.test.errors.length > 0) {
      bail.mutant = mutant;
    }
  }
}

module.exports = StrykerBailEnvironment;
