/**
 * Doorbells (src/ring/bells.ts, docs/protocol.md "Doorbells"), in this process so that mutation testing
 * sees them (test/wake/doorbell.test.ts runs its consumers in other processes). Written against mutants of
 * bells.ts that the in-process suite did not notice (docs/testing.md, "Mutation testing"):
 *   - a consumer with wake: 'doorbell' asleep in receive() is woken by its bell: one bell write per sleep,
 *     none while it does not sleep; its FIFO exists while it holds the slot and goes with close();
 *   - close() during a sleep on the bell ends it as close() promises (a pending receive() resolves undefined);
 *   - the producer rings a slot that changed hands through the new FIFO, counts no ring for a slot
 *     without one, and keeps no bell open after close();
 *   - freeing a slot's bell (a reclaim) clears its word and removes its FIFO;
 *   - gc's sweep removes a bell nobody holds open once it is older than BELL_GRACE_MS, keeps a live one, a
 *     young one and anything that is not a FIFO.
 */
import { execFileSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import { Consumer, Producer } from '../../src';
import * as L from '../../src/ring/layout';
import { RingMemory } from '../../src/ring/memory';
import { BELL_GRACE_MS, BELL_NAME_PREFIX, BellRinger, bellPath, isBellName, removeSlotBell, SlotBell, sweepOrphanBells } from '../../src/ring/bells';
import { trackRings } from '../support/teardown';

const { ringName, track, onTeardown } = trackRings();

function internals(consumer: Consumer): { memory: RingMemory; slot: number } {
  return consumer as unknown as { memory: RingMemory; slot: number };
}

function bellWord(memory: RingMemory, slot: number): number {
  return Atomics.load(memory.consumerI32, (L.slotOffset(slot) + L.SLOT_DOORBELL_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2);
}

/** Turns of the event loop until `predicate` holds (bounded). */
async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let turn = 0; !predicate(); turn++) {
    if (turn > 100000) throw new Error(`${what}: not after ${turn} turns`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function memoryOf(endpoint: Producer | Consumer): RingMemory {
  return (endpoint as unknown as { memory: RingMemory }).memory;
}

/** How many of this process's file descriptors are open on `path` (also once it is unlinked). */
function fdsOn(path: string): number {
  let count = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target === path || target === `${path} (deleted)`) count++;
    } catch {
      // closed meanwhile (the readdir's own fd)
    }
  }
  return count;
}

/** A file in /dev/shm named like a bell (of no ring), removed after the test. */
function bellLikePath(): string {
  const path = `/dev/shm/${BELL_NAME_PREFIX}${randomBytes(16).toString('hex')}-0`;
  onTeardown(() => fs.rmSync(path, { force: true }));
  return path;
}

describe("a consumer with wake: 'doorbell'", () => {
  it('asleep in receive() is woken by its bell, one write per sleep and none while it is awake; its FIFO goes with close()', async () => {
    const name = ringName('bell');
    const producer = track(Producer.create(name));
    const consumer = track(Consumer.open<string>(name, { wake: 'doorbell', wait: 'sleep' }));
    const { memory, slot } = internals(consumer);
    const path = bellPath(memory, slot);
    expect(isBellName(path.slice('/dev/shm/'.length))).toBe(true);
    for (let round = 1; round <= 3; round++) {
      const received = consumer.receive({ timeout: 10000 });
      await until(() => (bellWord(memory, slot) & L.SLOT_BELL_SLEEPING) !== 0, 'the consumer asleep on its bell');
      expect(fs.lstatSync(path).isFIFO()).toBe(true);
      producer.send(`m${round}`);
      // The ring cleared the SLEEPING bit: the producer rings once per sleep.
      expect(bellWord(memory, slot)).toBe(L.SLOT_BELL_PRESENT);
      expect(producer.stats.bellsRung).toBe(round);
      await expect(received).resolves.toBe(`m${round}`);
    }
    // Awake (not in receive()): sends ring nothing.
    for (let i = 0; i < 5; i++) producer.send(`quiet${i}`);
    expect(producer.stats.bellsRung).toBe(3);
    for (let i = 0; i < 5; i++) expect(consumer.tryReceive()).toBe(`quiet${i}`);
    consumer.close();
    expect(fs.existsSync(path)).toBe(false);
    // (The consumer's mapping is gone: the producer's shows the word.)
    expect(bellWord(memoryOf(producer), slot)).toBe(0);
  });

  it('closed while asleep in receive(): the receive resolves undefined', async () => {
    const name = ringName('bell-close');
    track(Producer.create(name));
    const consumer = Consumer.open<string>(name, { wake: 'doorbell', wait: 'sleep' });
    const { memory, slot } = internals(consumer);
    const received = consumer.receive({ timeout: 10000 });
    received.catch(() => undefined);
    await until(() => (bellWord(memory, slot) & L.SLOT_BELL_SLEEPING) !== 0, 'the consumer asleep on its bell');
    consumer.close();
    // docs/api.md, close(): a pending receive() resolves undefined (the bell's word is not touched after
    // the mapping is gone).
    await expect(received).resolves.toBeUndefined();
  });

  it('is rung through a new FIFO when its slot changed hands: the producer drops the old one, and holds no bell open after close()', async () => {
    const name = ringName('bell-new-owner');
    const producer = Producer.create(name);
    track({ close: () => producer.close() });
    for (let owner = 1; owner <= 2; owner++) {
      const consumer = Consumer.open<string>(name, { wake: 'doorbell', wait: 'sleep' });
      const { memory, slot } = internals(consumer);
      expect(slot).toBe(0);
      const path = bellPath(memory, slot);
      const received = consumer.receive({ timeout: 10000 });
      await until(() => (bellWord(memory, slot) & L.SLOT_BELL_SLEEPING) !== 0, 'the consumer asleep on its bell');
      producer.send(`owner ${owner}`);
      expect(producer.stats.bellsRung).toBe(owner);
      await expect(received).resolves.toBe(`owner ${owner}`);
      // The consumer's two fds (read, keep-alive) and the producer's one: not one per ring.
      expect(fdsOn(path)).toBe(3);
      consumer.close();
      // The producer's stays (it finds the reader gone at its next ring), on the unlinked FIFO.
      expect(fdsOn(path)).toBe(1);
    }
    // Both owners' FIFOs are gone with them; the producer may still hold the last one it rang, until close().
    const path = bellPath(memoryOf(producer), 0);
    producer.close();
    expect(fdsOn(path)).toBe(0);
  });
});

describe("the producer's bell ringer", () => {
  it('clears a SLEEPING bit whose slot has no FIFO, and counts no ring for it', () => {
    const name = ringName('bell-none');
    const producer = track(Producer.create(name));
    const memory = memoryOf(producer);
    const index = (L.slotOffset(2) + L.SLOT_DOORBELL_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2;
    Atomics.store(memory.consumerI32, index, L.SLOT_BELL_PRESENT | L.SLOT_BELL_SLEEPING);
    const ringer = new BellRinger(memory);
    expect(ringer.ringSleepers()).toBe(0);
    expect(ringer.bellsRung).toBe(0);
    expect(Atomics.load(memory.consumerI32, index)).toBe(L.SLOT_BELL_PRESENT);
    ringer.close();
  });
});

describe('a slot whose consumer is gone', () => {
  it('has its bell word cleared and its FIFO removed', () => {
    const name = ringName('bell-remove');
    track(Producer.create(name));
    const consumer = track(Consumer.open(name));
    const { memory, slot } = internals(consumer);
    const stat = fs.statSync(`/dev/shm${name}`);
    const bell = new SlotBell(memory, slot, { uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o777 });
    track(bell);
    const path = bellPath(memory, slot);
    expect(fs.lstatSync(path).isFIFO()).toBe(true);
    expect(bellWord(memory, slot)).toBe(L.SLOT_BELL_PRESENT);
    removeSlotBell(memory, slot);
    expect(bellWord(memory, slot)).toBe(0);
    expect(fs.existsSync(path)).toBe(false);
  });
});

describe("gc's sweep of doorbells", () => {
  it('removes a FIFO nobody reads once past the grace time; keeps it before, keeps a live bell and a file that is not a FIFO', () => {
    const orphan = bellLikePath();
    execFileSync('mkfifo', [orphan]);
    const notFifo = bellLikePath();
    fs.writeFileSync(notFifo, '');
    const name = ringName('bell-live');
    track(Producer.create(name));
    const consumer = track(Consumer.open(name));
    const { memory, slot } = internals(consumer);
    const stat = fs.statSync(`/dev/shm${name}`);
    track(new SlotBell(memory, slot, { uid: stat.uid, gid: stat.gid, mode: stat.mode & 0o777 }));
    const live = bellPath(memory, slot);
    const created = fs.lstatSync(orphan).ctimeMs;

    // Young: kept (its consumer may be between mkfifo and open).
    const young = sweepOrphanBells({ dryRun: true, now: created + BELL_GRACE_MS - 1 });
    expect(young.removed).not.toContain(orphan);
    expect(young.kept).toContain(orphan);

    // Exactly BELL_GRACE_MS old: no longer young.
    expect(sweepOrphanBells({ dryRun: true, now: created + BELL_GRACE_MS }).removed).toContain(orphan);

    // Old, dry run: reported, not removed.
    const later = Math.max(created, fs.lstatSync(live).ctimeMs) + BELL_GRACE_MS + 1;
    const dry = sweepOrphanBells({ dryRun: true, now: later });
    expect(dry.removed).toContain(orphan);
    expect(dry.kept).toEqual(expect.arrayContaining([live, notFifo]));
    expect(dry.removed).not.toContain(live);
    expect(dry.removed).not.toContain(notFifo);
    expect(fs.existsSync(orphan)).toBe(true);
    // Only bells are looked at (the ring itself, a regular file in /dev/shm, is neither kept nor removed).
    for (const path of [...dry.removed, ...dry.kept]) expect(isBellName(path.slice('/dev/shm/'.length))).toBe(true);

    // Old: removed (a gc running beside this test may have removed it first).
    const swept = sweepOrphanBells({ dryRun: false, now: later });
    expect(swept.kept).toEqual(expect.arrayContaining([live, notFifo]));
    expect(fs.existsSync(orphan)).toBe(false);
    expect(fs.lstatSync(live).isFIFO()).toBe(true);
    expect(fs.existsSync(notFifo)).toBe(true);
  });
});
