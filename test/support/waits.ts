/**
 * Waiting for events instead of sleeping: every wait is bounded and polls a condition that says the
 * thing happened, so a loaded machine only makes it take longer, never makes it wrong.
 */
import { readSnapshot } from '../../src/ring/snapshot';

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
