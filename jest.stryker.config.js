'use strict';
// The jest configuration of mutation runs (stryker.config.json, `npm run mutate`): the suite's, with a
// test environment that stops a mutant's run at its first failing test, an order that runs the fast
// in-process tests first, and a runner that loads only the test files holding tests Stryker asks for
// (test/support/stryker-environment.js, stryker-sequencer.js, stryker-runner.js). Which tests run is in
// stryker.config.json (`jest.config.testMatch`). See docs/testing.md, "Mutation testing".
const path = require('path');
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  rootDir: __dirname,
  testEnvironment: path.join(__dirname, 'test', 'support', 'stryker-environment.js'),
  testSequencer: path.join(__dirname, 'test', 'support', 'stryker-sequencer.js'),
  runner: path.join(__dirname, 'test', 'support', 'stryker-runner.js'),
};
