/**
 * Doorbells (docs/protocol.md, "Doorbells"): a consumer sleeping in an event loop in another process is
 * woken by a one-byte write to its own FIFO, written by the producer only while that consumer sleeps, and
 * no FIFO outlives its consumer (close, kill -9 then reclaim, `shmring gc`). Real processes, real FIFOs
 * in /dev/shm; the other-user checks run as `nobody` (the suite runs as root).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Consumer, Producer } from '../../src';
import * as L from '../../src/ring/layout';
import { BELL_GRACE_MS } from '../../src/ring/bells';
import { Child, runFixture, within, sleep } from '../support/children';
import { uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';
import { NOBODY, nobodyUnavailable } from '../support/nobody';

const FIXTURE = 'bell-consumer.js';
const CLI = path.join(__dirname, '..', '..', 'dist', 'cli', 'main.js');
const rings = trackRings();

/** The SLOT_DOORBELL word and the slot index of the consumer `pid` in ring `name` (read from /dev/shm). */
function slotOf(name: string, pid: number): { slot: number; doorbell: number } | undefined {
  const fd = fs.openSync(`/dev/shm${name}`, 'r');
  try {
    const header = Buffer.alloc(4);
    fs.readSync(fd, header, 0, 4, L.MAX_CONSUMERS_OFFSET);
    const slots = header.readUInt32LE(0);
    const slot = Buffer.alloc(L.SLOT_LENGTH);
    for (let index = 0; index < slots; index++) {
      fs.readSync(fd, slot, 0, L.SLOT_LENGTH, L.slotOffset(index));
      if (slot.readInt32LE(L.SLOT_PID_OFFSET) === pid) return { slot: index, doorbell: slot.readInt32LE(L.SLOT_DOORBELL_OFFSET) };
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

function ringIdOf(name: string): string {
  const fd = fs.openSync(`/dev/shm${name}`, 'r');
  try {
    const id = Buffer.alloc(L.RING_ID_LENGTH);
    fs.readSync(fd, id, 0, L.RING_ID_LENGTH, L.RING_ID_OFFSET);
    return id.toString('hex');
  } finally {
    fs.closeSync(fd);
  }
}

/** Removes every doorbell of ring `name` in teardown (children killed by the teardown leave theirs). */
function cleanBellsAfter(name: string): void {
  const prefix = `.shmring-bell-${ringIdOf(name)}-`;
  rings.onTeardown(() => {
    for (const file of fs.readdirSync('/dev/shm').filter((f) => f.startsWith(prefix))) fs.rmSync(`/dev/shm/${file}`, { force: true });
  });
}

function bellPathOf(name: string, slot: number): string {
  return `/dev/shm/.shmring-bell-${ringIdOf(name)}-${slot}`;
}

/** Polls `condition` until it holds (bounded): the event being waited for is in another process. */
async function until<T>(condition: () => T | undefined | false, what: string, child?: Child, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = condition();
    if (value) return value;
    if (Date.now() > deadline) {
      const output = child ? await Promise.race([child.exited, sleep(100).then(() => undefined)]) : undefined;
      throw new Error(`${what}: not within ${timeoutMs} ms${output ? `; child stdout: ${output.stdout} stderr: ${output.stderr}` : ''}`);
    }
    await sleep(5);
  }
}

/** Waits until the consumer `pid` sleeps on its doorbell; returns its slot and bell path. */
async function sleepingOnBell(name: string, pid: number, child: Child): Promise<{ slot: number; bell: string }> {
  const found = await until(() => {
    const slot = slotOf(name, pid);
    return slot && (slot.doorbell & L.SLOT_BELL_SLEEPING) !== 0 ? slot : undefined;
  }, `consumer ${pid} sleeping on its doorbell`, child);
  expect(found.doorbell & L.SLOT_BELL_PRESENT).toBe(L.SLOT_BELL_PRESENT);
  return { slot: found.slot, bell: bellPathOf(name, found.slot) };
}

function startConsumer(name: string, wake: 'doorbell' | 'thread', pauseAfter = 0, user?: number, quiet = false): Child {
  return runFixture(FIXTURE, [name, wake, String(pauseAfter), ...(quiet ? ['quiet'] : [])], user === undefined ? {} : { uid: user, gid: user });
}

describe('doorbells', () => {
  it('wake a consumer sleeping in the event loop of another process, one doorbell write per sleep', async () => {
    const name = rings.ringName('bell-wake');
    const producer = rings.track(Producer.create(name));
    cleanBellsAfter(name);
    const child = startConsumer(name, 'doorbell');
    const { pid } = await child.waitForLine((m) => m.ready);
    for (let round = 1; round <= 5; round++) {
      const { bell } = await sleepingOnBell(name, pid, child);
      expect(fs.lstatSync(bell).isFIFO()).toBe(true);
      producer.send(`m${round}`);
      await child.waitForLine((m) => m.received === round);
      expect(producer.stats.bellsRung).toBe(round);
    }
    producer.send('close');
    await child.waitForLine((m) => m.closed);
    expect(fs.readdirSync('/dev/shm').filter((f) => f.startsWith(`.shmring-bell-${ringIdOf(name)}-`))).toEqual([]);
    const { code, stdout, stderr } = await within(child.exited, 15000, 'consumer exit');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toContain('"received":5');
  });

  it("with wake: 'thread' makes no FIFO and rings no doorbell (the futex path)", async () => {
    const name = rings.ringName('bell-thread');
    const producer = rings.track(Producer.create(name));
    cleanBellsAfter(name);
    const child = startConsumer(name, 'thread');
    const { pid } = await child.waitForLine((m) => m.ready);
    // The futex sleep announces itself with DATA_WAITERS only; wait for that.
    await until(() => {
      const fd = fs.openSync(`/dev/shm${name}`, 'r');
      try {
        const word = Buffer.alloc(4);
        fs.readSync(fd, word, 0, 4, L.DATA_WAITERS_OFFSET);
        return word.readInt32LE(0) === 1;
      } finally {
        fs.closeSync(fd);
      }
    }, 'consumer asleep on the futex', child);
    producer.send('hello');
    await child.waitForLine((m) => m.received === 1);
    expect(producer.stats.bellsRung).toBe(0);
    expect(producer.stats.wakesSent).toBeGreaterThanOrEqual(1);
    expect(slotOf(name, pid)?.doorbell).toBe(0);
    expect(fs.readdirSync('/dev/shm').filter((f) => f.startsWith(`.shmring-bell-${ringIdOf(name)}-`))).toEqual([]);
  });

  it('are not written while nobody sleeps: a paused consumer costs the producer no doorbell write and no wake', async () => {
    const name = rings.ringName('bell-quiet');
    const producer = rings.track(Producer.create(name, { capacity: 1 << 16 }));
    cleanBellsAfter(name);
    const child = startConsumer(name, 'doorbell', 1);
    const { pid } = await child.waitForLine((m) => m.ready);
    const { bell } = await sleepingOnBell(name, pid, child);
    producer.send('first');
    await child.waitForLine((m) => m.paused);
    const before = producer.stats;
    expect(before.bellsRung).toBe(1);
    // The consumer holds a doorbell but does not sleep: 1000 sends (tethered: it holds 1000 × 32 B) ring nothing,
    // and make one futex wake only: the publish after one that took an announcement wakes again
    // (docs/protocol.md, "Sleeping and waking"), and a bell is rung only for a slot marked SLEEPING.
    for (let i = 0; i < 1000; i++) expect(producer.sendBytes(Uint8Array.of(i & 0xff))).toBe(true);
    expect(producer.stats.bellsRung).toBe(before.bellsRung);
    expect(producer.stats.wakesSent).toBe(before.wakesSent + 1);
    expect(slotOf(name, pid)!.doorbell).toBe(L.SLOT_BELL_PRESENT);
    expect(fs.lstatSync(bell).isFIFO()).toBe(true);
  });

  it('deliver every message in order under load, with at most one doorbell write per futex wake', async () => {
    const name = rings.ringName('bell-load');
    const producer = rings.track(Producer.create(name, { capacity: 1 << 16 }));
    cleanBellsAfter(name);
    const child = startConsumer(name, 'doorbell', 0, undefined, true);
    await child.waitForLine((m) => m.ready);
    const total = 100_000;
    // Bursts with a turn of the event loop between them: the consumer alternates between reading and sleeping.
    for (let i = 0; i < total; i++) {
      if (!producer.send(i)) await producer.sendAsync(i, { timeout: 20000 });
      if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
    }
    await producer.sendAsync('close', { timeout: 20000 });
    const done = await child.waitForLine((m) => m.closed, 30000);
    expect(done).toEqual({ closed: true, received: total + 1, inOrder: true });
    const { bellsRung, wakesSent } = producer.stats;
    expect(bellsRung).toBeLessThanOrEqual(wakesSent);
  });

  it('do not keep a consumer asleep after its producer is killed: PRODUCER_DIED comes from the exit watcher, and the FIFO goes on close', async () => {
    const name = rings.ringName('bell-producer-died');
    const producerChild = runFixture('ring-producer.js', [name, '0', 'hold']);
    await producerChild.waitForLine((m) => m.ready);
    cleanBellsAfter(name);
    // producerCheckIntervalMs 60 s: a prompt PRODUCER_DIED can only come from the exit watcher cancelling the bell wait.
    const consumer = rings.track(Consumer.open(name, { wake: 'doorbell', producerCheckIntervalMs: 60000 }));
    const failed = new Promise<{ code?: string }>((resolve) => consumer.on('error', resolve));
    consumer.on('message', () => undefined);
    const { bell } = await sleepingOnBell(name, process.pid, producerChild);
    producerChild.process.kill('SIGKILL');
    expect(await within(failed, 10000, 'PRODUCER_DIED')).toMatchObject({ code: 'PRODUCER_DIED' });
    expect(fs.existsSync(bell)).toBe(true);
    consumer.close();
    expect(fs.existsSync(bell)).toBe(false);
  });

  it('leave no FIFO behind after kill -9 of a sleeping consumer, once its slot is reclaimed', async () => {
    const name = rings.ringName('bell-kill');
    const producer = rings.track(Producer.create(name, { livenessIntervalMs: 100 }));
    cleanBellsAfter(name);
    const child = startConsumer(name, 'doorbell');
    const { pid } = await child.waitForLine((m) => m.ready);
    const { bell } = await sleepingOnBell(name, pid, child);
    child.process.kill('SIGKILL');
    const exit = await within(child.exited, 15000, 'consumer exit');
    expect(exit.signal).toBe('SIGKILL');
    // (The killed consumer could not remove its bell; the producer's liveness timer may already have
    // reclaimed the slot, and the bell with it, by now: no assertion on that instant.)
    // Its SLEEPING bit may still be set: the producer's ring then finds no reader and must not fail.
    expect(producer.send('after the kill')).toBe(true);
    await until(() => !fs.existsSync(bell), 'the reclaim to remove the doorbell');
    expect(producer.stats.consumersReclaimed).toBeGreaterThanOrEqual(1);
  });

  it('orphaned by a ring that went away with its consumer are removed by `shmring gc`, live ones kept', async () => {
    // One prefix for both rings, given to gc: a wider one would remove other tests' dead or damaged rings.
    const prefix = `${uniqueName('bell-gc')}.`;
    const orphanRing = rings.trackName(`${prefix}orphan`);
    const liveRing = rings.trackName(`${prefix}live`);
    const orphanProducer = rings.track(Producer.create(orphanRing, { livenessIntervalMs: 3_600_000 })); // no reclaim
    cleanBellsAfter(orphanRing);
    const liveProducer = rings.track(Producer.create(liveRing));
    cleanBellsAfter(liveRing);
    const orphanChild = startConsumer(orphanRing, 'doorbell');
    const liveChild = startConsumer(liveRing, 'doorbell');
    const orphanPid = (await orphanChild.waitForLine((m) => m.ready)).pid;
    const livePid = (await liveChild.waitForLine((m) => m.ready)).pid;
    const orphan = (await sleepingOnBell(orphanRing, orphanPid, orphanChild)).bell;
    const live = (await sleepingOnBell(liveRing, livePid, liveChild)).bell;
    orphanChild.process.kill('SIGKILL');
    await within(orphanChild.exited, 15000, 'consumer exit');
    orphanProducer.close(); // unlinks the ring: no reclaim will ever see that slot again
    expect(fs.existsSync(orphan)).toBe(true);
    // gc spares bells younger than BELL_GRACE_MS (their consumer may be between mkfifo and open).
    await until(() => Date.now() - fs.lstatSync(orphan).ctimeMs > BELL_GRACE_MS + 100, 'the orphan to age', undefined, BELL_GRACE_MS + 5000);
    await until(() => Date.now() - fs.lstatSync(live).ctimeMs > BELL_GRACE_MS + 100, 'the live bell to age', undefined, BELL_GRACE_MS + 5000);
    const gc = spawnSync(process.execPath, [CLI, 'gc', '--prefix', prefix, '--json'], { encoding: 'utf8', timeout: 20000 });
    expect({ status: gc.status, stderr: gc.stderr }).toEqual({ status: 0, stderr: '' });
    const report = JSON.parse(gc.stdout) as { bellsRemoved: string[] };
    // Another test's gc, running beside this one, may have swept the orphan first (bells carry no ring
    // name, so every gc sweeps them whatever its prefix): what must hold is that it is gone.
    expect(report.bellsRemoved.includes(orphan) || !fs.existsSync(orphan)).toBe(true);
    expect(report.bellsRemoved).not.toContain(live);
    expect(fs.existsSync(orphan)).toBe(false);
    expect(fs.existsSync(live)).toBe(true);
    // The live consumer still hears its bell.
    liveProducer.send('still ringing');
    await liveChild.waitForLine((m) => m.received === 1);
  });
});

const skipReason = nobodyUnavailable(FIXTURE);
if (skipReason) console.warn(`wake/doorbell: skipping the test that runs as nobody: ${skipReason}`);
const itAsNobody = skipReason ? it.skip : it;

describe('doorbells of a consumer of another user', () => {
  itAsNobody("are never wider than the ring's mode, carry the ring's group, and are rung by the producer", async () => {
    const name = rings.ringName('bell-nobody');
    // 0o640 would leave nobody read-only (no slot, no bell): the group may read and write.
    const producer = rings.track(Producer.create(name, { mode: 0o660, gid: NOBODY }));
    cleanBellsAfter(name);
    const child = startConsumer(name, 'doorbell', 0, NOBODY);
    const { pid } = await child.waitForLine((m) => m.ready);
    const { bell } = await sleepingOnBell(name, pid, child);
    const stat = fs.lstatSync(bell);
    expect(stat.isFIFO()).toBe(true);
    expect(stat.mode & 0o7777 & ~0o660).toBe(0);
    expect({ uid: stat.uid, gid: stat.gid }).toEqual({ uid: NOBODY, gid: NOBODY });
    producer.send('to nobody');
    await child.waitForLine((m) => m.received === 1);
    expect(producer.stats.bellsRung).toBe(1);
  });

  itAsNobody('are no wider than a ring of mode 0o600 shared by nothing but its owner, even when the consumer is the owner', async () => {
    const name = rings.ringName('bell-private');
    const producer = rings.track(Producer.create(name, { mode: 0o600 }));
    cleanBellsAfter(name);
    const child = startConsumer(name, 'doorbell');
    const { pid } = await child.waitForLine((m) => m.ready);
    const { bell } = await sleepingOnBell(name, pid, child);
    expect(fs.lstatSync(bell).mode & 0o7777).toBe(0o600);
    // Another user can neither ring it nor listen to it.
    const ring = spawnSync(process.execPath, ['-e', `require('fs').openSync(${JSON.stringify(bell)}, require('fs').constants.O_WRONLY | require('fs').constants.O_NONBLOCK)`], {
      uid: NOBODY,
      gid: NOBODY,
      timeout: 10000,
      encoding: 'utf8',
    });
    expect(ring.status).not.toBe(0);
    expect(ring.stderr).toContain('EACCES');
    producer.send('close');
    await child.waitForLine((m) => m.closed);
    expect(fs.existsSync(bell)).toBe(false);
  });
});
