/**
 * The consumer slot registry in the consumers' pages of the control region.
 *
 * A slot's pid word is its lock: a consumer claims a free slot with CAS(pid: 0 -> own pid), fills in the
 * rest, then marks it ACTIVE. Reclaiming a dead consumer's slot CASes its pid to a tombstone first, so a
 * slot freed and claimed again by a new consumer in the meantime is never freed by mistake. The tombstone
 * is the reclaimer's pid, negated: a reclaimer killed half-way leaves a tombstone whose process is gone,
 * and the next reclaim pass (anyone's) finishes its work instead of losing the slot for good.
 */
import * as L from './layout';
import { liveness, type ProcessIdentity } from '../core/liveness';
import { RingMemory } from './memory';

/** Pid word value while `reclaimer` reclaims a slot: negative, so no claimer can CAS it from 0. */
function tombstoneOf(reclaimer: number): number {
  return -reclaimer;
}

export interface SlotSnapshot {
  index: number;
  state: number;
  tethered: boolean;
  head: number;
  headHigh: number;
  pid: number;
  startTime: number;
  pidNamespace: number;
  received: number;
  lost: number;
  joinedAtMs: number;
}

/** Index into RingMemory#consumerI32 of a field of slot `index`. */
function i32(index: number, fieldOffset: number): number {
  return (L.slotOffset(index) - L.CONSUMER_REGION_OFFSET + fieldOffset) >> 2;
}
/** Index into RingMemory#consumerF64 of a field of slot `index`. */
function f64(index: number, fieldOffset: number): number {
  return (L.slotOffset(index) - L.CONSUMER_REGION_OFFSET + fieldOffset) >> 3;
}

/** Index into consumerI32 of slot `index`'s head (low word; the high word follows it). */
export function slotHeadIndex(index: number): number {
  return i32(index, L.SLOT_HEAD_OFFSET);
}



/**
 * Claims a free slot for `identity`, starting at `head`. Returns the slot index, or -1 when every slot is
 * taken.
 */
export function claimSlot(memory: RingMemory, identity: ProcessIdentity, tethered: boolean, head: number, headHigh: number): number {
  const { consumerI32: words, consumerF64: doubles } = memory;
  for (let index = 0; index < memory.geometry.maxConsumers; index++) {
    if (Atomics.compareExchange(words, i32(index, L.SLOT_PID_OFFSET), 0, identity.pid) !== 0) continue;
    doubles[f64(index, L.SLOT_START_TIME_OFFSET)] = identity.startTime;
    doubles[f64(index, L.SLOT_PID_NAMESPACE_OFFSET)] = identity.pidNamespace;
    doubles[f64(index, L.SLOT_RECEIVED_OFFSET)] = 0;
    doubles[f64(index, L.SLOT_LOST_OFFSET)] = 0;
    // 0 until markJoined(): the consumer has not settled where it starts reading yet.
    doubles[f64(index, L.SLOT_JOINED_AT_MS_OFFSET)] = 0;
    words[i32(index, L.SLOT_FLAGS_OFFSET)] = tethered ? L.SLOT_FLAG_TETHERED : 0;
    Atomics.store(words, i32(index, L.SLOT_HEAD_HIGH_OFFSET), headHigh);
    Atomics.store(words, i32(index, L.SLOT_HEAD_OFFSET), head);
    // SYNC POINT: the slot becomes visible to the producer's limit scan (RingWriter#refreshLimit) only
    // now, with its head already in place.
    Atomics.store(words, i32(index, L.SLOT_STATE_OFFSET), L.SlotState.ACTIVE);
    // A producer that judged the slot's previous owner dead may have reclaimed it under us (a race with
    // a scan that read our pid before our start time): then it is not ours, try another.
    if (Atomics.load(words, i32(index, L.SLOT_PID_OFFSET)) === identity.pid) return index;
  }
  return -1;
}

/**
 * Marks a claimed slot as joined, once its consumer has settled where it starts reading (ring/join.ts):
 * a producer that sees the join time set (joinedSlots) knows that everything it publishes afterwards
 * reaches this consumer.
 */
export function markJoined(memory: RingMemory, index: number): void {
  // SYNC POINT: pairs with joinedSlots() in the producer, followed by its store of PUBLISHED_TAIL: the
  // consumer's load of PUBLISHED_TAIL in settleJoin (an Atomics.load, so this later store is not
  // performed before it) comes before this store.
  memory.consumerF64[f64(index, L.SLOT_JOINED_AT_MS_OFFSET)] = Date.now();
}

/** Active slots whose consumer has finished joining (see markJoined). */
export function joinedSlots(memory: RingMemory): SlotSnapshot[] {
  return occupiedSlots(memory).filter((slot) => slot.state === L.SlotState.ACTIVE && slot.joinedAtMs > 0);
}

/**
 * Clears an owner's identity before the slot's pid word is released: a claimer that CASes the pid in
 * must never be judged by its predecessor's start time (liveness() treats 0 as "check the pid only").
 */
function clearIdentity(memory: RingMemory, index: number): void {
  const { consumerI32: words, consumerF64: doubles } = memory;
  doubles[f64(index, L.SLOT_START_TIME_OFFSET)] = 0;
  doubles[f64(index, L.SLOT_PID_NAMESPACE_OFFSET)] = 0;
  words[i32(index, L.SLOT_FLAGS_OFFSET)] = 0;
  Atomics.store(words, i32(index, L.SLOT_STATE_OFFSET), L.SlotState.FREE);
}

/** Frees a slot this process holds (no-op when the slot no longer belongs to `pid`). */
export function releaseSlot(memory: RingMemory, index: number, pid: number): void {
  const words = memory.consumerI32;
  if (Atomics.load(words, i32(index, L.SLOT_PID_OFFSET)) !== pid) return;
  clearIdentity(memory, index);
  Atomics.store(words, i32(index, L.SLOT_PID_OFFSET), 0);
}

/** Frees the slot of a consumer found dead, if it still holds the slot. Returns whether it did. */
export function reclaimSlot(memory: RingMemory, index: number, deadPid: number): boolean {
  const words = memory.consumerI32;
  const pidIndex = i32(index, L.SLOT_PID_OFFSET);
  const tombstone = tombstoneOf(process.pid);
  if (deadPid <= 0 || Atomics.compareExchange(words, pidIndex, deadPid, tombstone) !== deadPid) return false;
  clearIdentity(memory, index);
  Atomics.store(words, pidIndex, 0);
  return true;
}

/**
 * Finishes the reclaim of a slot whose reclaimer died half-way (its tombstone names a process that is
 * gone). Returns whether it freed the slot.
 */
function finishAbandonedReclaim(memory: RingMemory, index: number, tombstone: number): boolean {
  if (tombstone >= 0 || tombstone === tombstoneOf(process.pid)) return false;
  if (liveness({ pid: -tombstone, startTime: 0, pidNamespace: 0 }) !== 'dead') return false;
  const words = memory.consumerI32;
  const pidIndex = i32(index, L.SLOT_PID_OFFSET);
  // Take it over with our own tombstone first: two finishers cannot both clear a slot a new owner claimed.
  if (Atomics.compareExchange(words, pidIndex, tombstone, tombstoneOf(process.pid)) !== tombstone) return false;
  clearIdentity(memory, index);
  Atomics.store(words, pidIndex, 0);
  return true;
}

/**
 * Moves a slot's head (always forward). The high word goes first: the producer reads only the low word
 * (a tethered head is never more than a ring behind it), and tools tolerate a pair read mid-update.
 */
export function setSlotHead(memory: RingMemory, index: number, head: number, headHigh: number): void {
  Atomics.store(memory.consumerI32, i32(index, L.SLOT_HEAD_HIGH_OFFSET), headHigh);
  Atomics.store(memory.consumerI32, i32(index, L.SLOT_HEAD_OFFSET), head);
}

export function slotOwner(memory: RingMemory, index: number): number {
  return Atomics.load(memory.consumerI32, i32(index, L.SLOT_PID_OFFSET));
}

export function publishSlotCounters(memory: RingMemory, index: number, received: number, lost: number): void {
  memory.consumerF64[f64(index, L.SLOT_RECEIVED_OFFSET)] = received;
  memory.consumerF64[f64(index, L.SLOT_LOST_OFFSET)] = lost;
}

export function readSlot(memory: RingMemory, index: number): SlotSnapshot {
  const { consumerI32: words, consumerF64: doubles } = memory;
  return {
    index,
    state: Atomics.load(words, i32(index, L.SLOT_STATE_OFFSET)),
    tethered: (words[i32(index, L.SLOT_FLAGS_OFFSET)] & L.SLOT_FLAG_TETHERED) !== 0,
    head: Atomics.load(words, i32(index, L.SLOT_HEAD_OFFSET)),
    headHigh: Atomics.load(words, i32(index, L.SLOT_HEAD_HIGH_OFFSET)),
    pid: Atomics.load(words, i32(index, L.SLOT_PID_OFFSET)),
    startTime: doubles[f64(index, L.SLOT_START_TIME_OFFSET)],
    pidNamespace: doubles[f64(index, L.SLOT_PID_NAMESPACE_OFFSET)],
    received: doubles[f64(index, L.SLOT_RECEIVED_OFFSET)],
    lost: doubles[f64(index, L.SLOT_LOST_OFFSET)],
    joinedAtMs: doubles[f64(index, L.SLOT_JOINED_AT_MS_OFFSET)],
  };
}

/** Every slot whose pid word is set (claiming, active, or a process that died holding it). */
export function occupiedSlots(memory: RingMemory): SlotSnapshot[] {
  const result: SlotSnapshot[] = [];
  for (let index = 0; index < memory.geometry.maxConsumers; index++) {
    const pid = Atomics.load(memory.consumerI32, i32(index, L.SLOT_PID_OFFSET));
    if (pid > 0) result.push(readSlot(memory, index));
  }
  return result;
}

/** Indexes into consumerI32 of the state, flags, head and pid words of every slot, for the producer's scan. */
export function slotWordIndexes(maxConsumers: number): { state: Int32Array; flags: Int32Array; head: Int32Array; pid: Int32Array } {
  const state = new Int32Array(maxConsumers);
  const flags = new Int32Array(maxConsumers);
  const head = new Int32Array(maxConsumers);
  const pid = new Int32Array(maxConsumers);
  for (let index = 0; index < maxConsumers; index++) {
    state[index] = i32(index, L.SLOT_STATE_OFFSET);
    flags[index] = i32(index, L.SLOT_FLAGS_OFFSET);
    head[index] = i32(index, L.SLOT_HEAD_OFFSET);
    pid[index] = i32(index, L.SLOT_PID_OFFSET);
  }
  return { state, flags, head, pid };
}

/**
 * Frees the slots of consumers whose process is gone (liveness 'dead'; 'unknown' is never treated as
 * dead). Safe from any process: each reclaim is a CAS on the dead owner's pid. Returns how many it freed.
 */
export function reclaimDeadSlots(memory: RingMemory): number {
  let reclaimed = 0;
  for (let index = 0; index < memory.geometry.maxConsumers; index++) {
    const pid = Atomics.load(memory.consumerI32, i32(index, L.SLOT_PID_OFFSET));
    if (pid < 0) {
      if (finishAbandonedReclaim(memory, index, pid)) reclaimed++;
      continue;
    }
    if (pid === 0) continue;
    const slot = readSlot(memory, index);
    if (slot.pid !== pid || liveness(slot) !== 'dead') continue;
    if (reclaimSlot(memory, index, pid)) reclaimed++;
  }
  return reclaimed;
}
