import { killAllChildren } from './children';
import { removeSegment, uniqueName } from './names';

export interface RingTracker {
  /** A unique segment name (uniqueName(tag)), removed after each test. */
  ringName(tag: string): string;
  /** Removes the segment `name` after each test; returns `name`. */
  trackName(name: string): string;
  /** Closes `value` after each test (a failing close does not stop the teardown); returns `value`. */
  track<T extends { close(): void }>(value: T): T;
  /** SIGKILLs `pid` after each test: processes not started through runFixture. */
  trackPid(pid: number): void;
  /** Runs `fn` after each test, in turn with the closes of track() (a throw does not stop the teardown). */
  onTeardown(fn: () => void): void;
}

/**
 * Registers, where it is called, an afterEach that cleans up whatever a test (passing or failing) left:
 * the fixture children are killed first, then the tracked pids, so that nothing still maps the rings
 * when the tracked endpoints are closed and, last, their segments removed.
 */
export function trackRings(): RingTracker {
  const names: string[] = [];
  const closers: Array<() => void> = [];
  const pids: number[] = [];

  afterEach(() => {
    killAllChildren();
    for (const pid of pids.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const close of closers.splice(0)) {
      try {
        close();
      } catch {
        // already closed, or failed: teardown goes on
      }
    }
    for (const name of names.splice(0)) removeSegment(name);
  });

  const trackName = (name: string): string => {
    names.push(name);
    return name;
  };
  return {
    ringName: (tag) => trackName(uniqueName(tag)),
    trackName,
    track(value) {
      closers.push(() => value.close());
      return value;
    },
    trackPid(pid) {
      pids.push(pid);
    },
    onTeardown(fn) {
      closers.push(fn);
    },
  };
}
