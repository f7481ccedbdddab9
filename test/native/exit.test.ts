/** Waking a native waiter while Node is exiting must not abort the process (regression). */
import { runFixture, within } from '../support/children';
import { removeSegment, segmentExists, uniqueName } from '../support/names';

it('exits cleanly when a producer closed in process.on("exit") wakes an unref\'d sleeping consumer', async () => {
  const name = uniqueName('exit-wake');
  try {
    const child = runFixture('native-exit-wake.js', [name]);
    const run = await within(child.exited, 15_000, 'child exit');
    expect(run.signal).toBeNull();
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('"ran":true');
    expect(segmentExists(name)).toBe(false);
  } finally {
    removeSegment(name);
  }
});
