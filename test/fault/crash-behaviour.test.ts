/**
 * What each kind of crash does, one at a time, with real processes and real signals (docs/crashes.md
 * describes the same cases and quotes the figures these tests print):
 *   - producer killed: consumers get every committed message, then PRODUCER_DIED;
 *   - producer killed between claim and commit: the partial record is never delivered, never blocks;
 *   - consumer stopped (SIGSTOP): not dead, holds the producer; SIGCONT and it catches up;
 *   - consumer killed while asleep: its slot is reclaimed and it is uncounted from DATA_WAITERS;
 *   - segment left behind: taken over, replaced, or removed by `shmring gc`;
 *   - graceful shutdown on SIGINT/SIGTERM: everything read, exit 0, nothing left in /dev/shm;
 *   - pid reuse, stopped and zombie processes in src/core/liveness.ts.
 */
import { execFileSync, spawn } from 'child_process';
import * as path from 'path';
import { Consumer, Producer } from '../../src';
import { currentProcess, isProcessStopped, liveness, readProcessStat } from '../../src/core/liveness';
import { DATA_WAITERS_CI32 } from '../../src/ring/memory';
import { readSnapshot } from '../../src/ring/snapshot';
import { Child, linesOf, runFixture, sleep, within } from '../support/children';
import { removeSegment, segmentExists } from '../support/names';
import { trackRings } from '../support/teardown';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const record = require('../fixtures/fault-record.js');

const { ringName, track, trackPid } = trackRings();

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(2);
  }
}

/** The producer's stall count, read from the ring (as `shmring inspect` does). */
function producerStalls(name: string): number {
  return readSnapshot(name).counters?.producerStalls ?? 0;
}

function producerChild(name: string, args: object = {}): Child {
  return runFixture('fault-producer.js', [JSON.stringify({ name, gen: 1, seed: 7, capacity: 8192, livenessIntervalMs: 50, ...args })]);
}

function consumerChild(name: string, args: object = {}): Child {
  return runFixture('fault-consumer.js', [JSON.stringify({ name, ...args })]);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

describe('producer killed', () => {
  it('consumers get every message committed before the kill, then PRODUCER_DIED (noticed through the pidfd, not by polling)', async () => {
    const detectionMs: number[] = [];
    for (let round = 0; round < 4; round++) {
      const name = ringName('producer-died');
      const producer = producerChild(name, { count: 3000, startOnSignal: true });
      await producer.waitForLine((m) => m.ready || m.error);
      // producerCheckIntervalMs 60 s: a prompt PRODUCER_DIED can only come from the exit watcher.
      const consumers = [consumerChild(name, { producerCheckIntervalMs: 60000 }), consumerChild(name, { producerCheckIntervalMs: 60000 })];
      for (const consumer of consumers) await consumer.waitForLine((m) => m.ready);
      producer.process.kill('SIGUSR2');
      const sentAll = await producer.waitForLine((m) => m.sentAll || m.error);
      // Killed at once: the consumers may still be reading what was committed; they must get all of it.
      const killedAt = Date.now();
      producer.process.kill('SIGKILL');
      for (const consumer of consumers) {
        const run = await within(consumer.exited, 10000, 'consumer exit');
        const lines = linesOf(run.stdout);
        expect(lines.filter((m) => m.violation)).toEqual([]);
        const end = lines.find((m) => m.error);
        expect(end).toMatchObject({ error: { code: 'PRODUCER_DIED' }, last: sentAll.last, lost: 0 });
        detectionMs.push(end.t - killedAt);
      }
      removeSegment(name);
    }
    console.log(`producer kill -9 -> consumer throws PRODUCER_DIED: median ${median(detectionMs)} ms, max ${Math.max(...detectionMs)} ms (n=${detectionMs.length}, producerCheckIntervalMs 60000)`);
  });

  it('with waitForRestartMs and no restart, consumers end with PRODUCER_DIED once the wait is over', async () => {
    const name = ringName('restart-wait');
    const producer = producerChild(name, { count: 100, startOnSignal: true });
    await producer.waitForLine((m) => m.ready);
    const consumer = consumerChild(name, { waitForRestartMs: 400, producerCheckIntervalMs: 50 });
    await consumer.waitForLine((m) => m.ready);
    producer.process.kill('SIGUSR2');
    await producer.waitForLine((m) => m.sentAll);
    const killedAt = Date.now();
    producer.process.kill('SIGKILL');
    const run = await within(consumer.exited, 10000, 'consumer exit');
    const end = linesOf(run.stdout).find((m) => m.error);
    expect(end.error.code).toBe('PRODUCER_DIED');
    expect(end.t - killedAt).toBeGreaterThanOrEqual(400);
  });

  it('a record whose writer was killed between claim and commit is never delivered and never blocks the ring', async () => {
    const name = ringName('mid-claim');
    const producer = producerChild(name, { count: 500, hangInClaim: true, startOnSignal: true });
    await producer.waitForLine((m) => m.ready);
    const witness = consumerChild(name, { producerCheckIntervalMs: 60000 });
    await witness.waitForLine((m) => m.ready);
    producer.process.kill('SIGUSR2');
    const inClaim = await producer.waitForLine((m) => m.inClaim !== undefined || m.error);
    producer.process.kill('SIGKILL');
    const witnessRun = await within(witness.exited, 10000, 'witness exit');
    const witnessEnd = linesOf(witnessRun.stdout).find((m) => m.error);
    expect(witnessEnd).toMatchObject({ error: { code: 'PRODUCER_DIED' }, last: inClaim.inClaim - 1 });

    // A consumer that joins the dead ring waits for a restart; the restarted producer takes over, writes
    // over the abandoned claim, and runs many laps of the 8 KiB ring.
    const follower = consumerChild(name, { waitForRestartMs: 20000, producerCheckIntervalMs: 50 });
    await follower.waitForLine((m) => m.ready);
    const restarted = producerChild(name, { gen: 2, count: 3000 });
    // (The follower is already in: the restarted producer may start at once.)
    const ready = await restarted.waitForLine((m) => m.ready || m.error);
    expect(ready).toMatchObject({ tookOver: true, start: inClaim.inClaim });
    const sentAll = await restarted.waitForLine((m) => m.sentAll || m.error);
    restarted.process.kill('SIGTERM');
    expect((await within(restarted.exited, 10000, 'producer exit')).code).toBe(0);
    const run = await within(follower.exited, 10000, 'follower exit');
    const lines = linesOf(run.stdout);
    expect(lines.filter((m) => m.violation || m.error)).toEqual([]);
    expect(lines.find((m) => m.gens).gens).toEqual([[2, inClaim.inClaim, sentAll.last]]);
    expect(lines.find((m) => m.done)).toMatchObject({ reason: 'end', last: sentAll.last, lost: 0 });
    expect(segmentExists(name)).toBe(false);
  });
});

describe('consumer stopped or killed', () => {
  it('a stopped (SIGSTOP) tethered consumer is not declared dead: the producer waits; after SIGCONT it catches up with nothing lost', async () => {
    const name = ringName('stopped');
    const producer = producerChild(name, { livenessIntervalMs: 50, claimsOnly: true });
    await producer.waitForLine((m) => m.ready);
    const consumer = consumerChild(name);
    await consumer.waitForLine((m) => m.ready);
    await consumer.waitForLine((m) => m.progress > 1000);
    const stoppedAt = Date.now();
    consumer.process.kill('SIGSTOP');
    await until(() => isProcessStopped(consumer.process.pid!), 5000, 'consumer stopped');
    // The producer, held back by the stopped consumer, retries its claim (claimsOnly: every >= 20 ms,
    // each retry a stall counted in the ring) and checks the consumer's liveness at most every 50 ms:
    // wait until it has stalled 60 more times, i.e. checked the stopped consumer 20 times or more, and
    // kept waiting for it.
    const stallsAtStop = producerStalls(name);
    await until(() => producerStalls(name) >= stallsAtStop + 60, 30000, 'the producer to stall 60 times on the stopped consumer');
    consumer.process.kill('SIGCONT');
    const resumedAt = Date.now();
    await consumer.waitForLine((m) => m.progress !== undefined && m.t >= resumedAt, 10000);
    await producer.waitForLine((m) => m.committed !== undefined && m.t >= resumedAt, 10000);
    producer.process.kill('SIGTERM');
    const producerRun = await within(producer.exited, 10000, 'producer exit');
    const producerLines = linesOf(producerRun.stdout);
    expect(producerLines.filter((m) => m.reclaimed !== undefined)).toEqual([]);
    // While the consumer was stopped, the producer committed at most one ring's worth (8 KiB).
    const committedWhileStopped = producerLines.filter((m) => m.committed !== undefined && m.t > stoppedAt + 100 && m.t < resumedAt);
    expect(committedWhileStopped.length).toBeLessThanOrEqual(1);
    const closed = producerLines.find((m) => m.closed);
    const run = await within(consumer.exited, 10000, 'consumer exit');
    const lines = linesOf(run.stdout);
    expect(lines.filter((m) => m.violation || m.error)).toEqual([]);
    expect(lines.find((m) => m.done)).toMatchObject({ reason: 'end', last: closed.last, lost: 0 });
  });

  it('a consumer killed while asleep costs two spare wakes, not a futex wake per publish, and its slot is reclaimed', async () => {
    const name = ringName('sleeper');
    const producer = track(Producer.create(name, { capacity: 4096, livenessIntervalMs: 20 }));
    const words = (producer as unknown as { memory: { consumerI32: Int32Array } }).memory.consumerI32;
    const consumer = consumerChild(name, { wait: 'sleep', producerCheckIntervalMs: 60000 });
    await consumer.waitForLine((m) => m.ready);
    await until(() => Atomics.load(words, DATA_WAITERS_CI32) === 1, 5000, 'consumer asleep');
    consumer.process.kill('SIGKILL');
    await within(consumer.exited, 10000, 'consumer exit');

    // Its sleep flag is still set: the next publish makes one futex wake for a sleeper that no longer
    // exists, and clears the flag.
    let wakes = producer.stats.wakesSent;
    expect(producer.sendBytes(record.encode(0, 1, 100))).toBe(true);
    expect(producer.stats.wakesSent).toBe(wakes + 1);
    expect(Atomics.load(words, DATA_WAITERS_CI32)).toBe(0);
    // Its tethered slot fills the ring; the producer reclaims it and carries on, with one more wake only:
    // the publish after one that took an announcement wakes again (docs/protocol.md, "Sleeping and waking").
    wakes = producer.stats.wakesSent;
    for (let i = 1; i < 1200; i++) expect(producer.sendBytes(record.encode(i, 1, 100))).toBe(true);
    expect(producer.stats.consumersReclaimed).toBe(1);
    expect(producer.stats.wakesSent).toBe(wakes + 1);
  });
});

describe('a segment left behind', () => {
  it('is taken over by the next Producer.create (same geometry), replaced (other geometry), or removed by `shmring gc`', async () => {
    const name = ringName('left-behind');
    const first = producerChild(name, { count: 100 });
    await first.waitForLine((m) => m.sentAll);
    first.process.kill('SIGKILL');
    await within(first.exited, 10000, 'producer exit');
    expect(segmentExists(name)).toBe(true);

    const takeover = Producer.create(name, { capacity: 8192, maxConsumers: 8 });
    expect(takeover.tookOver).toBe(true);
    takeover.close(); // unlinks
    expect(segmentExists(name)).toBe(false);

    const second = producerChild(name, { count: 100 });
    await second.waitForLine((m) => m.sentAll);
    second.process.kill('SIGKILL');
    await within(second.exited, 10000, 'producer exit');
    const replaced = track(Producer.create(name, { capacity: 16384 }));
    expect(replaced.tookOver).toBe(false);
    expect(replaced.capacity).toBe(16384);
    replaced.close();

    const third = producerChild(name, { count: 100 });
    await third.waitForLine((m) => m.sentAll);
    third.process.kill('SIGKILL');
    await within(third.exited, 10000, 'producer exit');
    expect(segmentExists(name)).toBe(true);
    const cli = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
    execFileSync(process.execPath, [cli, 'gc', '--prefix', name, '--json'], { encoding: 'utf8', timeout: 15000 });
    expect(segmentExists(name)).toBe(false);
  });
});

describe('graceful shutdown', () => {
  it('SIGINT to the producer: it closes (END, unlink) and exits 0; the consumer reads everything, ends, exits 0; nothing is left', async () => {
    const name = ringName('sigint');
    const producer = producerChild(name);
    await producer.waitForLine((m) => m.ready);
    const consumer = consumerChild(name);
    await consumer.waitForLine((m) => m.ready);
    await consumer.waitForLine((m) => m.progress > 2000);
    producer.process.kill('SIGINT');
    const producerRun = await within(producer.exited, 10000, 'producer exit');
    expect(producerRun.code).toBe(0);
    const closed = linesOf(producerRun.stdout).find((m) => m.closed);
    const run = await within(consumer.exited, 10000, 'consumer exit');
    expect(run.code).toBe(0);
    const lines = linesOf(run.stdout);
    expect(lines.filter((m) => m.violation || m.error)).toEqual([]);
    expect(lines.find((m) => m.done)).toMatchObject({ reason: 'end', last: closed.last, lost: 0 });
    expect(segmentExists(name)).toBe(false);
  });

  it('SIGTERM to a consumer: it drains and leaves its slot (the producer is not held back); then SIGTERM to the producer', async () => {
    const name = ringName('sigterm');
    const producer = producerChild(name);
    await producer.waitForLine((m) => m.ready);
    const consumer = consumerChild(name);
    await consumer.waitForLine((m) => m.ready);
    await consumer.waitForLine((m) => m.progress > 2000);
    consumer.process.kill('SIGTERM');
    const run = await within(consumer.exited, 10000, 'consumer exit');
    expect(run.code).toBe(0);
    const lines = linesOf(run.stdout);
    expect(lines.filter((m) => m.violation || m.error)).toEqual([]);
    expect(lines.find((m) => m.done)).toMatchObject({ reason: 'signal', lost: 0 });
    const leftAt = Date.now();
    // The slot was released, not reclaimed: the producer goes on at once.
    const after = await producer.waitForLine((m) => m.committed !== undefined && m.t > leftAt + 50, 10000);
    expect(after.committed).toBeGreaterThan(lines.find((m) => m.done).last);
    producer.process.kill('SIGTERM');
    const producerRun = await within(producer.exited, 10000, 'producer exit');
    expect(producerRun.code).toBe(0);
    expect(linesOf(producerRun.stdout).filter((m) => m.reclaimed !== undefined)).toEqual([]);
    expect(segmentExists(name)).toBe(false);
  });
});

describe('liveness (src/core/liveness.ts)', () => {
  it('a pid reused by another process is not mistaken for the old one: same pid, other start time, is dead', () => {
    const me = currentProcess();
    expect(me.startTime).toBeGreaterThan(0);
    expect(liveness(me)).toBe('alive');
    expect(liveness({ ...me, startTime: me.startTime + 1 })).toBe('dead');
    expect(liveness({ ...me, startTime: me.startTime - 1 })).toBe('dead');
  });

  it('a process in another pid namespace is unknown, never dead', () => {
    const me = currentProcess();
    expect(liveness({ pid: 999999, startTime: 1, pidNamespace: me.pidNamespace + 1 })).toBe('unknown');
  });

  it('a stopped process is alive; an exited one and a zombie are dead', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    trackPid(child.pid!);
    const identity = { pid: child.pid!, startTime: readProcessStat(child.pid!)!.startTime, pidNamespace: currentProcess().pidNamespace };
    process.kill(child.pid!, 'SIGSTOP');
    await until(() => isProcessStopped(child.pid!), 5000, 'child stopped');
    expect(liveness(identity)).toBe('alive');
    process.kill(child.pid!, 'SIGCONT');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(liveness(identity)).toBe('dead');

    // A zombie: `sh` forks a child that exits, then execs into `sleep`, which never reaps it. The child
    // lives a moment first, so that the shell has exec'd (and can no longer reap it) when it exits.
    const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    trackPid(parent.pid!);
    const zombiePid = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d) => resolve(String(d)))));
    await until(() => readProcessStat(zombiePid)?.state === 'Z', 5000, 'zombie');
    expect(liveness({ pid: zombiePid, startTime: 0, pidNamespace: 0 })).toBe('dead');
  });
});

// Keep the import used when the file is type-checked on its own.
void Consumer;
