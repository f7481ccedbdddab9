/**
 * `shmring rm` and `shmring gc` decide from liveness and /proc, never from a guess: rings used by a live
 * or stopped process stay, rings left by killed processes go, other programs' files are never touched.
 * Every gc here is limited with --prefix to this test's own names: other tests run at the same time.
 */
import * as fs from 'fs';
import { ExitCode } from '../../src/cli/common';
import { CREATING_PREFIX } from '../../src/ring/create';
import { exitedPid } from '../support/children';
import { LandingLog, landingLogName } from '../../src/integrations/bridge/landing-log';
import { Producer } from '../../src';
import { exists, Fixtures, runCli, runJson } from './cli-helpers';

const fixtures = new Fixtures();
afterEach(() => fixtures.cleanup());

describe('shmring rm', () => {
  it('refuses to remove a ring whose producer is alive (exit 4, naming the pid), and --force removes it', async () => {
    const { name } = fixtures.family('cli-rm-live');
    const child = await fixtures.startRing({ name: name('ring') });
    const refused = runCli(['rm', name('ring')]);
    expect(refused.code).toBe(ExitCode.IN_USE);
    expect(refused.stderr).toContain(`in use by pid ${child.pid}`);
    expect(exists(name('ring'))).toBe(true);

    const json = runJson(['rm', name('ring')]);
    expect(json.code).toBe(ExitCode.IN_USE);
    expect(json.json).toMatchObject({ action: 'kept', inUse: true, pids: [child.pid] });

    const forced = runCli(['rm', '--force', name('ring')]);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toContain('warning');
    expect(exists(name('ring'))).toBe(false);
  });

  it('refuses to remove a ring whose producer is stopped (SIGSTOP is alive)', async () => {
    const { name } = fixtures.family('cli-rm-stopped');
    const pid = await fixtures.stoppedRing({ name: name('ring') });
    const refused = runCli(['rm', name('ring')]);
    expect(refused.code).toBe(ExitCode.IN_USE);
    expect(refused.stderr).toContain(`producer pid ${pid} is alive (stopped)`);
    expect(exists(name('ring'))).toBe(true);
  });

  it('refuses while a live consumer is registered, even when the producer is dead', async () => {
    const { name } = fixtures.family('cli-rm-consumer');
    const consumer = await fixtures.startRing({ name: name('holder'), producer: false });
    await fixtures.deadRing({ name: name('ring'), consumers: [{ pid: consumer.pid, tethered: true }] });
    const refused = runJson(['rm', name('ring')]);
    expect(refused.code).toBe(ExitCode.IN_USE);
    expect(refused.json.reasons.join(';')).toContain(`consumer pid ${consumer.pid}`);
  });

  it('removes a ring whose producer was killed, and says why; --dry-run removes nothing', async () => {
    const { name } = fixtures.family('cli-rm-dead');
    const pid = await fixtures.deadRing({ name: name('ring') });
    const dry = runCli(['rm', '--dry-run', name('ring')]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would remove');
    expect(exists(name('ring'))).toBe(true);

    const { code, json } = runJson(['rm', name('ring')]);
    expect(code).toBe(0);
    expect(json).toMatchObject({ action: 'removed', forced: false, inUse: false });
    expect(json.reasons.join(';')).toContain(`pid ${pid} is dead`);
    expect(exists(name('ring'))).toBe(false);
    expect(runCli(['rm', name('ring')]).code).toBe(ExitCode.NOT_FOUND);
  });

  it('removes a corrupt ring nobody maps', () => {
    const { name } = fixtures.family('cli-rm-corrupt');
    fixtures.corruptRing(name('ring'), 'capacity');
    expect(runCli(['rm', name('ring')]).code).toBe(0);
    expect(exists(name('ring'))).toBe(false);
  });

  it('never removes a foreign file unless --force names it', () => {
    const { name } = fixtures.family('cli-rm-foreign');
    fixtures.foreignFile(name('file'));
    const refused = runCli(['rm', name('file')]);
    expect(refused.code).toBe(ExitCode.NOT_A_RING);
    expect(refused.stderr).toContain('not a shmring ring');
    expect(exists(name('file'))).toBe(true);
    const forced = runCli(['rm', '--force', name('file')]);
    expect(forced.code).toBe(0);
    expect(exists(name('file'))).toBe(false);
  });
});

describe('shmring gc', () => {
  it('removes rings of killed processes, keeps live and stopped ones, never touches foreign files', async () => {
    const { prefix, name } = fixtures.family('cli-gc');
    const live = await fixtures.startRing({ name: name('live') });
    const stoppedPid = await fixtures.stoppedRing({ name: name('stopped') });
    await fixtures.deadRing({ name: name('dead1') });
    await fixtures.deadRing({ name: name('dead2'), consumers: [{ pid: 999_999, startTime: 1, tethered: true }] });
    fixtures.foreignFile(name('foreign'));

    const dry = runJson(['gc', '--dry-run', '--prefix', prefix]);
    expect(dry.code).toBe(0);
    expect(dry.json.removed.map((r: any) => r.name).sort()).toEqual([name('dead1'), name('dead2')]);
    expect(dry.json.removed.every((r: any) => r.action === 'would-remove')).toBe(true);
    expect(dry.json.kept.map((r: any) => r.name).sort()).toEqual([name('live'), name('stopped')]);
    expect(dry.json.foreign).toEqual([name('foreign')]);
    for (const suffix of ['live', 'stopped', 'dead1', 'dead2', 'foreign']) expect(exists(name(suffix))).toBe(true);

    const text = runCli(['gc', '--prefix', prefix]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`removed\\s+${escape(name('dead1'))}`));
    expect(text.stdout).toMatch(new RegExp(`kept\\s+${escape(name('live'))}.*producer pid ${live.pid} is alive`));
    expect(text.stdout).toMatch(new RegExp(`kept\\s+${escape(name('stopped'))}.*producer pid ${stoppedPid} is alive \\(stopped\\)`));
    expect(text.stdout).toContain('removed 2 ring(s)');
    expect(text.stdout).toContain('1 foreign file(s) left alone');
    expect(exists(name('dead1'))).toBe(false);
    expect(exists(name('dead2'))).toBe(false);
    expect(exists(name('live'))).toBe(true);
    expect(exists(name('stopped'))).toBe(true);
    expect(exists(name('foreign'))).toBe(true);

    // --force removes the rings still in use, with a warning each, and still never the foreign file.
    const forced = runCli(['gc', '--force', '--prefix', prefix]);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toContain(`in use by pid ${live.pid}`);
    expect(exists(name('live'))).toBe(false);
    expect(exists(name('stopped'))).toBe(false);
    expect(exists(name('foreign'))).toBe(true);
  });

  // Here, not beside the creation tests: every gc removes dead creators' half-made rings whatever its
  // prefix (they carry no ring name), so only the gc runs of this file, which jest runs one at a time,
  // may plant one and watch it.
  it('removes the half-made ring of a creator that died before linking it into place', () => {
    const leftover = `/dev/shm${CREATING_PREFIX}${exitedPid()}-feedfacecafe`;
    fs.writeFileSync(leftover, Buffer.alloc(8192));
    try {
      const { prefix } = fixtures.family('cli-gc-none');
      const dry = runJson(['gc', '--dry-run', '--prefix', prefix]);
      // Another test's gc (every gc removes half-made rings, whatever its prefix) may have removed it first.
      if (fs.existsSync(leftover)) expect(dry.json.temporaries.map((t: { name: string }) => t.name)).toContain(leftover.slice('/dev/shm'.length));
      const run = runJson(['gc', '--prefix', prefix]);
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(fs.existsSync(leftover)).toBe(false);
    } finally {
      fs.rmSync(leftover, { force: true });
    }
  });

  it("removes a bridge's landing log once its ring is gone and nothing holds it; keeps the others", () => {
    const { prefix, name } = fixtures.family('cli-gc-landing');
    const ringId = '0123456789abcdef0123456789abcdef';
    const producer = Producer.create(name('live'), { capacity: 4096 });
    const logs = ['live', 'gone', 'held'].map((suffix) => LandingLog.open(name(suffix), ringId, { mode: 0o600, gid: process.getgid!() }));
    const [live, gone, held, impostor] = ['live', 'gone', 'held', 'impostor'].map((suffix) => `/dev/shm${landingLogName(name(suffix))}`);
    try {
      logs[0].close(false); // its ring exists
      logs[1].close(false); // its ring never existed (or is gone): garbage once nobody holds it
      // logs[2] stays open: a bridge holding its log (before its ring exists) keeps it.
      // A file under a landing log's name that is not one (no magic) is foreign: never removed.
      fs.writeFileSync(impostor, 'not a landing log');
      const dry = runJson(['gc', '--dry-run', '--prefix', prefix]);
      expect(dry.json.landingLogsRemoved).toContain(gone.slice('/dev/shm'.length));
      expect(dry.json.landingLogsRemoved).not.toContain(held.slice('/dev/shm'.length));
      expect(dry.json.landingLogsRemoved).not.toContain(live.slice('/dev/shm'.length));
      expect(dry.json.landingLogsRemoved).not.toContain(impostor.slice('/dev/shm'.length));
      expect(dry.json.foreign).toEqual([]);
      expect([live, gone, held].map((file) => fs.existsSync(file))).toEqual([true, true, true]);
      const run = runCli(['gc', '--prefix', prefix]);
      expect(run.code).toBe(0);
      expect([live, gone, held, impostor].map((file) => fs.existsSync(file))).toEqual([true, false, true, true]);
    } finally {
      logs[2].close(true);
      producer.close();
      for (const file of [live, gone, held, impostor]) fs.rmSync(file, { force: true });
    }
  });

  it('removes corrupt rings nobody uses and reports nothing to do afterwards', () => {
    const { prefix, name } = fixtures.family('cli-gc-corrupt');
    fixtures.corruptRing(name('bad'), 'version');
    const first = runJson(['gc', '--prefix', prefix]);
    expect(first.json.removed.map((r: any) => r.name)).toEqual([name('bad')]);
    const second = runCli(['gc', '--prefix', prefix]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('No shmring rings');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
