/**
 * The NATS bridge against real nats-servers (started here, on free loopback ports, JetStream stores in
 * temporary directories): host A's producer ─▶ ring ─▶ bridge (`shmring bridge`, its own process) ─▶
 * NATS/JetStream ─▶ bridge (its own process) ─▶ ring ─▶ host B's reader (its own process).
 *
 * Message counts: the plain run carries the 1 M messages (27 s on this 2-core machine at load ~4,
 * every process on the same two cores: pipelined publishes and one acknowledgement per landed batch move
 * ~37 k messages/s end to end; the whole file took 94 s inside a full `npm test` under load); the fault
 * runs carry 60 k each, enough for 5 kills at distinct points.
 */
import { Bridge, renderSubject } from '../../src/integrations/bridge';
import { isShmRingError } from '../../src/errors';
import { runFixture, within } from '../support/children';
import { waitUntil } from '../support/waits';
import { freePort, NATS_SERVER, startNatsCluster, startNatsServer } from '../support/nats';
import { hasSystemPackage } from '../support/system-packages';

/** The suites that start a real nats-server. */
const describeWithNats = hasSystemPackage(NATS_SERVER, 'nats-server', 'integrations/bridge') ? describe : describe.skip;
import { bridgeHarness, CLI } from './bridge-support';

jest.setTimeout(120_000);

/** The count. SHMRING_BRIDGE_COUNT runs it with another (e.g. 5000000 outside CI). */
const PLAIN_COUNT = Number(process.env.SHMRING_BRIDGE_COUNT ?? 1_000_000);
const FAULT_COUNT = 60_000;
const CLUSTER_COUNT = 20_000;

const { rings, servers, expectSuccess, bridgeToNats, bridgeToRing, streamMessages, startRun } = bridgeHarness();

describe('Bridge: errors', () => {
  it('fails with BRIDGE_UNREACHABLE and a hint when no server listens', async () => {
    const port = await freePort();
    const bridge = new Bridge({ fromRing: rings.ringName('unreachable'), servers: `nats://127.0.0.1:${port}` });
    const error = await bridge.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isShmRingError(error, 'BRIDGE_UNREACHABLE')).toBe(true);
    expect((error as Error).message).toContain(`no server at nats://127.0.0.1:${port}: is nats-server running?`);
    expect((error as { hint?: string }).hint).toMatch(/Start nats-server/);
    await bridge.close();
  });

  it('`shmring bridge` exits 1 with the code and the hint when no server listens', async () => {
    const port = await freePort();
    const cli = runFixture(CLI, ['bridge', '--from-ring', '/nothing-here', '--server', `nats://127.0.0.1:${port}`]);
    const result = await within(cli.exited, 20_000, 'shmring bridge');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is nats-server running?');
    expect(result.stderr).toContain('hint:');
  });

  it('rejects options that mix the two directions, naming them', () => {
    expect(() => new Bridge({ fromRing: '/a', toRing: '/b' })).toThrow(/exactly one direction/);
    expect(() => new Bridge({ fromRing: '/a', fromSubject: 'x' })).toThrow(/fromSubject/);
    expect(() => new Bridge({ toRing: '/b' })).toThrow(/fromSubject/);
    expect(() => new Bridge({ fromRing: '/a', maxBatch: 0 })).toThrow(RangeError);
    expect(() => new Bridge({ fromRing: '/a', bogus: 1 } as never)).toThrow(/unknown option 'bogus'/);
  });
});

describeWithNats('Bridge: ring → JetStream → ring across two bridge processes', () => {
  it(`delivers ${PLAIN_COUNT} messages in order, exactly once, and the stream holds each once`, async () => {
    const server = await startNatsServer();
    servers.push(server);
    const run = startRun(server, PLAIN_COUNT, 'plain');
    const sending = bridgeToNats(run.source, server.url, run.stream, run.prefix);
    const others = { producer: run.producer, sending, receiving: run.receiving };
    // A bound, not a timing assertion: 27 s here at load ~4; more while the rest of the suite runs.
    const sinkOut = await expectSuccess('sink', run.sink, 270_000, others);
    expect(sinkOut).toContain(`"received":${PLAIN_COUNT},"wrong":0`);
    // The producer closed its ring: the sending bridge ends by itself once everything is acknowledged.
    const sendingOut = await expectSuccess('sending bridge', sending, 20_000, others);
    const last = JSON.parse(sendingOut.trim().split('\n').pop()!);
    expect(last).toMatchObject({ state: 'ended', acked: PLAIN_COUNT, lost: 0, pending: 0, lastSequence: PLAIN_COUNT - 1 });
    expect(await streamMessages(server.url, run.stream)).toEqual({ messages: PLAIN_COUNT, lastSequence: PLAIN_COUNT - 1 });
  }, 330_000);

  it(`loses and doubles nothing while the sending bridge is SIGKILLed and restarted 5 times (${FAULT_COUNT} messages)`, async () => {
    const server = await startNatsServer();
    servers.push(server);
    const run = startRun(server, FAULT_COUNT, 'kill');
    let sending = bridgeToNats(run.source, server.url, run.stream, run.prefix);
    let kills = 0;
    for (let k = 1; k <= 5; k++) {
      // Kill once this incarnation has moved the stream on (so every restart resumes somewhere new).
      const goal = Math.floor((FAULT_COUNT * k) / 7);
      await sending.waitForLine((s) => typeof s.acked === 'number' && s.lastSequence >= goal, 60_000);
      sending.process.kill('SIGKILL');
      await sending.exited;
      kills++;
      sending = bridgeToNats(run.source, server.url, run.stream, run.prefix);
    }
    expect(kills).toBe(5);
    const others = { producer: run.producer, sending, receiving: run.receiving };
    const sinkOut = await expectSuccess('sink', run.sink, 90_000, others);
    expect(sinkOut).toContain(`"received":${FAULT_COUNT},"wrong":0`);
    await expectSuccess('last sending bridge', sending, 20_000, others);
    expect(await streamMessages(server.url, run.stream)).toEqual({ messages: FAULT_COUNT, lastSequence: FAULT_COUNT - 1 });
  });

  it(`loses and doubles nothing while nats-server is SIGKILLed and restarted (${FAULT_COUNT} messages)`, async () => {
    const server = await startNatsServer();
    servers.push(server);
    const run = startRun(server, FAULT_COUNT, 'srv');
    const sending = bridgeToNats(run.source, server.url, run.stream, run.prefix);
    await sending.waitForLine((s) => s.lastSequence >= FAULT_COUNT / 3, 60_000);
    await server.kill();
    // Restart once the bridge has noticed (no fixed sleep): it must then reconnect by itself.
    await sending.waitForLine((s) => s.state === 'disconnected' || s.state === 'reconnecting', 30_000);
    await server.restart();
    const others = { producer: run.producer, sending, receiving: run.receiving };
    const sinkOut = await expectSuccess('sink', run.sink, 90_000, others);
    expect(sinkOut).toContain(`"received":${FAULT_COUNT},"wrong":0`);
    const sendingOut = await expectSuccess('sending bridge', sending, 20_000, others);
    const statuses = sendingOut.trim().split('\n').map((line) => JSON.parse(line));
    expect(statuses.some((s) => s.disconnects >= 1)).toBe(true);
    expect(statuses.pop()).toMatchObject({ state: 'ended', lost: 0, pending: 0 });
    expect(await streamMessages(server.url, run.stream)).toEqual({ messages: FAULT_COUNT, lastSequence: FAULT_COUNT - 1 });
  });
});

describeWithNats('Bridge: other topologies', () => {
  it(`a three-server cluster (routes on loopback): ${CLUSTER_COUNT} messages cross from a bridge on one server to a bridge on another`, async () => {
    const cluster = await startNatsCluster();
    servers.push(...cluster);
    const run = startRun(cluster[0]!, CLUSTER_COUNT, 'cluster', cluster[2]!);
    const sending = bridgeToNats(run.source, cluster[0]!.url, run.stream, run.prefix);
    const others = { producer: run.producer, sending, receiving: run.receiving };
    const sinkOut = await expectSuccess('sink', run.sink, 90_000, others);
    expect(sinkOut).toContain(`"received":${CLUSTER_COUNT},"wrong":0`);
    await expectSuccess('sending bridge', sending, 20_000, others);
    expect(await streamMessages(cluster[1]!.url, run.stream)).toEqual({ messages: CLUSTER_COUNT, lastSequence: CLUSTER_COUNT - 1 });
  });

  it(`core NATS (at most once): ${CLUSTER_COUNT} messages arrive in order when nothing fails`, async () => {
    const server = await startNatsServer();
    servers.push(server);
    const run = startRun(server, CLUSTER_COUNT, 'core', server, false);
    // The subscription must exist before the first publish: core NATS keeps nothing for later.
    await run.receiving.waitForLine((s) => s.state === 'connected', 30_000);
    const sending = bridgeToNats(run.source, server.url, undefined, run.prefix);
    const others = { producer: run.producer, sending, receiving: run.receiving };
    const sinkOut = await expectSuccess('sink', run.sink, 60_000, others);
    expect(sinkOut).toContain(`"received":${CLUSTER_COUNT},"wrong":0`);
    const sendingOut = await expectSuccess('sending bridge', sending, 20_000, others);
    expect(JSON.parse(sendingOut.trim().split('\n').pop()!)).toMatchObject({ state: 'ended', forwarded: CLUSTER_COUNT, lost: 0 });
  });
});

describeWithNats('Bridge: headers', () => {
  it('carries the ring name, ring id, epoch and sequence; a producer takeover bumps the epoch and keeps ringId:sequence unique in the stream', async () => {
    const server = await startNatsServer();
    servers.push(server);
    const ring = rings.ringName('epoch');
    const stream = `S${process.pid}epoch`;
    const half = 200;
    const first = runFixture('bridge-takeover-producer.js', [ring, '0', String(half), 'stay']);
    const bridge = await Bridge.start({ fromRing: ring, toSubject: `t${process.pid}epoch.{host}.{ring}`, jetstream: stream, servers: server.url, openTimeout: 30_000, statusIntervalMs: 0 });
    try {
      await first.waitForLine((line) => line.sent === half, 30_000);
      // Everything of the first producer is in the stream before it dies: those messages carry epoch 0.
      await waitUntil(() => bridge.status().acked >= half, `the bridge to have ${half} messages acknowledged`, 30_000);
      first.process.kill('SIGKILL');
      await first.exited;
      const second = runFixture('bridge-takeover-producer.js', [ring, String(half), String(half), 'close']);
      expect(await second.waitForLine((line) => line.sent === half, 30_000)).toMatchObject({ tookOver: true, nextSequence: 2 * half });
      await within(bridge.finished(), 30_000, 'the bridge, after the second producer closed');
    } finally {
      await bridge.close();
    }
    expect(bridge.status()).toMatchObject({ state: 'ended', acked: 2 * half, lost: 0, duplicates: 0 });
    const { connect } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      expect((await jsm.streams.info(stream)).state.messages).toBe(2 * half);
      const headersAt = async (seq: number) => {
        const m = await jsm.streams.getMessage(stream, { seq });
        return ['Shmring-Ring', 'Shmring-Ring-Id', 'Shmring-Epoch', 'Shmring-Sequence', 'Nats-Msg-Id'].map((h) => m?.header.get(h));
      };
      const [name, ringId, epoch0, sequence0, msgId0] = await headersAt(1);
      expect({ name, epoch0, sequence0 }).toEqual({ name: ring, epoch0: '0', sequence0: '0' });
      expect(ringId).toMatch(/^[0-9a-f]{32}$/);
      expect(msgId0).toBe(`${ringId}:0`);
      expect(await headersAt(half)).toEqual([ring, ringId, '0', String(half - 1), `${ringId}:${half - 1}`]);
      // After the takeover: the same ring id, the epoch one more, the sequence going on.
      expect(await headersAt(half + 1)).toEqual([ring, ringId, '1', String(half), `${ringId}:${half}`]);
      expect(await headersAt(2 * half)).toEqual([ring, ringId, '1', String(2 * half - 1), `${ringId}:${2 * half - 1}`]);
    } finally {
      await nc.close();
    }
  });
});

describe('Bridge: subjects', () => {
  it('renders the template with one token per name, and rejects a subject it could not publish to', () => {
    expect(renderSubject('telemetry.{host}.{ring}', '/tel.app1', 'vm.local')).toBe('telemetry.vm_local.tel_app1');
    expect(renderSubject('x.{ring}-raw', '/a*b>c d', 'h')).toBe('x.a_b_c_d-raw');
    expect(() => new Bridge({ fromRing: '/a', toSubject: 'telemetry.*' })).toThrow(/not a valid NATS subject to publish to/);
    expect(() => new Bridge({ toRing: '/a', fromSubject: 'telemetry..x' })).toThrow(/not a valid NATS subject/);
  });
});

describeWithNats('Bridge: shutdown', () => {
  it('`shmring bridge` exits 0 on SIGTERM with a last status line saying closed', async () => {
    const server = await startNatsServer();
    servers.push(server);
    const ring = rings.ringName('sigterm');
    const bridge = bridgeToRing(ring, server.url, undefined, `t${process.pid}sigterm`);
    await bridge.waitForLine((s) => s.state === 'connected', 30_000);
    bridge.process.kill('SIGTERM');
    const result = await within(bridge.exited, 20_000, 'shmring bridge after SIGTERM');
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).toMatchObject({ state: 'closed', lost: 0 });
  });
});
