/**
 * Reclaiming the slots of dead consumers (src/ring/slots.ts, reclaimDeadSlots), on a real ring: what
 * docs/protocol.md ("Reclaiming a slot") promises, written against mutants of slots.ts that survived the
 * suite (docs/testing.md, "Mutation testing"):
 *   - only slots whose owner is dead are freed ('alive' and 'unknown' never are), and the count says how
 *     many;
 *   - a tombstone left by a reclaimer that died half-way is finished by the next pass; one whose reclaimer
 *     lives, or our own, is left alone;
 *   - a freed slot has no identity left (nor a doorbell flag), so its next claimer starts clean.
 * The dead processes are real: children that have exited and been reaped.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import { Consumer, Producer } from '../../src';
import { currentProcess } from '../../src/core/liveness';
import { bellPath } from '../../src/ring/bells';
import * as L from '../../src/ring/layout';
import { RingMemory } from '../../src/ring/memory';
import { claimSlot, joinedSlots, markJoined, occupiedSlots, readSlot, reclaimDeadSlots, slotWordIndexes } from '../../src/ring/slots';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

const MAX_CONSUMERS = 4;

function ring(tag: string): RingMemory {
  const producer = track(Producer.create(ringName(tag), { capacity: 4096, maxConsumers: MAX_CONSUMERS }));
  return (producer as unknown as { memory: RingMemory }).memory;
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

const FREE_SLOT = { state: L.SlotState.FREE, tethered: false, pid: 0, startTime: 0, pidNamespace: 0 };

function doorbellWord(index: number): number {
  return (L.slotOffset(index) + L.SLOT_DOORBELL_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2;
}

describe('reclaimDeadSlots', () => {
  it("frees exactly the slots of dead consumers, never an 'alive' or 'unknown' one, and counts them", async () => {
    const memory = ring('reclaim-dead');
    const own = currentProcess();
    const [deadA, deadB] = [await deadPid(), await deadPid()];
    // Slot 0: alive (this process). Slot 1: dead. Slot 2: another pid namespace ('unknown'). Slot 3: dead.
    expect(claimSlot(memory, own, true, 0, 0)).toBe(0);
    expect(claimSlot(memory, { pid: deadA, startTime: 0, pidNamespace: own.pidNamespace }, true, 0, 0)).toBe(1);
    expect(claimSlot(memory, { pid: deadB, startTime: 0, pidNamespace: own.pidNamespace + 1 }, true, 0, 0)).toBe(2);
    expect(claimSlot(memory, { pid: deadB, startTime: 0, pidNamespace: own.pidNamespace }, false, 0, 0)).toBe(3);
    // A doorbell flag left by the dead consumer of slot 3 goes with its slot.
    Atomics.store(memory.consumerI32, doorbellWord(3), L.SLOT_BELL_PRESENT);

    expect(reclaimDeadSlots(memory)).toBe(2);
    expect(readSlot(memory, 0)).toMatchObject({ state: L.SlotState.ACTIVE, pid: own.pid });
    expect(readSlot(memory, 1)).toMatchObject(FREE_SLOT);
    expect(readSlot(memory, 2)).toMatchObject({ state: L.SlotState.ACTIVE, pid: deadB });
    expect(readSlot(memory, 3)).toMatchObject(FREE_SLOT);
    expect(Atomics.load(memory.consumerI32, doorbellWord(3))).toBe(0);
    expect(occupiedSlots(memory).map((slot) => slot.index)).toEqual([0, 2]);
    // Nothing more to do: a second pass frees nothing.
    expect(reclaimDeadSlots(memory)).toBe(0);
  });

  it('a consumer whose pid was reused by another process (start time differs) is dead', async () => {
    const memory = ring('reclaim-reused');
    const own = currentProcess();
    expect(claimSlot(memory, { ...own, startTime: own.startTime + 1 }, true, 0, 0)).toBe(0);
    expect(reclaimDeadSlots(memory)).toBe(1);
    expect(readSlot(memory, 0)).toMatchObject(FREE_SLOT);
  });
});

describe('a reclaim left half-done (its tombstone in the pid word)', () => {
  /** Slot `index` as a reclaimer with pid `reclaimer` leaves it when killed between its CAS and the clear. */
  function tombstone(memory: RingMemory, index: number, reclaimer: number): void {
    Atomics.store(memory.consumerI32, slotWordIndexes(MAX_CONSUMERS).pid[index], -reclaimer);
  }

  it('by a reclaimer that died is finished by the next pass: the slot is freed, its identity and doorbell flag cleared', async () => {
    const memory = ring('tombstone-dead');
    const own = currentProcess();
    const [consumer, reclaimer] = [await deadPid(), await deadPid()];
    expect(claimSlot(memory, { pid: consumer, startTime: 5, pidNamespace: own.pidNamespace }, true, 0, 0)).toBe(0);
    Atomics.store(memory.consumerI32, doorbellWord(0), L.SLOT_BELL_PRESENT);
    tombstone(memory, 0, reclaimer);
    // Not listed as occupied: a tombstone is no consumer.
    expect(occupiedSlots(memory)).toEqual([]);
    expect(reclaimDeadSlots(memory)).toBe(1);
    expect(readSlot(memory, 0)).toMatchObject(FREE_SLOT);
    expect(Atomics.load(memory.consumerI32, doorbellWord(0))).toBe(0);
    // The slot can be claimed again.
    expect(claimSlot(memory, own, true, 0, 0)).toBe(0);
  });

  it('by a reclaimer that lives (or by this process) is left alone', async () => {
    const memory = ring('tombstone-live');
    const own = currentProcess();
    const consumer = await deadPid();
    expect(claimSlot(memory, { pid: consumer, startTime: 5, pidNamespace: own.pidNamespace }, true, 0, 0)).toBe(0);
    expect(claimSlot(memory, { pid: consumer, startTime: 5, pidNamespace: own.pidNamespace }, true, 0, 0)).toBe(1);
    tombstone(memory, 0, process.ppid); // our parent (jest): alive, still at work
    tombstone(memory, 1, process.pid); // ourselves, in the middle of that reclaim
    expect(reclaimDeadSlots(memory)).toBe(0);
    const pids = slotWordIndexes(MAX_CONSUMERS).pid;
    expect([Atomics.load(memory.consumerI32, pids[0]), Atomics.load(memory.consumerI32, pids[1])]).toEqual([-process.ppid, -process.pid]);
    expect(readSlot(memory, 0)).toMatchObject({ state: L.SlotState.ACTIVE, startTime: 5, tethered: true });
    // The slots stay taken: no new consumer gets them.
    expect(claimSlot(memory, own, true, 0, 0)).toBe(2);
  });
});

describe('joinedSlots', () => {
  it('lists only active slots whose consumer has joined, not one being released', () => {
    const memory = ring('joined');
    const own = currentProcess();
    expect(claimSlot(memory, own, true, 0, 0)).toBe(0);
    expect(claimSlot(memory, { ...own, pid: own.pid }, false, 0, 0)).toBe(1);
    markJoined(memory, 0);
    markJoined(memory, 1);
    expect(joinedSlots(memory).map((slot) => slot.index)).toEqual([0, 1]);
    // releaseSlot's first step: the state goes FREE before the pid word is cleared.
    Atomics.store(memory.consumerI32, slotWordIndexes(MAX_CONSUMERS).state[1], L.SlotState.FREE);
    expect(joinedSlots(memory).map((slot) => slot.index)).toEqual([0]);
  });
});

it('the doorbell FIFO of a reclaimed slot is removed with it', async () => {
  const memory = ring('bell-file');
  const own = currentProcess();
  expect(claimSlot(memory, { pid: await deadPid(), startTime: 0, pidNamespace: own.pidNamespace }, true, 0, 0)).toBe(0);
  const path = bellPath(memory, 0);
  fs.writeFileSync(path, '');
  try {
    Atomics.store(memory.consumerI32, doorbellWord(0), L.SLOT_BELL_PRESENT);
    expect(reclaimDeadSlots(memory)).toBe(1);
    expect(fs.existsSync(path)).toBe(false);
  } finally {
    fs.rmSync(path, { force: true });
  }
});

describe('a ring whose slot table ends exactly at the end of its control pages', () => {
  // 30 slots of 128 bytes after the two blocks of the consumers' page: nothing follows the last slot.
  const FULL = (L.PAGE_LENGTH - (L.SLOTS_OFFSET - L.CONSUMER_REGION_OFFSET)) / L.SLOT_LENGTH;

  it('lists, scans and fills every slot without reading past the table', async () => {
    expect(L.controlLength(FULL)).toBe(L.SLOTS_OFFSET + FULL * L.SLOT_LENGTH);
    const name = ringName('slots-full-page');
    const producer = track(Producer.create(name, { capacity: 4096, maxConsumers: FULL }));
    const memory = (producer as unknown as { memory: RingMemory }).memory;
    const consumers = Array.from({ length: FULL }, () => track(Consumer.open(name)));
    expect(occupiedSlots(memory).map((slot) => slot.index)).toEqual(Array.from({ length: FULL }, (_, i) => i));
    expect(reclaimDeadSlots(memory)).toBe(0);
    // No free slot: the open scans the table for dead owners, then refuses.
    expect(() => Consumer.open(name)).toThrow(expect.objectContaining({ code: 'NO_FREE_SLOT' }));
    // The producer's wake scans every slot's doorbell word: a consumer asleep in receive() is woken.
    const last = consumers[FULL - 1];
    const received = last.receive({ timeout: 10000 });
    await new Promise((resolve) => setImmediate(resolve));
    producer.send('to all');
    await expect(received).resolves.toBe('to all');
  });
});
