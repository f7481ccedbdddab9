/**
 * The system packages some integration tests start or build against for real: nats-server (the bridge),
 * Prometheus and promtool (`shmring metrics`), msgpack-c (examples/c-msgpack). `.ci/run` installs them.
 * The README's quick start asks only for Node, g++, make and python3, so on a machine without one of them
 * `npm test` skips the tests that need it, with a note naming the package to install; in CI (CI set) a
 * missing package fails those tests' file at once, with the same words, rather than skip them unseen.
 */
import * as fs from 'fs';

export function hasSystemPackage(file: string, debianPackage: string, suite: string): boolean {
  if (fs.existsSync(file)) return true;
  const words = `${file} is not installed (apt-get install ${debianPackage})`;
  if (process.env.CI) throw new Error(`${suite}: ${words}: CI must run these tests (.ci/run installs it)`);
  console.warn(`${suite}: skipped: ${words}; CI runs them`);
  return false;
}
