/**
 * The permission model, checked with real users: rings are 0o600 whatever the umask, shared with a group
 * only on request (mode + gid), refused when owned by another user unless allowed, and a name squatted by
 * another user is never silently used. The tests run as root, which bypasses permission checks, so every
 * check that needs them runs in a child process as user `nobody`.
 */
import * as fs from 'fs';
import { Consumer, Producer, ShmRingError } from '../../src';
import { runFixture, within } from '../support/children';
import { uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';
import { NOBODY, nobodyUnavailable } from '../support/nobody';

const FIXTURE = 'security-child.js';

const skipReason = nobodyUnavailable(FIXTURE);
if (skipReason) console.warn(`security/permissions: skipping the tests that run as nobody: ${skipReason}`);
const itAsNobody = skipReason ? it.skip : it;

const { trackName: track } = trackRings();

interface ChildResult {
  ok?: boolean;
  code?: string;
  message?: string;
  errorName?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  [key: string]: unknown;
}

async function run(action: string, name: string, args: object = {}, user?: number): Promise<ChildResult> {
  const child = runFixture(FIXTURE, [action, name, JSON.stringify(args)], user === undefined ? {} : { uid: user, gid: user });
  const { code, signal, stdout, stderr } = await within(child.exited, 20000, `${action} ${name}`);
  expect({ signal, stderr: signal || code ? stderr : '' }).toEqual({ signal: null, stderr: '' });
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as ChildResult;
}

function codeOf(fn: () => unknown): { code?: string; message?: string } {
  try {
    const result = fn() as { close?: () => void } | undefined;
    result?.close?.();
  } catch (error) {
    if (error instanceof ShmRingError) return { code: error.code, message: error.message };
    throw error;
  }
  return {};
}

function modeOf(name: string): number {
  return fs.statSync(`/dev/shm${name}`).mode & 0o7777;
}

describe('modes: 0o600 by default, exactly what was asked otherwise, whatever the umask', () => {
  it('creates rings 0o600 by default (in this process)', () => {
    const name = track(uniqueName('mode-default'));
    const producer = Producer.create(name, { capacity: 4096, unlinkOnClose: false });
    try {
      expect(modeOf(name)).toBe(0o600);
      expect(fs.statSync(`/dev/shm${name}`).uid).toBe(process.geteuid!());
    } finally {
      producer.close();
    }
  });

  it.each([
    [0o000, undefined, 0o600],
    [0o077, undefined, 0o600],
    [0o000, 0o640, 0o640],
    [0o077, 0o660, 0o660],
    [0o022, 0o666, 0o666],
  ])('umask %o with mode %p gives %o', async (umask, mode, expected) => {
    const name = track(uniqueName('umask'));
    const result = await run('create', name, { umask, options: { capacity: 4096, ...(mode === undefined ? {} : { mode }) } });
    expect(result).toMatchObject({ ok: true, mode: expected, umask });
    expect(modeOf(name)).toBe(expected);
  });

  it('refuses modes with bits outside 0o777 (setuid, sticky) and non-integer modes', () => {
    const name = track(uniqueName('mode-bad'));
    expect(() => Producer.create(name, { mode: 0o4600 })).toThrow(RangeError);
    expect(() => Producer.create(name, { mode: 0o1666 })).toThrow(/mode must be in 0\.\.511, got 950/);
    expect(() => Producer.create(name, { mode: '600' as never })).toThrow(TypeError);
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });
});

describe('owners and groups', () => {
  itAsNobody('on a 0o644 ring, PERMISSION_DENIED says a consumer needs read and write, and how to grant it', async () => {
    const name = track(uniqueName('perm-644'));
    const producer = Producer.create(name, { capacity: 4096, mode: 0o644 });
    try {
      const result = await run('consume', name, { options: { allowForeignOwner: true } }, NOBODY);
      expect(result).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
      expect(result.message).toContain('Mode 0644 lets other users read the file but not join the ring as tethered consumers');
      expect(result.message).toContain('{ tethered: false }');
      expect(result.message).toContain('read AND write');
      expect(result.message).toContain('`mode: 0o660` and a `gid`');
    } finally {
      producer.close();
    }
  });

  itAsNobody('with read permission alone (0o644), an untethered consumer joins read-only, without a slot, and receives', async () => {
    const name = track(uniqueName('perm-ro'));
    const producer = Producer.create(name, { capacity: 4096, mode: 0o644 });
    try {
      producer.send('hello');
      const options = { tethered: false, from: 'oldest', allowForeignOwner: true };
      const result = await run('consume', name, { options }, NOBODY);
      expect(result).toMatchObject({ ok: true, value: 'hello' });
      // It took no slot (it could not write one), and the producer's words were never writable to it.
      expect(producer.consumers).toBe(0);
    } finally {
      producer.close();
    }
  });

  itAsNobody('a ring owned by root with mode 0o600 is PERMISSION_DENIED for nobody, naming the owner', async () => {
    const name = track(uniqueName('perm-600'));
    const producer = Producer.create(name, { capacity: 4096 });
    try {
      const result = await run('consume', name, { options: { allowForeignOwner: true } }, NOBODY);
      expect(result).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
      expect(result.message).toContain('owned by uid 0');
      expect(result.message).toContain(name);
      // A producer is refused the same way: nobody cannot take over or replace root's ring.
      const asProducer = await run('produce', name, { options: { capacity: 4096 } }, NOBODY);
      expect(asProducer).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    } finally {
      producer.close();
    }
  });

  itAsNobody('a ring owned by root with mode 0o666 is FOREIGN_OWNER for nobody unless allowForeignOwner', async () => {
    const name = track(uniqueName('perm-666'));
    const producer = Producer.create(name, { capacity: 4096, mode: 0o666 });
    try {
      const refused = await run('consume', name, {}, NOBODY);
      expect(refused).toMatchObject({ ok: false, code: 'FOREIGN_OWNER' });
      expect(refused.message).toMatch(/owned by uid 0 \(root\)/);
      expect(refused.message).toContain(`uid ${NOBODY}`);

      const child = runFixture(FIXTURE, ['consume', name, JSON.stringify({ options: { allowForeignOwner: true } })], { uid: NOBODY, gid: NOBODY });
      // Send until the child has joined (it starts at the next message).
      const deadline = Date.now() + 15000;
      let done: Awaited<typeof child.exited> | undefined;
      child.exited.then((r) => (done = r));
      while (done === undefined && Date.now() < deadline) {
        producer.send({ hello: 'nobody' });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const { stdout, signal } = await within(child.exited, 20000, 'consume as nobody');
      expect(signal).toBeNull();
      expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ ok: true, value: { hello: 'nobody' } });
    } finally {
      producer.close();
    }
  });

  itAsNobody('mode 0o660 + gid shares a ring with a group: a member opens it (allowForeignOwner), others are refused', async () => {
    const name = track(uniqueName('perm-group'));
    const producer = Producer.create(name, { capacity: 4096, mode: 0o660, gid: NOBODY });
    try {
      const stat = fs.statSync(`/dev/shm${name}`);
      expect({ mode: stat.mode & 0o777, gid: stat.gid, uid: stat.uid }).toEqual({ mode: 0o660, gid: NOBODY, uid: 0 });
      // nobody is in group nogroup (65534): the mode lets it in, the owner check still asks for consent.
      expect(await run('consume', name, {}, NOBODY)).toMatchObject({ ok: false, code: 'FOREIGN_OWNER' });
      const opened = await run('consume', name, { options: { allowForeignOwner: true, openTimeout: 0 } }, NOBODY);
      expect(opened).toMatchObject({ ok: true }); // receiveSync times out (no message sent): value undefined
      // Outside the group (uid nobody, gid 1): the kernel refuses.
      const child = runFixture(FIXTURE, ['consume', name, JSON.stringify({ options: { allowForeignOwner: true } })], { uid: NOBODY, gid: 1 });
      const { stdout } = await within(child.exited, 20000, 'consume outside the group');
      expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    } finally {
      producer.close();
    }
  });

  itAsNobody('a ring owned by nobody is FOREIGN_OWNER for root too (root is not exempt from the owner check)', async () => {
    const name = track(uniqueName('perm-root'));
    expect(await run('squat', name, { kind: 'ring', mode: 0o600 }, NOBODY)).toMatchObject({ ok: true, uid: NOBODY });
    expect(codeOf(() => Consumer.open(name)).code).toBe('FOREIGN_OWNER');
    const consumer = Consumer.open(name, { allowForeignOwner: true, from: 'oldest' });
    try {
      expect(consumer.tryReceive()).toEqual({ planted: true });
    } finally {
      consumer.close();
    }
  });
});

describe('squatting: a name pre-created by another user is never silently used', () => {
  itAsNobody.each([
    ['a valid ring (mode 0o666)', { kind: 'ring', mode: 0o666 }],
    ['a valid ring (mode 0o600)', { kind: 'ring', mode: 0o600 }],
    ['a file of zeros (mode 0o666)', { kind: 'zeros', mode: 0o666 }],
  ])('%s: Producer.create and Consumer.open give FOREIGN_OWNER and leave it alone', async (_label, squat) => {
    const name = track(uniqueName('squat'));
    const planted = await run('squat', name, squat, NOBODY);
    expect(planted).toMatchObject({ ok: true, uid: NOBODY });
    const before = fs.readFileSync(`/dev/shm${name}`);
    const created = codeOf(() => Producer.create(name, { capacity: 4096 }));
    expect(created.code).toBe('FOREIGN_OWNER');
    expect(created.message).toContain(`uid ${NOBODY}`);
    expect(codeOf(() => Producer.create(name, { capacity: 4096, existing: 'replace' })).code).toBe('FOREIGN_OWNER');
    expect(codeOf(() => Consumer.open(name)).code).toBe('FOREIGN_OWNER');
    // Never replaced, never written.
    expect(fs.statSync(`/dev/shm${name}`).uid).toBe(NOBODY);
    expect(fs.readFileSync(`/dev/shm${name}`).equals(before)).toBe(true);
  });

  // Regression: Segment.open checks the owner before the size, so a squatted empty file names the
  // squatter instead of reporting SEGMENT_TOO_SMALL ("it may still be being created").
  itAsNobody('an empty file: Producer.create and Consumer.open name the foreign owner', async () => {
    const name = track(uniqueName('squat-empty'));
    expect(await run('squat', name, { kind: 'empty', mode: 0o666 }, NOBODY)).toMatchObject({ ok: true, uid: NOBODY, size: 0 });
    const created = codeOf(() => Producer.create(name, { capacity: 4096 }));
    const opened = codeOf(() => Consumer.open(name));
    expect(fs.statSync(`/dev/shm${name}`)).toMatchObject({ uid: NOBODY, size: 0 });
    expect({ created: created.code, opened: opened.code }).toEqual({ created: 'FOREIGN_OWNER', opened: 'FOREIGN_OWNER' });
  });

  // Regression: a directory or a symlink under the name is NOT_A_RING (it used to be SYSTEM_ERROR with
  // EINVAL / ELOOP, which did not say what was wrong).
  itAsNobody.each([
    ['a directory', { kind: 'dir', mode: 0o777 }],
    ['a symlink', { kind: 'symlink' }],
  ])('%s under the name is refused with NOT_A_RING and left alone', async (_label, squat) => {
    const name = track(uniqueName('squat-odd'));
    const target = track(uniqueName('squat-target'));
    fs.writeFileSync(`/dev/shm${target}`, Buffer.alloc(16384), { mode: 0o600 });
    const args = squat.kind === 'symlink' ? { ...squat, target: `/dev/shm${target}` } : squat;
    expect(await run('squat', name, args, NOBODY)).toMatchObject({ ok: true });
    const created = codeOf(() => Producer.create(name, { capacity: 4096 }));
    const opened = codeOf(() => Consumer.open(name));
    // The target of the symlink is never touched.
    expect(fs.readFileSync(`/dev/shm${target}`).every((b) => b === 0)).toBe(true);
    expect(fs.lstatSync(`/dev/shm${name}`).uid).toBe(NOBODY);
    if (squat.kind === 'dir') fs.rmdirSync(`/dev/shm${name}`);
    expect(created.code).toBeDefined();
    expect(opened.code).toBeDefined();
    expect({ created: created.code, opened: opened.code }).toEqual({ created: 'NOT_A_RING', opened: 'NOT_A_RING' });
  });

  itAsNobody('nobody cannot squat a name root already uses (mode 0o600): PERMISSION_DENIED, ring untouched', async () => {
    const name = track(uniqueName('squat-late'));
    const producer = Producer.create(name, { capacity: 4096 });
    const consumer = Consumer.open(name);
    try {
      producer.send({ n: 1 });
      expect(await run('squat', name, { kind: 'ring', mode: 0o666 }, NOBODY)).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
      expect(consumer.tryReceive()).toEqual({ n: 1 });
      expect(modeOf(name)).toBe(0o600);
    } finally {
      consumer.close();
      producer.close();
    }
  });
});
