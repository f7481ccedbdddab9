/**
 * The command run as another user (`nobody`) on root's 0600 ring that a live producer maps: it says what
 * could not be read and why (permission denied on the segment and on the producer's /proc files), instead
 * of calling the ring foreign, unreadable junk, or unused.
 */
import { ExitCode } from '../../src/cli/common';
import { Fixtures, NOBODY, nobodyUnavailable, runCli, runJson } from './cli-helpers';

const skipReason = nobodyUnavailable();
if (skipReason) console.warn(`cli/other-user: skipping the tests that run the command as nobody: ${skipReason}`);
const itAsNobody = skipReason ? it.skip : it;

const fixtures = new Fixtures();
afterEach(() => fixtures.cleanup());

describe('the command as another user', () => {
  itAsNobody('inspect says permission denied on the segment and on /proc/PID/maps, and that use is unknown (exit 7)', async () => {
    const { name } = fixtures.family('cli-other-user');
    const producer = await fixtures.startRing({ name: name('private'), mode: 0o600 });

    const text = runCli(['inspect', name('private')], 20_000, NOBODY);
    expect(text.code).toBe(ExitCode.PERMISSION_DENIED);
    expect(text.stdout).toContain('unreadable: permission denied');
    expect(text.stdout).toContain(`permission denied reading /dev/shm${name('private')}`);
    expect(text.stdout).toMatch(/owned by root:\S+ with mode 0600, and this runs as nobody/);
    expect(text.stdout).toContain('Run as its owner (root) or as root');
    const inUse = text.stdout.split('\n').find((line) => line.trimStart().startsWith('in use'))!;
    expect(inUse).toContain('unknown');
    expect(inUse).not.toContain('no process maps it');
    expect(inUse).toContain('permission denied reading /proc/PID/maps');
    expect(inUse).toContain('run as their owner or root');

    const { code, json } = runJson(['inspect', name('private')], NOBODY);
    expect(code).toBe(ExitCode.PERMISSION_DENIED);
    expect(json).toMatchObject({ kind: 'unreadable', inUse: null, error: { code: 'PERMISSION_DENIED', segment: name('private'), exitCode: 7 } });
    // The producer's /proc files are among those that could not be read.
    expect(json.uninspected.map((p: { pid: number }) => p.pid)).toContain(producer.pid);
  });

  itAsNobody('ls lists the ring under unreadable files, not foreign ones, and says which /proc files it could not read', async () => {
    const { prefix, name } = fixtures.family('cli-other-user-ls');
    await fixtures.startRing({ name: name('private'), mode: 0o600 });
    fixtures.foreignFile(name('other'));

    const text = runCli(['ls', '--no-rate', '--prefix', prefix], 20_000, NOBODY);
    expect(text.code).toBe(0);
    const [before, after] = text.stdout.split('Unreadable files in /dev/shm');
    expect(after).toContain(name('private'));
    expect(before).not.toContain(name('private'));
    expect(before).toContain('Foreign files in /dev/shm');
    expect(before).toContain(name('other'));
    expect(text.stdout).toMatch(/note: permission denied reading \/proc\/PID\/maps/);
    expect(text.stdout).toContain('run as their owner or root');

    const { json } = runJson(['ls', '--no-rate', '--prefix', prefix], NOBODY);
    expect(json.unreadable.map((f: { name: string }) => f.name)).toEqual([name('private')]);
    expect(json.unreadable[0].error.code).toBe('PERMISSION_DENIED');
    expect(json.foreign.map((f: { name: string }) => f.name)).toEqual([name('other')]);
  });

  itAsNobody('doctor says that rings left by another user\u2019s dead processes can be removed only by that user or root', async () => {
    const { name } = fixtures.family('cli-other-user-doctor');
    await fixtures.deadRing({ name: name('left'), mode: 0o644 });
    const { json } = runJson(['doctor'], NOBODY);
    const leftovers = json.checks.find((c: { id: string }) => c.id === 'leftover-rings');
    expect(leftovers.values.names).toContain(name('left'));
    expect(leftovers.fix.text).toMatch(/\d+ of them belong to other users: run gc as their owner or root/);
  });

  it('as root, ls never asks to run as root', async () => {
    if (process.geteuid?.() !== 0) return;
    const { prefix, name } = fixtures.family('cli-root-ls');
    await fixtures.startRing({ name: name('ring') });
    const text = runCli(['ls', '--no-rate', '--prefix', prefix]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(name('ring'));
    expect(text.stdout).not.toMatch(/run as root/);
    // Whatever root could still not read is named, with the reason.
    const note = text.stdout.split('\n').find((line) => line.startsWith('note:'));
    if (note) expect(note).toMatch(/permission denied reading \/proc\/(\d+|PID)\/(maps|fd).* even as root/);
  });
});
