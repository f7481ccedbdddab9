/**
 * Doorbells (src/ring/bells.ts, docs/protocol.md "Doorbells"), in this process so that mutation testing
 * sees them (test/wake/doorbell.test.ts runs its consumers in other processes). Written against mutants of
 * bells.ts that the in-process suite did not notice (docs/testing.md, "Mutation testing"):
 *   - a consumer with wake: 'doorbell' asleep in receive() is woken by its bell: one bell write per sleep,
 *     none while it does not sleep; its FIFO exists while it holds the slot and goes with close();
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
import { BELL_GRACE_MS, BELL_NAME_PREFIX, bellPath, isBellName, removeSlotBell, SlotBell, sweepOrphanBells } from '../../src/ring/bells';
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
    expect(bellWord((producer as unknown as { memory: RingMemory }).memory, slot)).toBe(0);
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

    // Old, dry run: reported, not removed.
    const later = Math.max(created, fs.lstatSync(live).ctimeMs) + BELL_GRACE_MS + 1;
    const dry = sweepOrphanBells({ dryRun: true, now: later });
    expect(dry.removed).toContain(orphan);
    expect(dry.kept).toEqual(expect.arrayContaining([live, notFifo]));
    expect(dry.removed).not.toContain(live);
    expect(dry.removed).not.toContain(notFifo);
    expect(fs.existsSync(orphan)).toBe(true);

    // Old: removed (a gc running beside this test may have removed it first).
    const swept = sweepOrphanBells({ dryRun: false, now: later });
    expect(swept.kept).toEqual(expect.arrayContaining([live, notFifo]));
    expect(fs.existsSync(orphan)).toBe(false);
    expect(fs.lstatSync(live).isFIFO()).toBe(true);
    expect(fs.existsSync(notFifo)).toBe(true);
  });
});
