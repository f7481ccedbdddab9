/**
 * The test helpers must not hide failures: an `expect` inside trackRings().onTeardown fails the test it
 * belongs to (the helper used to swallow it). Checked by running, in a jest of its own, a fixture whose
 * only test passes and whose teardown assertion fails.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { noteChildOutput } from './children';

const ROOT = path.join(__dirname, '..', '..');

it('a failing assertion in onTeardown fails the test', () => {
  const jest = require.resolve('jest/bin/jest');
  const run = spawnSync(process.execPath, [jest, '--ci', '--roots', '<rootDir>/test/fixtures', '--testMatch', '**/teardown-fails.case.ts', '--coverage=false'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  noteChildOutput('jest on test/fixtures/teardown-fails.case.ts', () => ({ stdout: run.stdout, stderr: run.stderr }));
  expect(run.status).toBe(1);
  expect(run.stderr).toContain('a failing teardown assertion');
  expect(run.stderr).toMatch(/Tests:\s+1 failed, 1 total/);
}, 70_000);
