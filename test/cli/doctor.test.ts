/**
 * `shmring doctor` reads the machine's real settings; these tests check what it reports and that the
 * exit code follows the findings (0 healthy, 1 something needs action), not the machine's state.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import { ExitCode } from '../../src/cli/common';
import { describeShmSpace } from '../../src/cli/doctor';
import { fromSystemError } from '../../src/errors';
import { Fixtures, killAndWait, runCli, runJson, waitFor } from './cli-helpers';

const fixtures = new Fixtures();
afterEach(() => fixtures.cleanup());

interface Check {
  id: string;
  status: 'ok' | 'info' | 'warn' | 'fail';
  finding: string;
  fix?: { text: string; commands: string[] };
  values?: Record<string, any>;
}

describe('shmring doctor', () => {
  it('reports /dev/shm, limits, huge pages and futex_waitv with values, and exits by its findings', () => {
    const { code, json } = runJson<{ healthy: boolean; checks: Check[] }>(['doctor']);
    const byId = new Map(json.checks.map((c) => [c.id, c]));
    for (const id of ['shm-mount', 'shm-permissions', 'shm-space', 'container', 'sysv-limits', 'memlock', 'nofile', 'thp-shmem', 'native-addon', 'futex-waitv', 'leftover-rings']) {
      expect(byId.has(id)).toBe(true);
    }
    const stats = fs.statfsSync('/dev/shm');
    expect(byId.get('shm-space')!.values!.totalBytes).toBe(stats.blocks * stats.bsize);
    expect(byId.get('sysv-limits')!.values!.shmmax).toBe(fs.readFileSync('/proc/sys/kernel/shmmax', 'utf8').trim());
    expect(byId.get('sysv-limits')!.finding).toContain('POSIX shm on tmpfs');
    expect(byId.get('futex-waitv')!.values!.supported).toEqual(expect.any(Boolean));
    // Every finding that needs action says what to run.
    for (const check of json.checks) if (check.status === 'warn' || check.status === 'fail') expect(check.fix?.commands.length).toBeGreaterThan(0);
    const needsAction = json.checks.some((c) => c.status === 'warn' || c.status === 'fail');
    expect(json.healthy).toBe(!needsAction);
    expect(code).toBe(needsAction ? ExitCode.ERROR : ExitCode.OK);
  });

  it('counts rings left behind by a killed process, tells to run gc, and exits 1', async () => {
    const { name } = fixtures.family('cli-doctor');
    await fixtures.deadRing({ name: name('ring') });
    const { code, json } = runJson<{ healthy: boolean; checks: Check[] }>(['doctor']);
    const leftovers = json.checks.find((c) => c.id === 'leftover-rings')!;
    expect(leftovers.status).toBe('warn');
    expect(leftovers.values!.names).toContain(name('ring'));
    expect(leftovers.fix!.commands).toContain('npx shmring gc');
    expect(json.healthy).toBe(false);
    expect(code).toBe(ExitCode.ERROR);

    const text = runCli(['doctor']);
    expect(text.code).toBe(ExitCode.ERROR);
    expect(text.stdout).toMatch(/rings left by dead processes\s+warn/);
    expect(text.stdout).toContain('What to change');
    expect(text.stdout).toContain('npx shmring gc');
  });
});

describe('doctor and files that are not its business', () => {
  const holders: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of holders.splice(0)) await killAndWait(child, 'SIGKILL');
  });

  it('never asks for action over another program\u2019s file, nor over a ring of another version that a process uses', async () => {
    const { name } = fixtures.family('cli-doctor-others');
    fixtures.foreignFile(name('foreign'), 'x'.repeat(10_000));
    fixtures.corruptRing(name('other-version'), 'version');
    // A live process holds the other-version ring open: it is that program's, in use.
    const holder = spawn(process.execPath, ['-e', `require('fs').openSync(${JSON.stringify(`/dev/shm${name('other-version')}`)}, 'r'); console.log('held'); setInterval(() => {}, 1e9)`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    holders.push(holder);
    let out = '';
    holder.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor(() => out.includes('held'), 'the holder to open the ring');

    const { json } = runJson<{ healthy: boolean; checks: Check[] }>(['doctor']);
    const mine = [name('foreign'), name('other-version')];
    for (const check of json.checks) {
      const text = JSON.stringify(check);
      if (check.status === 'warn' || check.status === 'fail' || check.fix) {
        for (const file of mine) expect({ check: check.id, mentions: text.includes(file) }).toEqual({ check: check.id, mentions: false });
      }
    }
    const byId = new Map(json.checks.map((c) => [c.id, c]));
    expect(byId.get('other-files')).toMatchObject({ status: 'info' });
    expect(byId.get('other-files')!.values!.names).toContain(name('foreign'));
    expect(byId.get('rings-in-use-elsewhere')).toMatchObject({ status: 'info' });
    expect(byId.get('rings-in-use-elsewhere')!.values!.names).toContain(name('other-version'));
  });

  it('calls a 64 MiB /dev/shm in a container Docker\u2019s default, and any other small size just small', () => {
    const MiB = 1024 * 1024;
    expect(describeShmSpace(64 * MiB, 60 * MiB, 'docker').finding).toContain("docker's default (64 MiB)");
    const twoMiB = describeShmSpace(2 * MiB, 2 * MiB, 'docker');
    expect(twoMiB.finding).not.toContain('default');
    expect(twoMiB.finding).toContain('2 MiB total');
    expect(twoMiB.status).toBe('warn');
    expect(describeShmSpace(32 * MiB, 32 * MiB, undefined).finding).toContain('very small');
    expect(describeShmSpace(8 * 1024 * MiB, 8 * 1024 * MiB, 'docker')).toMatchObject({ status: 'ok', needsMore: false });
  });

  it('labels sizes in the NO_SPACE message as the binary units they are (MiB, not MB)', () => {
    const error = fromSystemError({ code: 'ENOSPC', errno: 28, syscall: 'ftruncate' }, { segment: '/big', size: 3 * 1024 * 1024 });
    expect(error.code).toBe('NO_SPACE');
    expect(error.message).toContain('3.0 MiB (3145728 bytes) were asked for');
    expect(error.message).toContain('the default is 64 MiB');
    expect(error.message).not.toMatch(/\d (KB|MB|GB)\b/);
  });
});
