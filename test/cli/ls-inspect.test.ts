/**
 * `shmring ls`, `inspect` and `top` against real segments: a ring whose producer is alive, one whose
 * producer was killed, one whose producer is stopped, corrupt rings, and another program's file.
 */
import * as fs from 'fs';
import { ExitCode } from '../../src/cli/common';
import * as L from '../../src/ring/layout';
import { Producer } from '../../src';
import { Fixtures, runCli, runJson } from './cli-helpers';

const fixtures = new Fixtures();
afterEach(() => fixtures.cleanup());

describe('shmring ls', () => {
  it('lists live, killed, stopped and corrupt rings with producer liveness and mappers, and foreign files apart', async () => {
    const { prefix, name } = fixtures.family('cli-ls');
    const live = await fixtures.startRing({ name: name('live'), messages: 42, consumers: [{ self: true, tethered: true, head: 1024 }] });
    const deadPid = await fixtures.deadRing({ name: name('dead'), messages: 7 });
    const stoppedPid = await fixtures.stoppedRing({ name: name('stopped') });
    fixtures.corruptRing(name('corrupt'), 'capacity');
    fixtures.foreignFile(name('foreign'));

    const { code, json } = runJson(['ls', '--no-rate', '--prefix', prefix]);
    expect(code).toBe(ExitCode.OK);
    const byName = new Map<string, any>(json.rings.map((r: any) => [r.name, r]));

    const liveRing = byName.get(name('live'));
    expect(liveRing).toMatchObject({ kind: 'ring', status: 'live', mode: '0600', messagesSent: 42, inUse: true });
    expect(liveRing.producer).toEqual({ pid: live.pid, status: 'alive' });
    expect(liveRing.consumers).toMatchObject({ total: 1, alive: 1, dead: 0, tethered: 1 });
    expect(liveRing.mappers.map((m: any) => m.pid)).toEqual([live.pid]);
    expect(liveRing.mappers[0]).toMatchObject({ mapped: true, writable: true });

    const deadRing = byName.get(name('dead'));
    expect(deadRing).toMatchObject({ kind: 'ring', status: 'abandoned', inUse: false, messagesSent: 7, mappers: [] });
    expect(deadRing.producer).toEqual({ pid: deadPid, status: 'dead' });

    const stoppedRing = byName.get(name('stopped'));
    expect(stoppedRing).toMatchObject({ status: 'stopped', inUse: true });
    expect(stoppedRing.producer).toEqual({ pid: stoppedPid, status: 'stopped' });

    expect(byName.get(name('corrupt'))).toMatchObject({ kind: 'corrupt', status: 'corrupt', error: { code: 'CORRUPT_SEGMENT' } });
    expect(byName.has(name('foreign'))).toBe(false);
    expect(json.foreign.map((f: any) => f.name)).toEqual([name('foreign')]);
  });

  it('prints an aligned table, and measures a rate from two samples', async () => {
    const { prefix, name } = fixtures.family('cli-ls-table');
    await fixtures.startRing({ name: name('busy'), tick: true });
    fixtures.foreignFile(name('other'));

    const { code, json } = runJson(['ls', '--prefix', prefix, '--sample', '300']);
    expect(code).toBe(0);
    expect(json.rings[0].rate.messages).toBeGreaterThan(0);

    const text = runCli(['ls', '--prefix', prefix]);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    const header = lines[0];
    expect(header).toMatch(/^RING\s+STATUS\s+SIZE\s+OWNER\s+MODE\s+PRODUCER\s+CONSUMERS\s+MESSAGES\s+LOST\s+RATE\s+MAPPED BY$/);
    const row = lines.find((l) => l.startsWith(name('busy')))!;
    expect(row).toBeDefined();
    // Aligned: the STATUS column starts at the same character in the heading and the row.
    expect(row.indexOf('live')).toBe(header.indexOf('STATUS'));
    expect(text.stdout).toContain('Foreign files in /dev/shm');
    expect(text.stdout).toContain(name('other'));
    expect(text.stdout).not.toMatch(/\x1b\[/); // no colour when not a terminal
  });
});

describe('shmring inspect', () => {
  it('shows header, counters and each consumer with lag, liveness and tethering, without joining the ring', async () => {
    const { name } = fixtures.family('cli-inspect');
    const ring = name('ring');
    const child = await fixtures.startRing({
      name: ring,
      capacity: 4096,
      messages: 10,
      oldest: 0,
      tail: 2048,
      consumers: [
        { self: true, tethered: true, head: 1024, received: 5 },
        { pid: 999_999, startTime: 1, tethered: false, head: 512, lost: 3 }, // a consumer that no longer exists
      ],
    });
    const { code, json } = runJson(['inspect', ring]);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      kind: 'ring',
      geometry: { capacity: 4096, maxConsumers: 4 },
      producer: { pid: child.pid, status: 'alive', state: 'live' },
      positions: { publishedTail: 2048, oldest: 0, used: 2048 },
      counters: { messagesSent: 10 },
      problems: [],
      inUse: true,
    });
    expect(json.consumers).toEqual([
      expect.objectContaining({ slot: 0, pid: child.pid, status: 'alive', tethered: true, head: 1024, lag: 1024, received: 5, lost: 0 }),
      expect.objectContaining({ slot: 1, pid: 999_999, status: 'dead', tethered: false, head: 512, lag: 1536, lost: 3 }),
    ]);

    // Read-only: inspecting claimed no slot and changed nothing.
    const again = runJson(['inspect', ring]).json;
    expect(again.consumers).toHaveLength(2);
    expect(again.positions).toEqual(json.positions);

    const text = runCli(['inspect', ring, '--width', '32']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/SLOT\s+PID\s+STATUS\s+TETHERED\s+POSITION\s+LAG\s+RECEIVED\s+LOST/);
    // The picture: 32 cells, half of the 4 KiB ring readable (oldest 0 .. tail 2048), producer at the middle.
    const bar = text.stdout.split('\n').find((l) => l.trim().startsWith('['))!;
    expect(bar.trim()).toBe(`[${'█'.repeat(16)}${'·'.repeat(16)}]`);
    const barStart = bar.indexOf('[') + 1;
    const markers = text.stdout.split('\n')[text.stdout.split('\n').indexOf(bar) - 1];
    expect(markers.indexOf('P')).toBe(barStart + 16);
    expect(markers.indexOf('O')).toBe(barStart);
    const consumersLine = text.stdout.split('\n')[text.stdout.split('\n').indexOf(bar) + 1];
    expect(consumersLine.indexOf('0')).toBe(barStart + 8);
    expect(consumersLine.indexOf('1')).toBe(barStart + 4);
  });

  it('reports a ring whose producer was killed as dead and abandoned', async () => {
    const { name } = fixtures.family('cli-inspect-dead');
    const pid = await fixtures.deadRing({ name: name('ring') });
    const { code, json } = runJson(['inspect', name('ring')]);
    expect(code).toBe(0);
    expect(json.producer).toMatchObject({ pid, status: 'dead' });
    expect(json.inUse).toBe(false);
  });

  it.each([
    ['a capacity that is not a power of two', 'capacity', 'corrupt', 'CORRUPT_SEGMENT'],
    ['another layout version', 'version', 'incompatible', 'INCOMPATIBLE_VERSION'],
    ['a header cut short', 'short', 'corrupt', 'CORRUPT_SEGMENT'],
  ] as const)('reports a ring with %s as %s (exit code 5), never crashing', (_what, damage, kind, errorCode) => {
    const { name } = fixtures.family(`cli-bad-${damage}`);
    fixtures.corruptRing(name('ring'), damage);
    const { code, json } = runJson(['inspect', name('ring')]);
    expect(code).toBe(ExitCode.NOT_A_RING);
    expect(json).toMatchObject({ kind, error: { code: errorCode } });
    const text = runCli(['inspect', name('ring')]);
    expect(text.code).toBe(ExitCode.NOT_A_RING);
    expect(text.stdout).toContain(errorCode);
    expect(text.stderr).toBe('');
  });

  it('reports a file without the shmring magic as foreign (exit 5)', () => {
    const { name } = fixtures.family('cli-foreign');
    fixtures.foreignFile(name('file'));
    const { code, json } = runJson(['inspect', name('file')]);
    expect(code).toBe(ExitCode.NOT_A_RING);
    expect(json).toMatchObject({ kind: 'foreign', error: { code: 'NOT_A_RING' } });
  });

  it('flags impossible positions in a damaged header as problems instead of printing them', async () => {
    const { name } = fixtures.family('cli-damaged');
    await fixtures.startRing({
      name: name('ring'),
      capacity: 4096,
      tail: 2048,
      oldest: -8192, // more than a capacity behind the tail
      consumers: [{ self: true, tethered: true, head: 4096 }], // beyond the tail
    });
    const { code, json } = runJson(['inspect', name('ring')]);
    expect(code).toBe(0);
    expect(json.positions.used).toBeNull();
    expect(json.consumers[0].lag).toBeNull();
    expect(json.problems.join('\n')).toMatch(/oldest position .* not within one capacity/);
    expect(json.problems.join('\n')).toMatch(/consumer slot 0 .* beyond the tail/);
  });

  it('exits 3 for a missing ring and 2 for bad usage', () => {
    const { name } = fixtures.family('cli-missing');
    const missing = runCli(['inspect', name('nothing')]);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect(missing.stderr).toContain('no segment');
    expect(runJson(['inspect', name('nothing')]).json.error).toMatchObject({ code: 'SEGMENT_NOT_FOUND', exitCode: 3 });
    expect(runCli(['inspect']).code).toBe(ExitCode.USAGE);
    expect(runCli(['inspect', 'a/b']).code).toBe(ExitCode.USAGE);
    expect(runCli(['ls', '--bogus']).code).toBe(ExitCode.USAGE);
    expect(runCli(['frobnicate']).code).toBe(ExitCode.USAGE);
    expect(runCli([]).code).toBe(ExitCode.USAGE);
    const help = runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
  });
});

describe('shmring top', () => {
  it('prints one frame with rates, lag and loss (--once), as text and as JSON', async () => {
    const { prefix, name } = fixtures.family('cli-top');
    await fixtures.startRing({ name: name('ring'), tick: true, tail: 2048, consumers: [{ self: true, tethered: false, head: 1024, lost: 4 }] });
    const { code, json } = runJson(['top', '--once', '--prefix', prefix]);
    expect(code).toBe(0);
    expect(json.rings).toHaveLength(1);
    expect(json.rings[0]).toMatchObject({ status: 'live', lost: 4, maxLag: 1024 });
    expect(json.rings[0].rate.messages).toBeGreaterThan(0);
    const text = runCli(['top', '--once', '--prefix', prefix]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/RING\s+STATUS\s+PRODUCER\s+CONSUMERS\s+MSG\/S\s+BYTES\/S\s+MESSAGES\s+MAX LAG\s+LOST\s+LOST\/S/);
    expect(text.stdout).toContain(name('ring'));
    expect(text.stdout).not.toContain('\x1b[H'); // redraws in place only on a terminal
  });

  it('refreshes every interval until --iterations frames were printed', async () => {
    const { prefix, name } = fixtures.family('cli-top-loop');
    await fixtures.startRing({ name: name('ring'), tick: true });
    const result = runCli(['top', '--interval', '100', '--iterations', '3', '--prefix', prefix, '--json']);
    expect(result.code).toBe(0);
    const frames = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(frames).toHaveLength(3);
    expect(frames[2].rings[0].rate.messages).toBeGreaterThan(0);
  });
});

describe('what inspect and ls say plainly', () => {
  it('inspect says a producer that died without closing is gone, and that sleep flags left by the dead are stale', async () => {
    const { name } = fixtures.family('cli-inspect-dead');
    const pid = await fixtures.deadRing({ name: name('ring'), messages: 3, consumers: [{ self: true, tethered: true }] });
    // Flags a sleeping consumer and a producer waiting for space leave set when they are killed asleep.
    const fd = fs.openSync(`/dev/shm${name('ring')}`, 'r+');
    try {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1);
      fs.writeSync(fd, one, 0, 4, L.DATA_WAITERS_OFFSET);
      fs.writeSync(fd, one, 0, 4, L.PRODUCER_WAITING_OFFSET);
    } finally {
      fs.closeSync(fd);
    }
    const { code, stdout } = runCli(['inspect', name('ring'), '--width', '74']);
    expect(code).toBe(0);
    const field = (label: string) => stdout.split('\n').find((line) => line.trimStart().startsWith(label)) ?? '';
    expect(field('producer')).toContain(`state word still live, but pid ${pid} is gone: it died without closing the ring`);
    expect(field('sleeping')).toContain('waiter flag set, but no consumer is alive');
    expect(field('sleeping')).toContain('space flag set, but the producer is not alive');
    expect(field('sleeping')).not.toContain('a consumer is (or was about to be) asleep');
    // 4096 B over 74 cells: rounded, and marked as approximate.
    expect(stdout).toContain('each cell ≈ 55 B');
    expect(stdout).not.toMatch(/each cell ≈? ?\d+\.\d/);
  });

  it('ls has a LOST column: messages its untethered consumers missed', async () => {
    const { prefix, name } = fixtures.family('cli-ls-lost');
    await fixtures.startRing({ name: name('lossy'), messages: 20, consumers: [{ self: true, lost: 7 }, { self: true, lost: 5 }] });
    const { stdout } = runCli(['ls', '--no-rate', '--prefix', prefix]);
    const [heading, row] = stdout.split('\n');
    const lostAt = heading.indexOf('LOST');
    expect(lostAt).toBeGreaterThan(0);
    // Right-aligned under its heading.
    expect(row.slice(lostAt, lostAt + 4).trim()).toBe('12');
    expect(runJson(['ls', '--no-rate', '--prefix', prefix]).json.rings[0].lost).toBe(12);
  });

  it('states the name limit in the words of the library', () => {
    const tooLong = `/${'n'.repeat(255)}`;
    let libraryMessage = '';
    try {
      Producer.create(tooLong, { capacity: 4096 });
    } catch (error) {
      libraryMessage = (error as Error).message;
    }
    expect(libraryMessage).toMatch(/1\.\.254 bytes/);
    const cli = runCli(['inspect', tooLong]);
    expect(cli.code).toBe(ExitCode.USAGE);
    expect(cli.stderr).toContain(libraryMessage);
  });
});
