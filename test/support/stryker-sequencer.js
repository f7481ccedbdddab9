'use strict';
// The order of test files in mutation runs only (stryker.config.json): the fast in-process tests that are
// written to kill mutants first, child-process and fault tests last. With the bail of
// stryker-environment.js, a mutant is then usually killed before the slow files run.
const Sequencer = require('@jest/test-sequencer').default;

const RANKS = [/\/test\/ring\/mutants-/, /\/test\/ring\//, /\/test\/layout\.test/, /\/test\/api\//, /\/test\/security\//, /\/test\/fault\//];

function rank(path) {
  const index = RANKS.findIndex((pattern) => pattern.test(path));
  return index < 0 ? RANKS.length : index;
}

class StrykerSequencer extends Sequencer {
  sort(tests) {
    return [...tests].sort((a, b) => rank(a.path) - rank(b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}

module.exports = StrykerSequencer;
