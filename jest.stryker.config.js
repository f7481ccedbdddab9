'use strict';
// The jest configuration of mutation runs (stryker.config.json, `npm run mutate`): the suite's, with a
// test environment that stops a mutant's run at its first failing test and an order that runs the fast
// in-process tests first (test/support/stryker-environment.js, stryker-sequencer.js). Which tests run is
// in stryker.config.json (`jest.config.testMatch`). See docs/testing.md, "Mutation testing".
const path = require('path');
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  rootDir: __dirname,
  testEnvironment: path.join(__dirname, 'test', 'support', 'stryker-environment.js'),
  testSequencer: path.join(__dirname, 'test', 'support', 'stryker-sequencer.js'),
};
