'use strict';
// The test file runner of mutation runs only (jest.stryker.config.js): jest's own, except that in a
// mutant's run (Stryker passes the tests that reach the mutant as testNamePattern) it leaves out the test
// files that hold none of those tests, as noted by stryker-environment.js during Stryker's initial run.
// Loading a test file costs its imports even when all its tests are skipped: about 2 s per mutant for the
// files of stryker.config.json. A file it knows nothing about is always run.
const fs = require('fs');
const TestRunner = require('jest-runner').default;
const { testNamesFile } = require('./stryker-environment');

class StrykerFileFilterRunner extends TestRunner {
  async runTests(tests, watcher, options) {
    const pattern = this._globalConfig.testNamePattern;
    if (pattern && process.env.__STRYKER_ACTIVE_MUTANT__ !== undefined && tests.length > 0) {
      let known;
      try {
        known = JSON.parse(fs.readFileSync(testNamesFile(tests[0].context.config.rootDir), 'utf8'));
      } catch {
        known = undefined;
      }
      if (known) {
        const wanted = new RegExp(pattern, 'i');
        const kept = tests.filter((test) => known[test.path] === undefined || known[test.path].some((name) => wanted.test(name)));
        // Never none: jest (and Stryker) treat a run without test files differently from a run without tests.
        if (kept.length > 0) tests = kept;
      }
    }
    return super.runTests(tests, watcher, options);
  }
}

module.exports = StrykerFileFilterRunner;
