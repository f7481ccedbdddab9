/**
 * `shmring doctor` reads the machine's real settings; these tests check what it reports and that the
 * exit code follows the findings (0 healthy, 1 something needs action), not the machine's state.
 */
import * as fs from 'fs';
import { ExitCode } from '../../src/cli/common';
import { Fixtures, runCli, runJson } from './cli-helpers';

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
