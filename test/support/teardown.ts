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
  /**
   * Runs `fn` after each test, in turn with the closes of track(). A throw does not stop the teardown, but
   * it fails the test once everything is cleaned up: an `expect` here is a real assertion.
   */
  onTeardown(fn: () => void): void;
}

/**
 * Registers, where it is called, an afterEach that cleans up whatever a test (passing or failing) left:
 * the fixture children are killed first, then the tracked pids, so that nothing still maps the rings
 * when the tracked endpoints are closed and, last, their segments removed.
 */
export function trackRings(): RingTracker {
  const names: string[] = [];
  /** `fails`: whether a throw fails the test (onTeardown), or is only a close of something already gone. */
  const closers: Array<{ run: () => void; fails: boolean }> = [];
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
    const failures: unknown[] = [];
    for (const closer of closers.splice(0)) {
      try {
        closer.run();
      } catch (error) {
        // A close that fails (already closed, damaged ring) does not stop the teardown; a failing
        // onTeardown callback fails the test, after the rest is cleaned up.
        if (closer.fails) failures.push(error);
      }
    }
    for (const name of names.splice(0)) removeSegment(name);
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, `${failures.length} onTeardown callbacks failed`);
  });

  const trackName = (name: string): string => {
    names.push(name);
    return name;
  };
  return {
    ringName: (tag) => trackName(uniqueName(tag)),
    trackName,
    track(value) {
      closers.push({ run: () => value.close(), fails: false });
      return value;
    },
    trackPid(pid) {
      pids.push(pid);
    },
    onTeardown(fn) {
      closers.push({ run: fn, fails: true });
    },
  };
}
