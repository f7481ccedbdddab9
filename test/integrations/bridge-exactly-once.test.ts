/**
 * Exactly once into the target ring across crashes of the RECEIVING bridge (NATS → ring), and the
 * landing log that makes it so (src/integrations/bridge/landing-log.ts, docs/bridge.md):
 * - the log itself, on real /dev/shm segments: what a restarted bridge recovers, entries of records never
 *   published dropped, a log of another ring instance reset, damage reported as CORRUPT_SEGMENT;
 * - a bridge refusing a damaged log, against a real nats-server;
 * - host A's producer ─▶ ring ─▶ bridge ─▶ JetStream ─▶ bridge ─▶ ring ─▶ reader, all separate
 *   processes, while the receiving bridge is SIGKILLed and restarted 5 times mid-stream: the reader
 *   sees every message once, in order.
 */
import * as fs from 'fs';
import { Bridge, landingLogName } from '../../src/integrations/bridge';
import { LandingLog } from '../../src/integrations/bridge/landing-log';
import { isShmRingError } from '../../src/errors';
import { NATS_SERVER, startNatsServer } from '../support/nats';
import { hasSystemPackage } from '../support/system-packages';

/** The suites that start a real nats-server. */
const describeWithNats = hasSystemPackage(NATS_SERVER, 'nats-server', 'integrations/bridge-exactly-once') ? describe : describe.skip;
import { bridgeHarness } from './bridge-support';

jest.setTimeout(150_000);

const RECEIVER_KILL_COUNT = 60_000;
const RING_A = 'a'.repeat(32);
const RING_B = 'b'.repeat(32);
const SOURCE = 'c'.repeat(32);

const { rings, servers, expectSuccess, bridgeToNats, bridgeToRing, streamMessages, startRun } = bridgeHarness();

function logOf(tag: string): { ring: string; name: string; path: string } {
  const ring = rings.ringName(tag);
  const name = rings.trackName(landingLogName(ring));
  return { ring, name, path: `/dev/shm${name}` };
}

describe('LandingLog', () => {
  it('tells a restarted bridge the last stream message in its ring, and drops entries of records never published', () => {
    const { ring } = logOf('log-recover');
    const log = LandingLog.open(ring, RING_A, { mode: 0o600, gid: process.getgid!() });
    for (let s = 0; s < 5000; s++) log.record(s, 100 + 2 * s, { ringId: SOURCE, sequence: s });
    // Not closed: as after a SIGKILL. The ring published records 0..4989 (its next sequence is 4990).
    const reopened = LandingLog.open(ring, RING_A, { mode: 0o600, gid: process.getgid!() });
    const state = reopened.recover(4990);
    expect(state.lastStreamSequence).toBe(100 + 2 * 4989);
    expect(state.lastBySource.get(SOURCE)).toBe(4989);
    // The dropped entries (4990..4999) stay dropped.
    expect(LandingLog.open(ring, RING_A, { mode: 0o600, gid: process.getgid!() }).recover(5000).lastStreamSequence).toBe(100 + 2 * 4989);
    log.close(false);
    reopened.close(true);
  });

  it('resets a log made for another instance of the ring (the ring was created anew)', () => {
    const { ring } = logOf('log-reset');
    const log = LandingLog.open(ring, RING_A, { mode: 0o600, gid: process.getgid!() });
    log.record(0, 7, undefined);
    log.close(false);
    const other = LandingLog.open(ring, RING_B, { mode: 0o600, gid: process.getgid!() });
    expect(other.recover(1).lastStreamSequence).toBe(0);
    other.close(true);
  });

  it('is made with the permission bits it is given, and removed by a clean close', () => {
    const { ring, path } = logOf('log-mode');
    const log = LandingLog.open(ring, RING_A, { mode: 0o640, gid: process.getgid!() });
    expect(fs.statSync(path).mode & 0o777).toBe(0o640);
    log.close(true);
    expect(fs.existsSync(path)).toBe(false);
  });

  it.each([
    ['a wrong magic', (b: Buffer) => b.write('garbage!', 0, 'latin1'), /no landing-log magic/],
    ['an unknown version', (b: Buffer) => b.writeUInt32LE(99, 8), /version 99/],
    ['an entry count that is not a power of two', (b: Buffer) => b.writeUInt32LE(3000, 12), /entry count 3000/],
    ['an entry at the wrong index', (b: Buffer) => b.writeDoubleLE(5, 64 + 3 * 48), /entry 3 holds ring sequence 5/],
    ['a ring sequence that is not an integer', (b: Buffer) => b.writeDoubleLE(0.5, 64), /entry 0 holds ring sequence 0.5/],
    ['a stream sequence that is not a number', (b: Buffer) => b.writeDoubleLE(NaN, 64 + 8), /entry 0 holds stream sequence NaN/],
    ['stream sequences out of ring order', (b: Buffer) => b.writeDoubleLE(1, 64 + 48 + 8), /out of order/],
  ])('reports %s as CORRUPT_SEGMENT with a hint, never a crash', (_what, damage, message) => {
    const { ring, path } = logOf('log-corrupt');
    const log = LandingLog.open(ring, RING_A, { mode: 0o600, gid: process.getgid!() });
    log.record(0, 10, { ringId: SOURCE, sequence: 0 });
    log.record(1, 11, { ringId: SOURCE, sequence: 1 });
    log.close(false);
    const bytes = fs.readFileSync(path);
    damage(bytes);
    fs.writeFileSync(path, bytes);
    let error: unknown;
    try {
      LandingLog.open(ring, RING_A, { mode: 0o600, gid: process.getgid!() }).recover(2);
    } catch (e) {
      error = e;
    }
    expect(isShmRingError(error, 'CORRUPT_SEGMENT')).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect((error as { hint?: string }).hint).toContain(`rm ${path}`);
  });

  it('reports a log of the wrong size as CORRUPT_SEGMENT', () => {
    const { ring, path } = logOf('log-short');
    const log = LandingLog.open(ring, RING_A, { mode: 0o600, gid: process.getgid!() });
    log.close(false);
    fs.truncateSync(path, 4096);
    expect(() => LandingLog.open(ring, RING_A, { mode: 0o600, gid: process.getgid!() })).toThrow(/4096 bytes/);
  });
});

describeWithNats('Bridge (NATS → ring) with a damaged landing log', () => {
  it('refuses to start with CORRUPT_SEGMENT and leaves the ring it made removed', async () => {
    const server = await startNatsServer();
    servers.push(server);
    const { ring, path } = logOf('bridge-corrupt');
    fs.writeFileSync(path, Buffer.alloc(64 + 4096 * 48, 0x41), { mode: 0o600 });
    const bridge = new Bridge({ toRing: ring, fromSubject: `t${process.pid}corrupt.>`, jetstream: `S${process.pid}corrupt`, servers: server.url, statusIntervalMs: 0 });
    const error = await bridge.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    await bridge.close();
    expect(isShmRingError(error, 'CORRUPT_SEGMENT')).toBe(true);
    expect((error as Error).message).toContain(`landing log ${landingLogName(ring)} is damaged`);
    expect(fs.existsSync(`/dev/shm${ring}`)).toBe(false);
  });
});

describeWithNats('Bridge: exactly once into the target ring across crashes of the receiving bridge', () => {
  it(`writes each of ${RECEIVER_KILL_COUNT} messages once, in order, while the receiving bridge is SIGKILLed and restarted 5 times`, async () => {
    const server = await startNatsServer();
    servers.push(server);
    const run = startRun(server, RECEIVER_KILL_COUNT, 'rkill');
    const sending = bridgeToNats(run.source, server.url, run.stream, run.prefix);
    let receiving = run.receiving;
    let kills = 0;
    for (let k = 1; k <= 5; k++) {
      // Kill once this incarnation has written past the goal (so every restart resumes somewhere new),
      // while the stream still has more for it.
      const goal = Math.floor((RECEIVER_KILL_COUNT * k) / 7);
      await receiving.waitForLine((s) => typeof s.forwarded === 'number' && s.lastSequence >= goal, 60_000);
      receiving.process.kill('SIGKILL');
      await receiving.exited;
      kills++;
      receiving = bridgeToRing(run.target, server.url, run.stream, run.prefix);
    }
    expect(kills).toBe(5);
    const others = { producer: run.producer, sending, receiving };
    // The reader (it follows each takeover of its ring) checks every value is the next one: none twice, none missing.
    const sinkOut = await expectSuccess('sink', run.sink, 120_000, others);
    expect(sinkOut).toContain(`"received":${RECEIVER_KILL_COUNT},"wrong":0`);
    await expectSuccess('sending bridge', sending, 30_000, others);
    expect(await streamMessages(server.url, run.stream)).toEqual({ messages: RECEIVER_KILL_COUNT, lastSequence: RECEIVER_KILL_COUNT - 1 });
    // The last receiving bridge stops cleanly on SIGTERM and removes its ring and its landing log.
    receiving.process.kill('SIGTERM');
    await expectSuccess('last receiving bridge', receiving, 30_000, others);
    expect(fs.existsSync(`/dev/shm${landingLogName(run.target)}`)).toBe(false);
  });
});
