/**
 * The publish fence (docs/protocol.md, "The publish fence"): the C producer publishes with a release store
 * and asks consumers for membarrier before they sleep (PRODUCER_PUBLISH_FENCE = MEMBARRIER); the TypeScript
 * producer, and the C producer with `sequential_publish`, publish with a full barrier (FULL). Every producer
 * sets the word before its first publish, at creation and at a takeover.
 *
 * The traffic cases make consumers sleep all the time (no spinning, a pseudo-random 0-4 µs between sends)
 * with their periodic producer check stretched to 10 minutes, so a lost wake hangs the consumer and fails
 * the bounded wait, whatever the consumer: C (test/c/fence_stress.c), TypeScript blocking (receiveSync),
 * and TypeScript in the event loop (native waiter thread, doorbell). On x86 a missing membarrier would
 * rarely show here (the futex compares the word after the store buffer has drained); the argument in
 * docs/protocol.md is what covers it. These cases guard the rest: that the release-store path still wakes
 * every sleeper, in order, with nothing lost.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Producer, Selector } from '../../src';
import { Segment } from '../../src/core/segment';
import * as L from '../../src/ring/layout';
import { FIXTURES, within } from '../support/children';
import { untilAsleep } from '../support/waits';
import { readSnapshot } from '../../src/ring/snapshot';
import { buildC, finished, killPeers, Peer, runPeer, runProgram } from '../support/c-client';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();
afterEach(killPeers);

const COUNT = 100000;
const CAPACITY = 1 << 16;

let program: string;
let shim: string;
beforeAll(() => {
  program = path.join(buildC(), 'fence_stress');
  shim = path.join(buildC(), 'membarrier_shim.so');
}, 120000);

async function startProducer(name: string, sequential: 0 | 1, count = COUNT, pauseNs = 4000): Promise<{ peer: Peer; fence: number }> {
  const peer = runProgram(program, ['producer', name, String(count), String(sequential), String(pauseNs)], {}, 'pipe');
  const ready = await peer.line((line) => line.ready || line.error);
  if (!ready.ready) throw new Error(`producer failed: ${peer.output()}`);
  return { peer, fence: ready.fence };
}

describe('which fence a producer publishes with', () => {
  it('the C producer asks for membarrier, unless told sequential_publish; inspect shows it', async () => {
    for (const sequential of [0, 1] as const) {
      const name = ringName(`fence-${sequential}`);
      const { peer, fence } = await startProducer(name, sequential);
      expect(fence).toBe(sequential ? 0 : 1);
      expect(readSnapshot(name).producer?.publishFence).toBe(sequential ? 'full' : 'membarrier');
      peer.process.kill('SIGKILL');
      await peer.exited;
    }
  });

  it('a TypeScript producer taking over a C producer\'s ring sets it back to full before its first publish', async () => {
    const name = ringName('fence-ts-takeover');
    const { peer } = await startProducer(name, 0);
    peer.process.kill('SIGKILL');
    await peer.exited;
    expect(readSnapshot(name).producer?.publishFence).toBe('membarrier');
    const producer = track(Producer.create(name, { capacity: CAPACITY }));
    const snapshot = readSnapshot(name);
    expect(snapshot.counters?.takeovers).toBe(1);
    expect(snapshot.producer?.publishFence).toBe('full');
    producer.close();
  });

  it('a C producer taking over a TypeScript producer\'s ring sets membarrier', async () => {
    const name = ringName('fence-c-takeover');
    // close=none: the TypeScript producer sends, then dies by SIGKILL without closing.
    const ts = runPeer('ts', 'send', name, { capacity: CAPACITY, max_consumers: 16, count: 3, lengths: '8', close: 'none' });
    expect((await ts.exited).signal).toBe('SIGKILL');
    expect(readSnapshot(name).producer?.publishFence).toBe('full');
    const { peer, fence } = await startProducer(name, 0);
    expect(fence).toBe(1);
    const snapshot = readSnapshot(name);
    expect(snapshot.counters?.takeovers).toBe(1);
    expect(snapshot.producer?.publishFence).toBe('membarrier');
    peer.process.kill('SIGKILL');
    await peer.exited;
  });
});

/** Where the membarrier shim (test/c/membarrier_shim.c) writes a consumer's count of membarrier calls. */
function shimEnv(refuse = false): { env: NodeJS.ProcessEnv; calls: () => number } {
  const file = path.join(os.tmpdir(), `shmring-membarrier-${process.pid}-${++shimRuns}`);
  const env: NodeJS.ProcessEnv = { LD_PRELOAD: shim, SHMRING_TEST_MEMBARRIER_COUNT: file };
  if (refuse) env.SHMRING_TEST_REFUSE_MEMBARRIER = '1';
  return {
    env,
    calls: () => {
      const count = Number(fs.readFileSync(file, 'utf8').split(' ')[0]);
      fs.rmSync(file, { force: true });
      return count;
    },
  };
}
let shimRuns = 0;

/** A TypeScript consumer (test/fixtures/c-peer.js recv) with an environment. */
function tsConsumer(name: string, options: Record<string, string | number>, env: NodeJS.ProcessEnv): Peer {
  const args = Object.entries(options).map(([key, value]) => `${key}=${value}`);
  return runProgram(process.execPath, [path.join(FIXTURES, 'c-peer.js'), 'recv', name, ...args], env);
}

describe('consumers that sleep between almost every message are always woken, and call membarrier only when asked', () => {
  const SLEEPY = { wait: 'sleep', check_ms: 600000 };
  const consumers: Array<[string, 0 | 1, (name: string, env: NodeJS.ProcessEnv) => Peer]> = [
    ['C', 0, (name, env) => runProgram(program, ['consumer', name], env)],
    ['C, producer with sequential_publish', 1, (name, env) => runProgram(program, ['consumer', name], env)],
    ['TypeScript receiveSync', 0, (name, env) => tsConsumer(name, { ...SLEEPY, timeout_ms: 600000 }, env)],
    ['TypeScript receiveSync, producer with sequential_publish', 1, (name, env) => tsConsumer(name, { ...SLEEPY, timeout_ms: 600000 }, env)],
    ['TypeScript event loop, waiter thread', 0, (name, env) => tsConsumer(name, { ...SLEEPY, wake: 'thread', quiet: 1 }, env)],
    ['TypeScript event loop, doorbell', 0, (name, env) => tsConsumer(name, { ...SLEEPY, wake: 'doorbell', quiet: 1 }, env)],
  ];

  it.each(consumers)('%s', async (_kind, sequential, startConsumer) => {
    const name = ringName('fence-traffic');
    const { peer: producer } = await startProducer(name, sequential);
    const { env, calls } = shimEnv();
    const consumer = startConsumer(name, env);
    await consumer.line((line) => line.joined || line.ready || line.error);
    producer.process.stdin!.end('go\n');
    const sent = await finished(producer, 60000);
    const received = await finished(consumer, 60000);
    expect(sent).toMatchObject({ sent: COUNT });
    expect(received.received).toBe(COUNT);
    for (const key of ['lost', 'gaps', 'dups', 'bad'] as const) if (key in received) expect(received[key]).toBe(0);
    if ('status' in received) expect(received.status).toBe('END');
    // The consumer did sleep and was woken (how often depends on the machine's load: not a number to assert).
    expect(sent.wakes).toBeGreaterThan(0);
    // A membarrier per fenced sleep on the C producer's ring, none when it publishes with a full barrier.
    if (sequential) expect(calls()).toBe(0);
    else expect(calls()).toBeGreaterThan(0);
  }, 150000);
});

describe('a consumer whose membarrier is refused polls instead of trusting the wake', () => {
  // The lost wake is made deterministic: a TypeScript producer's ring is marked MEMBARRIER (what a C producer
  // says), the consumer's announcement is withdrawn once it is asleep (DATA_WAITERS = 0: what a producer's
  // unfenced load could have read), then one message is sent, which wakes nobody. With membarrier refused
  // (the shim), the consumer must find it by its 10 ms poll; its producer check is 10 minutes away.
  const consumers: Array<[string, (name: string, env: NodeJS.ProcessEnv) => Peer]> = [
    ['C', (name, env) => runProgram(program, ['consumer', name, '1'], env)],
    ['TypeScript receiveSync', (name, env) => tsConsumer(name, { wait: 'sleep', check_ms: 600000, timeout_ms: 600000, count: 1 }, env)],
    ['TypeScript event loop, waiter thread', (name, env) => tsConsumer(name, { wait: 'sleep', check_ms: 600000, wake: 'thread' }, env)],
    ['TypeScript event loop, doorbell', (name, env) => tsConsumer(name, { wait: 'sleep', check_ms: 600000, wake: 'doorbell' }, env)],
  ];

  it.each(consumers)('%s', async (_kind, startConsumer) => {
    const name = ringName('fence-refused');
    const producer = track(Producer.create(name, { capacity: CAPACITY }));
    const segment = Segment.open(name);
    try {
      const control = new Int32Array(segment.map(), 0, L.controlLength(16) / 4);
      Atomics.store(control, L.PRODUCER_PUBLISH_FENCE_OFFSET / 4, L.PublishFence.MEMBARRIER);
      const { env, calls } = shimEnv(true);
      const consumer = startConsumer(name, env);
      await consumer.line((line) => line.joined || line.ready || line.error);
      await untilAsleep(name);
      Atomics.store(control, L.DATA_WAITERS_OFFSET / 4, 0);
      producer.sendBytes(Uint8Array.from({ length: 8 }, (_, i) => i)); // sequence 0: byte i is (7 * 0 + i)
      await consumer.line((line) => line.received === 1 || line.done || line.error, 60000);
      producer.close();
      const result = await finished(consumer, 60000);
      expect(result.received).toBe(1);
      for (const key of ['bad', 'gaps'] as const) if (key in result) expect(result[key]).toBe(0);
      expect(calls()).toBeGreaterThan(0);
    } finally {
      segment.close();
    }
  }, 150000);
});

it('a Selector over several C producers\' rings sleeps on all of them and is woken for every message', async () => {
  const names = [0, 1, 2].map((i) => ringName(`fence-selector-${i}`));
  // Slower producers (0-200 µs apart), so that the selector, slower than a C consumer, runs dry and sleeps.
  const perRing = 5000;
  const producers = await Promise.all(names.map((name) => startProducer(name, 0, perRing, 200000)));
  const selector = new Selector({ checkIntervalMs: 600000, consumer: { wait: 'sleep' } });
  try {
    for (const name of names) selector.add(name);
    const counts = new Map<string, number>(names.map((name) => [name, 0]));
    const removed: string[] = [];
    const done = new Promise<void>((resolve) => {
      selector.on('ring-removed', (ring, reason) => {
        removed.push(`${ring}:${reason}`);
        if (removed.length === names.length) resolve();
      });
    });
    selector.on('message', (_value, ring) => counts.set(ring, counts.get(ring)! + 1));
    for (const { peer } of producers) peer.process.stdin!.end('go\n');
    const sent = await Promise.all(producers.map(({ peer }) => finished(peer, 60000)));
    await within(done, 60000, 'every ring closed and drained');
    expect(removed.sort()).toEqual(names.map((name) => `${name}:closed`).sort());
    for (const name of names) expect(counts.get(name)).toBe(perRing);
    // The selector slept and was woken (how often depends on the machine's load).
    expect(sent.reduce((total, line) => total + line.wakes, 0)).toBeGreaterThan(0);
    expect(selector.stats.wakeups).toBeGreaterThan(0);
  } finally {
    selector.close();
  }
}, 150000);
