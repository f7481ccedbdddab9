/**
 * The owner check (Segment.open, and through it Consumer.open and Producer.create over an existing name):
 * a segment owned by another uid is FOREIGN_OWNER unless the caller passes allowForeignOwner. These tests
 * run for every user, root or not: the check compares the segment's owner with the effective uid, and a
 * test seam (_setEffectiveUidForTesting) makes this process look like another user to the check, without
 * a second account. (What the kernel itself refuses, PERMISSION_DENIED, needs a real second user:
 * test/security/permissions.test.ts, as `nobody`.)
 */
import * as fs from 'fs';
import { Consumer, Producer, Segment, ShmRingError } from '../../src';
import { _setEffectiveUidForTesting } from '../../src/core/segment';
import { uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';

const { trackName: track, track: close } = trackRings();

/** The real effective uid, and another one the check should refuse. */
const REAL_UID = process.geteuid!();
const OTHER_UID = REAL_UID === 0 ? 65534 : REAL_UID + 1;

let restoreUid: (() => void) | undefined;
afterEach(() => {
  restoreUid?.();
  restoreUid = undefined;
});

/** From here on this test "runs as" `uid` for the owner check. */
function runAs(uid: number): void {
  restoreUid = _setEffectiveUidForTesting(uid);
}

function errorOf(fn: () => unknown): ShmRingError {
  let result: unknown;
  try {
    result = fn();
  } catch (error) {
    if (error instanceof ShmRingError) return error;
    throw error;
  }
  (result as { close?: () => void } | undefined)?.close?.();
  throw new Error('expected a ShmRingError, got none');
}

describe('a segment owned by another uid (the owner check, for every user)', () => {
  it('Consumer.open gives FOREIGN_OWNER naming both uids; allowForeignOwner opens it and receives', () => {
    const name = track(uniqueName('owner-consumer'));
    const producer = close(Producer.create(name, { capacity: 4096, mode: 0o666 }));
    runAs(OTHER_UID);
    const refused = errorOf(() => Consumer.open(name));
    expect(refused.code).toBe('FOREIGN_OWNER');
    expect(refused.message).toContain(`owned by uid ${REAL_UID}`);
    expect(refused.message).toContain(`this process's uid ${OTHER_UID}`);
    expect(refused.message).toContain('0666');
    expect(refused.hint).toContain('allowForeignOwner');
    const allowed = close(Consumer.open(name, { allowForeignOwner: true }));
    producer.send({ to: 'a foreign consumer' });
    expect(allowed.tryReceive()).toEqual({ to: 'a foreign consumer' });
  });

  it('the same uid passes the check (the seam restores the real uid)', () => {
    const name = track(uniqueName('owner-same'));
    close(Producer.create(name, { capacity: 4096 }));
    runAs(REAL_UID);
    expect(close(Consumer.open(name)).isClosed).toBe(false);
  });

  it('Segment.open gives FOREIGN_OWNER with the fstat syscall and the segment name', () => {
    const name = track(uniqueName('owner-segment'));
    close(Segment.create(name, 4096, { mode: 0o600 }));
    runAs(OTHER_UID);
    const refused = errorOf(() => Segment.open(name));
    expect({ code: refused.code, syscall: refused.syscall, segment: refused.segment }).toEqual({ code: 'FOREIGN_OWNER', syscall: 'fstat', segment: name });
    const opened = close(Segment.open(name, { allowForeignOwner: true }));
    expect(opened.ownerUid).toBe(REAL_UID);
  });

  it.each(['takeover', 'replace'] as const)('Producer.create (existing: %s) over a name another uid holds gives FOREIGN_OWNER and leaves it untouched', (existing) => {
    const name = track(uniqueName(`owner-squat-${existing}`));
    const squatter = Producer.create(name, { capacity: 4096, unlinkOnClose: false });
    squatter.send({ planted: true });
    squatter.close();
    const before = fs.readFileSync(`/dev/shm${name}`);
    runAs(OTHER_UID);
    const refused = errorOf(() => Producer.create(name, { capacity: 4096, existing }));
    expect(refused.code).toBe('FOREIGN_OWNER');
    expect(refused.message).toContain(`uid ${OTHER_UID}`);
    expect(fs.readFileSync(`/dev/shm${name}`).equals(before)).toBe(true);
    expect(fs.statSync(`/dev/shm${name}`).uid).toBe(REAL_UID);
  });

  it('an empty file under the name names its foreign owner (not SEGMENT_TOO_SMALL)', () => {
    const name = track(uniqueName('owner-empty'));
    fs.writeFileSync(`/dev/shm${name}`, '', { mode: 0o666 });
    runAs(OTHER_UID);
    expect({ created: errorOf(() => Producer.create(name, { capacity: 4096 })).code, opened: errorOf(() => Consumer.open(name)).code }).toEqual({
      created: 'FOREIGN_OWNER',
      opened: 'FOREIGN_OWNER',
    });
    expect(fs.statSync(`/dev/shm${name}`).size).toBe(0);
  });

  it('uid 0 is not exempt: a ring owned by another uid is FOREIGN_OWNER for root too', () => {
    const name = track(uniqueName('owner-root'));
    const producer = close(Producer.create(name, { capacity: 4096, unlinkOnClose: false }));
    let owner = REAL_UID;
    if (owner === 0) {
      // Running as root: hand the ring to another user, so that "root" below is not its owner.
      fs.chownSync(`/dev/shm${name}`, 65534, 65534);
      owner = 65534;
    }
    producer.close();
    runAs(0);
    const refused = errorOf(() => Consumer.open(name));
    expect(refused.code).toBe('FOREIGN_OWNER');
    expect(refused.message).toContain(`owned by uid ${owner}`);
    expect(refused.message).toContain("this process's uid 0");
  });
});
