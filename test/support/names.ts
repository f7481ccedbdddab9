import * as fs from 'fs';

/** Prefix of every segment a test creates; global-teardown removes (and reports) any left behind. */
export const TEST_PREFIX = '/shmring-test.';

let counter = 0;

/** A segment name no other test (or concurrent jest worker) uses. */
export function uniqueName(tag = 'ring'): string {
  counter += 1;
  const safeTag = tag.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  return `${TEST_PREFIX}${process.pid}.${counter}.${Math.random().toString(36).slice(2, 8)}.${safeTag}`;
}

/** Removes a segment if it still exists; for teardown, never throws. */
export function removeSegment(name: string): void {
  try {
    fs.unlinkSync(`/dev/shm${name}`);
  } catch {
    // already gone
  }
}

export function segmentExists(name: string): boolean {
  return fs.existsSync(`/dev/shm${name}`);
}
