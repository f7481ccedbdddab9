/**
 * Waiting for events instead of sleeping: every wait is bounded and polls a condition that says the
 * thing happened, so a loaded machine only makes it take longer, never makes it wrong.
 */
import { readSnapshot } from '../../src/ring/snapshot';
import * as spaceWait from '../../src/ring/space-wait';

/** Resolves once `condition()` holds; rejects (naming `what`) after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Whether some consumer of ring `name` has announced that it is going to sleep (the producer's next
 * publish must wake it): read from the ring itself, as `shmring inspect` does.
 */
export function sleeperAnnounced(name: string): boolean {
  return (readSnapshot(name).waiting?.dataWaiters ?? 0) > 0;
}

/** Resolves once a consumer of `name` has announced its sleep (see sleeperAnnounced). */
export function untilAsleep(name: string, what = `a consumer of ${name} to fall asleep`, timeoutMs = 15000): Promise<void> {
  return waitUntil(() => sleeperAnnounced(name), what, timeoutMs);
}

/**
 * Runs `close` (a producer's close() or abort() with wipeOnClose) with the drain before the wipe over at
 * once: each of its sleeps for space (src/ring/wipe.ts) returns immediately and moves the clock the drain
 * reads on by the sleep's timeout. For a test whose tethered consumer runs in this thread, so cannot read
 * during the drain anyway: the outcome is that of the whole wait (the consumer read nothing more), without
 * its second of sleep, which every mutation run of the test would pay (docs/testing.md).
 */
export function withInstantDrain(close: () => void): void {
  const realNow = Date.now.bind(Date);
  let skipped = 0;
  const now = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skipped);
  const sleep = jest.spyOn(spaceWait, 'sleepForSpace').mockImplementation((_memory, _ticket, timeoutMs) => {
    skipped += timeoutMs;
  });
  try {
    close();
  } finally {
    sleep.mockRestore();
    now.mockRestore();
  }
}

/**
 * Runs `fn` with a clock that moves on by `stepMs` at every read of Date.now(), on top of real time: a
 * synchronous wait bounded by a deadline on that clock (open's wait for a creator still writing the
 * header, create's wait for a segment still being sized) reaches its deadline after a few dozen short
 * sleeps instead of seconds of them. The code under test still waits until its own clock says the time is
 * up; only that clock is faster. Every mutation run of such a test would otherwise pay the whole wait.
 */
export function withFastClock<T>(fn: () => T, stepMs = 100): T {
  const realNow = Date.now.bind(Date);
  let reads = 0;
  const now = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + stepMs * reads++);
  try {
    return fn();
  } finally {
    now.mockRestore();
  }
}
