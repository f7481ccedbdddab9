/**
 * The consumer slot registry (src/ring/slots.ts) on a real ring: what a claim writes, that only the owner
 * (or the reclaimer of a dead owner) frees a slot and that freeing clears its identity, what the producer's
 * scan sees, and the counters a consumer publishes there (what `shmring inspect` shows).
 */
import { Consumer, Producer } from '../../src';
import * as L from '../../src/ring/layout';
import { RingMemory } from '../../src/ring/memory';
import { claimSlot, joinedSlots, markJoined, occupiedSlots, publishSlotCounters, readSlot, reclaimSlot, releaseSlot, setSlotHead, slotHeadIndex, slotOwner, slotWordIndexes } from '../../src/ring/slots';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

function memoryOf(endpoint: Producer | Consumer): RingMemory {
  return (endpoint as unknown as { memory: RingMemory }).memory;
}

const MAX_CONSUMERS = 3;
/** A pid no process here has (claimSlot does not check liveness; the producer would). */
const PID = 0x7ffffff0;
const IDENTITY = { pid: PID, startTime: 4242, pidNamespace: 4026531836 };

function ring(tag: string): RingMemory {
  return memoryOf(track(Producer.create(ringName(tag), { capacity: 4096, maxConsumers: MAX_CONSUMERS })));
}

const FREE_SLOT = { state: L.SlotState.FREE, tethered: false, pid: 0, startTime: 0, pidNamespace: 0 };

describe('claimSlot', () => {
  it('writes the whole identity, the flags and the head, then marks the slot ACTIVE', () => {
    const memory = ring('claim');
    const before = Date.now();
    const index = claimSlot(memory, IDENTITY, true, 1024, 0);
    expect(index).toBe(0);
    const slot = readSlot(memory, index);
    expect(slot).toMatchObject({ index: 0, state: L.SlotState.ACTIVE, tethered: true, head: 1024, pid: PID, startTime: 4242, pidNamespace: 4026531836, received: 0, lost: 0 });
    // Not joined until the consumer has settled where it starts reading (markJoined).
    expect(slot.joinedAtMs).toBe(0);
    expect(joinedSlots(memory)).toEqual([]);
    markJoined(memory, index);
    expect(readSlot(memory, index).joinedAtMs).toBeGreaterThanOrEqual(before);
    expect(readSlot(memory, index).joinedAtMs).toBeLessThanOrEqual(Date.now());
    expect(joinedSlots(memory).map((joined) => joined.index)).toEqual([index]);
    expect(slotOwner(memory, index)).toBe(PID);
    // Untethered: the flag is clear.
    expect(readSlot(memory, claimSlot(memory, { ...IDENTITY, pid: PID + 1 }, false, 0, 0))).toMatchObject({ index: 1, tethered: false, pid: PID + 1 });
  });

  it('takes the first free slot, and returns -1 when every slot is taken', () => {
    const memory = ring('full');
    expect([0, 1, 2].map((i) => claimSlot(memory, { ...IDENTITY, pid: PID + i }, true, 0, 0))).toEqual([0, 1, 2]);
    expect(claimSlot(memory, { ...IDENTITY, pid: PID + 9 }, true, 0, 0)).toBe(-1);
    releaseSlot(memory, 1, PID + 1);
    expect(claimSlot(memory, { ...IDENTITY, pid: PID + 9 }, true, 0, 0)).toBe(1);
  });

  it('starts the received and lost counters at zero even where an earlier consumer left them', () => {
    const memory = ring('counters');
    const index = claimSlot(memory, IDENTITY, true, 0, 0);
    publishSlotCounters(memory, index, 17, 3);
    expect(readSlot(memory, index)).toMatchObject({ received: 17, lost: 3 });
    releaseSlot(memory, index, PID);
    expect(readSlot(memory, claimSlot(memory, IDENTITY, true, 0, 0))).toMatchObject({ received: 0, lost: 0 });
  });
});

describe('releaseSlot and reclaimSlot', () => {
  it('releaseSlot by its owner clears the identity and frees the slot; by anyone else does nothing', () => {
    const memory = ring('release');
    const index = claimSlot(memory, IDENTITY, true, 0, 0);
    releaseSlot(memory, index, PID + 1);
    expect(readSlot(memory, index)).toMatchObject({ state: L.SlotState.ACTIVE, pid: PID, startTime: 4242, tethered: true });
    releaseSlot(memory, index, PID);
    expect(readSlot(memory, index)).toMatchObject(FREE_SLOT);
  });

  it('reclaimSlot frees only a slot still held by the dead pid (never for pid 0), and clears its identity', () => {
    const memory = ring('reclaim');
    const index = claimSlot(memory, IDENTITY, true, 0, 0);
    expect(reclaimSlot(memory, index, PID + 1)).toBe(false);
    expect(reclaimSlot(memory, index, 0)).toBe(false);
    expect(readSlot(memory, index)).toMatchObject({ state: L.SlotState.ACTIVE, pid: PID });
    expect(reclaimSlot(memory, index, PID)).toBe(true);
    expect(readSlot(memory, index)).toMatchObject(FREE_SLOT);
    expect(reclaimSlot(memory, index, PID)).toBe(false);
    // A free slot (pid 0) is never "reclaimed".
    expect(reclaimSlot(memory, 2, 0)).toBe(false);
  });
});

describe('what the producer and inspect read', () => {
  it('occupiedSlots lists every slot with a pid, and only those', () => {
    const memory = ring('occupied');
    expect(occupiedSlots(memory)).toEqual([]);
    claimSlot(memory, IDENTITY, true, 0, 0);
    claimSlot(memory, { ...IDENTITY, pid: PID + 1 }, false, 16, 0);
    releaseSlot(memory, 0, PID);
    expect(occupiedSlots(memory).map((slot) => [slot.index, slot.pid, slot.head, slot.tethered])).toEqual([[1, PID + 1, 16, false]]);
  });

  it('setSlotHead moves the head the producer scans; slotWordIndexes and slotHeadIndex name the same words', () => {
    const memory = ring('words');
    const index = claimSlot(memory, IDENTITY, true, 0, 0);
    setSlotHead(memory, index, 2048, 0);
    expect(readSlot(memory, index).head).toBe(2048);
    const words = slotWordIndexes(MAX_CONSUMERS);
    for (let i = 0; i < MAX_CONSUMERS; i++) {
      // Indexes into the consumers' region (RingMemory#consumerI32).
      const base = L.slotOffset(i) - L.CONSUMER_REGION_OFFSET;
      expect([words.state[i], words.flags[i], words.head[i], words.pid[i], slotHeadIndex(i)]).toEqual([
        (base + L.SLOT_STATE_OFFSET) >> 2,
        (base + L.SLOT_FLAGS_OFFSET) >> 2,
        (base + L.SLOT_HEAD_OFFSET) >> 2,
        (base + L.SLOT_PID_OFFSET) >> 2,
        (base + L.SLOT_HEAD_OFFSET) >> 2,
      ]);
    }
    expect(memory.consumerI32[words.head[index]]).toBe(2048);
  });

  it("a consumer publishes its received and lost counts into its slot as it releases", () => {
    const name = ringName('published');
    const producer = track(Producer.create(name, { capacity: 4096, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name));
    for (let n = 0; n < 5; n++) producer.send({ n });
    for (let n = 0; n < 5; n++) expect(consumer.tryReceive()).toEqual({ n });
    expect(consumer.tryReceive()).toBeUndefined(); // caught up: releases
    const [slot] = occupiedSlots(memoryOf(producer));
    expect(slot).toMatchObject({ pid: process.pid, tethered: true, received: 5, lost: 0, state: L.SlotState.ACTIVE });
    consumer.close();
    expect(occupiedSlots(memoryOf(producer))).toEqual([]);
  });
});
