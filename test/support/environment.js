'use strict';
// The jest environment of the suite: node's, plus one thing. Every child process a test starts through
// test/support (runFixture, runExample, runCli...) registers what it printed with noteChildOutput()
// (children.ts). When a test fails, whatever the failing assertion was, this environment adds one more
// error to the test's failure: the stdout and stderr of each child that test started. So a failing
// child-process test always shows the child's output, without every assertion having to remember it.
const { TestEnvironment } = require('jest-environment-node');

const REGISTRY = '__shmringChildOutputs';
const LIMIT = 4000;

class ShmringEnvironment extends TestEnvironment {
  async handleTestEvent(event) {
    if (event.name === 'test_start') {
      this.global[REGISTRY] = [];
    } else if (event.name === 'test_done' && event.test.errors.length > 0) {
      const children = this.global[REGISTRY] ?? [];
      if (children.length > 0) {
        const parts = children.map(({ label, output }) => {
          let printed;
          try {
            printed = output();
          } catch (error) {
            printed = { stdout: '', stderr: `(output unavailable: ${error})` };
          }
          return `=== ${label} ===\n--- stdout (last ${LIMIT} chars) ---\n${String(printed.stdout).slice(-LIMIT)}\n--- stderr (last ${LIMIT} chars) ---\n${String(printed.stderr).slice(-LIMIT)}`;
        });
        const error = new Error(`output of the ${children.length} child process(es) this failing test started:\n${parts.join('\n')}`);
        error.stack = error.message; // the environment's own stack says nothing about the test
        event.test.errors.push(error);
      }
    }
  }
}

module.exports = ShmringEnvironment;
