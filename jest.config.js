'use strict';
/** @type {import('jest').Config} */
module.exports = {
  // node's environment, plus: a failing test shows the output of every child process it started.
  testEnvironment: require('path').join(__dirname, 'test', 'support', 'environment.js'),
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Cross-process tests spawn children of their own: two jest workers keep a 2-core machine busy enough.
  maxWorkers: 2,
  testTimeout: 30000,
  setupFiles: ['<rootDir>/test/support/setup-symbols.js'],
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
};
