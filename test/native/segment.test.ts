import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { Segment, shmDirectoryStats, PAGE_SIZE, DEFAULT_SEGMENT_MODE, unmap } from '../../src/core/segment';
import { ShmRingError } from '../../src/errors';
import { uniqueName, removeSegment, segmentExists } from '../support/names';
import { runChild } from './child';

const created: string[] = [];
const opened: Segment[] = [];

function name(tag: string): string {
  const n = uniqueName(tag);
  created.push(n);
  return n;
}

function track(segment: Segment): Segment {
  opened.push(segment);
  return segment;
}

afterEach(() => {
  for (const segment of opened.splice(0)) segment.close();
  for (const n of created.splice(0)) removeSegment(n);
});

function mapsMention(segmentName: string): number {
  return fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes(segmentName)).length;
}

function thrown(fn: () => unknown): ShmRingError {
  try {
    fn();
  } catch (err) {
    return err as ShmRingError;
  }
  throw new Error('expected a throw');
}

/** uid/gid of `nobody`, or a reason the unprivileged tests cannot run here. */
function nobody(): { uid: number; gid: number } | string {
  if (process.geteuid?.() !== 0) return 'tests are not running as root';
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'));
  if (!line) return 'there is no user nobody';
  const [, , uid, gid] = line.split(':');
  const ids = { uid: Number(uid), gid: Number(gid) };
  try {
    // Can nobody read the fixture, dist/ and the addon? (Every directory up to the repo must be searchable.)
    const out = execFileSync(process.execPath, [path.join(__dirname, '..', 'fixtures', 'native-child.js'), 'load'], {
      ...ids,
      encoding: 'utf8',
      timeout: 10000,
    });
    if (!out.includes('"loaded":true')) return `nobody could not load dist/: ${out}`;
  } catch (err) {
    return `user nobody cannot read the repo, dist/ or build/ (make them world-readable): ${(err as Error).message}`;
  }
  return ids;
}

describe('Segment create/open/unlink', () => {
  it('creates a zero-filled segment of the asked size with mode 0600 that open() sees', () => {
    const n = name('roundtrip');
    const segment = track(Segment.create(n, 3 * PAGE_SIZE));
    expect(segment.name).toBe(n);
    expect(segment.size).toBe(3 * PAGE_SIZE);
    expect(segment.mode).toBe(DEFAULT_SEGMENT_MODE);
    expect(segment.ownerUid).toBe(process.geteuid!());
    expect(fs.statSync(`/dev/shm${n}`).size).toBe(3 * PAGE_SIZE);
    const bytes = new Uint8Array(segment.map());
    expect(bytes.every((b) => b === 0)).toBe(true);
    bytes[10] = 7;

    expect(Segment.exists(n)).toBe(true);
    const other = track(Segment.open(n, { minSize: PAGE_SIZE }));
    expect(other.size).toBe(3 * PAGE_SIZE);
    expect(new Uint8Array(other.map(0, PAGE_SIZE))[10]).toBe(7);
    expect(other.stat()).toMatchObject({ size: 3 * PAGE_SIZE, mode: 0o600 });

    Segment.unlink(n);
    expect(Segment.exists(n)).toBe(false);
    expect(segmentExists(n)).toBe(false);
    // Mappings outlive the name.
    expect(bytes[10]).toBe(7);
  });

  it('applies the asked mode exactly and a group', () => {
    const n = name('mode');
    const segment = track(Segment.create(n, PAGE_SIZE, { mode: 0o640, gid: 1 }));
    const st = fs.statSync(`/dev/shm${n}`);
    expect(st.mode & 0o7777).toBe(0o640);
    expect(st.gid).toBe(1);
    expect(segment.ownerGid).toBe(1);
  });

  it('maps read-only when opened with readWrite: false and refuses a writable mapping', () => {
    const n = name('ro');
    track(Segment.create(n, PAGE_SIZE));
    const ro = track(Segment.open(n, { readWrite: false }));
    expect(new Uint8Array(ro.map()).length).toBe(PAGE_SIZE);
    expect(() => ro.map(0, PAGE_SIZE, { writable: true })).toThrow(TypeError);
  });

  it('reports /dev/shm size and free space', () => {
    const stats = shmDirectoryStats();
    expect(stats.totalBytes).toBeGreaterThan(0);
    expect(stats.freeBytes).toBeGreaterThanOrEqual(0);
    expect(stats.freeBytes).toBeLessThanOrEqual(stats.totalBytes);
  });
});

describe('Segment across processes', () => {
  it('shows bytes written in this process to a child, and bytes a child writes to this process', async () => {
    const n = name('xproc');
    const segment = track(Segment.create(n, PAGE_SIZE));
    const bytes = new Uint8Array(segment.map());
    bytes.set([1, 2, 3, 250], 100);
    const reader = runChild('read', { name: n, offset: 100, length: 4 });
    expect((await reader.next('bytes')).bytes).toEqual([1, 2, 3, 250]);
    await reader.exit();

    const writer = runChild('write', { name: n, offset: 200, bytes: [9, 8, 7] });
    await writer.next('done');
    expect(await writer.exit()).toBe(0);
    expect(Array.from(bytes.subarray(200, 203))).toEqual([9, 8, 7]);
  });

  it('creates with mode 0600 by default even under umask 0, and exactly the asked mode under umask 077', async () => {
    const loose = runChild('createWithUmask', { name: name('umask0'), umask: 0 });
    expect(await loose.next('mode')).toEqual({ mode: 0o600, fileMode: 0o600 });
    const strict = runChild('createWithUmask', { name: name('umask077'), umask: 0o077, options: { mode: 0o644 } });
    expect(await strict.next('mode')).toEqual({ mode: 0o644, fileMode: 0o644 });
    await Promise.all([loose.exit(), strict.exit()]);
  });
});

describe('Segment errors', () => {
  it('SEGMENT_EXISTS names the segment and how to inspect or remove it', () => {
    const n = name('exists');
    track(Segment.create(n, PAGE_SIZE));
    const err = thrown(() => Segment.create(n, PAGE_SIZE));
    expect(err).toBeInstanceOf(ShmRingError);
    expect(err.code).toBe('SEGMENT_EXISTS');
    expect(err.errno).toBe(17);
    expect(err.syscall).toBe('shm_open');
    expect(err.segment).toBe(n);
    expect(err.message).toContain(n);
    expect(err.message).toContain('shm_open');
    expect(err.hint).toContain(`npx shmring inspect ${n}`);
    expect(err.hint).toContain(`npx shmring rm ${n}`);
    expect(err.hint).toContain('npx shmring gc');
    expect(err.hint).not.toContain('ls -l');
  });

  it('SEGMENT_NOT_FOUND says the producer may not have created it yet', () => {
    const n = name('missing');
    const err = thrown(() => Segment.open(n));
    expect(err.code).toBe('SEGMENT_NOT_FOUND');
    expect(err.message).toContain(n);
    expect(err.hint).toMatch(/not have created it yet/);
    expect(thrown(() => Segment.unlink(n)).code).toBe('SEGMENT_NOT_FOUND');
  });

  it('NO_SPACE when /dev/shm cannot hold the segment, naming its size and --shm-size, leaving nothing behind', () => {
    const n = name('nospace');
    const { totalBytes } = shmDirectoryStats();
    const size = totalBytes + 64 * PAGE_SIZE; // more than the whole of /dev/shm, so more than it has free
    const err = thrown(() => Segment.create(n, size));
    expect(err).toBeInstanceOf(ShmRingError);
    expect(err.code).toBe('NO_SPACE');
    expect(err.syscall).toBe('posix_fallocate');
    expect(err.message).toContain(n);
    expect(err.message).toContain('posix_fallocate');
    expect(err.hint).toContain('/dev/shm');
    expect(err.hint).toContain('--shm-size');
    expect(err.hint).toContain('mount -o remount,size=');
    expect(err.hint).toContain(String(size));
    expect(segmentExists(n)).toBe(false);
  });

  it('SEGMENT_TOO_SMALL names both sizes', () => {
    const n = name('small');
    track(Segment.create(n, PAGE_SIZE));
    const err = thrown(() => Segment.open(n, { minSize: 2 * PAGE_SIZE }));
    expect(err.code).toBe('SEGMENT_TOO_SMALL');
    expect(err.message).toContain(String(PAGE_SIZE));
    expect(err.message).toContain(String(2 * PAGE_SIZE));
  });

  it('CLOSED after close()', () => {
    const segment = Segment.create(name('closed'), PAGE_SIZE);
    segment.close();
    segment.close();
    expect(thrown(() => segment.map()).code).toBe('CLOSED');
  });

  describe('as user nobody (root bypasses file permissions)', () => {
    const ids = nobody();
    const itAsNobody = typeof ids === 'string' ? it.skip : it;
    if (typeof ids === 'string') {
      // eslint-disable-next-line no-console
      console.warn(`skipping the permission tests: ${ids}`);
    }
    const as = typeof ids === 'string' ? {} : ids;

    itAsNobody('PERMISSION_DENIED names the owner, the mode and the current uid', async () => {
      const n = name('perm');
      track(Segment.create(n, PAGE_SIZE)); // root-owned, 0600
      const child = runChild('open', { name: n }, as);
      const { error } = (await child.next('error')) as { error: Record<string, string> };
      expect(error.code).toBe('PERMISSION_DENIED');
      expect(error.syscall).toBe('shm_open');
      expect(error.message).toContain(n);
      expect(error.hint).toContain('owned by uid 0');
      expect(error.hint).toContain('0600');
      expect(error.hint).toContain(`uid ${(as as { uid: number }).uid}`);
      await child.exit();
    });

    itAsNobody('FOREIGN_OWNER unless allowForeignOwner', async () => {
      const n = name('foreign');
      track(Segment.create(n, PAGE_SIZE, { mode: 0o666 }));
      const refused = runChild('open', { name: n }, as);
      const { error } = (await refused.next('error')) as { error: Record<string, string> };
      expect(error.code).toBe('FOREIGN_OWNER');
      expect(error.message).toContain('uid 0');
      expect(error.message).toContain('0666');
      expect(error.hint).toContain('allowForeignOwner');
      const allowed = runChild('open', { name: n, options: { allowForeignOwner: true } }, as);
      expect(await allowed.next('opened')).toMatchObject({ opened: true, ownerUid: 0, mode: 0o666 });
      await Promise.all([refused.exit(), allowed.exit()]);
    });

    itAsNobody('LIMIT_EXCEEDED from mlock beyond `ulimit -l`, naming ulimit -l', async () => {
      const n = name('mlock');
      const child = runChild('createLocked', { name: n, size: 256 * 1024 * 1024 }, as);
      const line = await child.next('error').catch(async () => child.next('locked'));
      if ('locked' in line) {
        // RLIMIT_MEMLOCK is unlimited here: nothing to provoke.
        return;
      }
      const error = line.error as Record<string, string>;
      expect(error.code).toBe('LIMIT_EXCEEDED');
      expect(error.syscall).toBe('mlock');
      expect(error.hint).toContain('ulimit -l');
      await child.exit();
      expect(segmentExists(n)).toBe(false);
    });
  });
});

describe('Segment misuse', () => {
  it.each([
    ['no leading slash', 'abc'],
    ['a second slash', '/a/b'],
    ['only a slash', '/'],
    ['a NUL byte', '/a\0b'],
    ['256 bytes', `/${'x'.repeat(255)}`],
    ['dot', '/.'],
  ])('rejects a name with %s as a TypeError before any syscall', (_what, bad) => {
    expect(() => Segment.create(bad, PAGE_SIZE)).toThrow(TypeError);
    expect(() => Segment.open(bad)).toThrow(TypeError);
    expect(() => Segment.unlink(bad)).toThrow(TypeError);
    expect(() => Segment.exists(bad)).toThrow(TypeError);
  });

  it('accepts a 255-byte name', () => {
    const n = `/shmring-test.${'y'.repeat(255 - '/shmring-test.'.length)}.`.slice(0, 255);
    created.push(n);
    track(Segment.create(n, PAGE_SIZE));
  });

  it('rejects a non-string name, bad sizes and misspelled options', () => {
    expect(() => Segment.open(42 as unknown as string)).toThrow(TypeError);
    expect(() => Segment.create(name('size0'), 0)).toThrow(RangeError);
    expect(() => Segment.create(name('size1'), 1.5)).toThrow(RangeError);
    expect(() => Segment.create(name('opt'), PAGE_SIZE, { mdoe: 0o600 } as never)).toThrow(TypeError);
    expect(() => Segment.open(name('opt2'), { minsize: 1 } as never)).toThrow(TypeError);
  });

  it('rejects a mapping offset that is not page-aligned or a range past the end', () => {
    const segment = track(Segment.create(name('maprange'), 2 * PAGE_SIZE));
    expect(() => segment.map(100)).toThrow(RangeError);
    expect(() => segment.map(PAGE_SIZE, 2 * PAGE_SIZE)).toThrow(RangeError);
    expect(() => segment.map(0, 0)).toThrow(RangeError);
    expect(() => segment.map(0, PAGE_SIZE, { writeable: true } as never)).toThrow(TypeError);
  });
});

describe('Segment unmapping', () => {
  it('close() detaches every mapping, so views read nothing, and /proc/self/maps no longer lists it', () => {
    const n = name('detach');
    const segment = Segment.create(n, 2 * PAGE_SIZE);
    const whole = segment.map();
    const second = segment.map(PAGE_SIZE, PAGE_SIZE);
    const view = new Int32Array(whole);
    view[0] = 5;
    expect(mapsMention(n)).toBe(2);
    segment.close();
    expect(whole.byteLength).toBe(0);
    expect(second.byteLength).toBe(0);
    expect(view.length).toBe(0);
    expect(view[0]).toBeUndefined(); // no fault: the view is detached
    expect(() => Atomics.load(view, 0)).toThrow(/detached/);
    expect(() => new Uint8Array(whole)).toThrow(/detached/);
    expect(mapsMention(n)).toBe(0);
  });

  it('unmap(buffer) is idempotent and leaves other mappings alone', () => {
    const n = name('unmap');
    const segment = track(Segment.create(n, PAGE_SIZE));
    const a = segment.map();
    const b = segment.map();
    unmap(a);
    unmap(a);
    segment.unmap(a);
    expect(a.byteLength).toBe(0);
    expect(mapsMention(n)).toBe(1);
    new Uint8Array(b)[0] = 1;
  });

  it('unmaps a mapping that is garbage-collected without close()', async () => {
    const n = name('gc');
    track(Segment.create(n, PAGE_SIZE));
    const child = runChild('gcUnmap', { name: n }, { nodeArgs: ['--expose-gc'] });
    expect(await child.next('after')).toEqual({ before: 1, after: 0 });
    expect(await child.exit()).toBe(0);
  });
});
