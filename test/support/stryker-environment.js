'use strict';
// The jest environment of mutation runs only (jest.stryker.config.js): the suite's environment, plus:
// - a bail. Stryker runs, for each mutant, every test that reaches the mutated code, in one jest run. Jest
//   cannot bail when run programmatically, so a mutant that the first test already kills would still run
//   all the others. Here, once a test has failed under a mutant, every later test of that mutant's run is
//   skipped: the mutant is killed either way (Stryker needs one failing test), only sooner.
// - during Stryker's initial run (all tests, no mutant), it notes which tests each file holds
//   (test-names.json beside the config), so that stryker-runner.js can leave out, in a mutant's run, the
//   files that hold none of the tests Stryker asks for: loading all of them costs seconds per mutant.
// Outside Stryker (plain jest with this config) it behaves as the suite's environment.
const fs = require('fs');
const path = require('path');
const ShmringEnvironment = require('./environment');

const MUTANT = '__STRYKER_ACTIVE_MUTANT__';
// Shared by the environments of all test files of one jest run (they live in this process, not in the
// test sandbox): which mutant has failed a test already.
const bail = { mutant: undefined };

/** Where the names of each file's tests are noted (in Stryker's sandbox, which is thrown away after). */
function testNamesFile(rootDir) {
  return path.join(rootDir, '.stryker-tmp-test-names.json');
}

/** The name Stryker and jest's testNamePattern know a test by: its describe blocks' names and its own. */
function fullName(test) {
  const names = [test.name];
  for (let block = test.parent; block && block.parent; block = block.parent) names.unshift(block.name);
  return names.join(' ');
}

class StrykerBailEnvironment extends ShmringEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testPath = context.testPath;
    this.rootDir = config.projectConfig.rootDir;
    this.noting = process.env.STRYKER_MUTATOR_WORKER !== undefined && process.env[MUTANT] === undefined;
    this.names = [];
  }

  async handleTestEvent(event, state) {
    await super.handleTestEvent(event, state);
    if (this.noting && event.name === 'test_start') this.names.push(fullName(event.test));
    const mutant = process.env[MUTANT];
    if (mutant === undefined) return;
    if (event.name === 'test_start' && bail.mutant === mutant) {
      event.test.mode = 'skip';
    } else if (event.name === 'test_done' && event.test.errors.length > 0) {
      bail.mutant = mutant;
    }
  }

  async teardown() {
    if (this.noting) {
      const file = testNamesFile(this.rootDir);
      let known = {};
      try {
        known = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch {
        // first file of the run
      }
      known[this.testPath] = this.names;
      fs.writeFileSync(file, JSON.stringify(known));
    }
    await super.teardown();
  }
}

StrykerBailEnvironment.testNamesFile = testNamesFile;
module.exports = StrykerBailEnvironment;
