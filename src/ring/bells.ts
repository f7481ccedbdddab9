/**
 * Doorbells of a ring: one FIFO per event-loop consumer that wants a one-hop wake, rung by the producer
 * only when that consumer's slot says it sleeps on it (docs/protocol.md, "Doorbells").
 *
 *   consumer: SLOT_DOORBELL |= SLEEPING, then DATA_WAITERS = 1, then load PUBLISHED_TAIL, then poll its FIFO
 *   producer: store PUBLISHED_TAIL, exchange DATA_WAITERS → 1: FUTEX_WAKE, and for each slot whose
 *             SLEEPING bit it clears, write one byte to that slot's FIFO
 *
 * The FIFO is /dev/shm/.shmring-bell-<RING_ID in hex>-<slot>: the ring instance and slot name it, so a
 * producer finds it without any other shared state, and a recreated ring never reuses an old one's bells.
 * It is removed by its consumer on close, by whoever reclaims a dead consumer's slot, and by `shmring gc`
 * (a bell nobody holds open for reading is an orphan).
 */
import * as fs from 'fs';
import { SHM_DIRECTORY } from '../errors';
import { Doorbell, BellWaitResult, bellHasReader, closeBell, openBellForWriting, removeQuietly, ringBell } from '../core/doorbell';
import * as L from './layout';
import { readRingId } from './header';
import { PRODUCER_STATE_I32, RingMemory } from './memory';

export const BELL_NAME_PREFIX = '.shmring-bell-';
const BELL_NAME_PATTERN = /^\.shmring-bell-[0-9a-f]{32}-\d+$/;
/** gc leaves bells younger than this alone: their consumer may be between mkfifo and open. */
export const BELL_GRACE_MS = 2000;
export const BELLS_RUNG_F64 = L.BELLS_RUNG_OFFSET >> 3;

/** Index of a slot's SLOT_DOORBELL word in `memory.consumerI32`. */
function bellWordIndex(slot: number): number {
  return (L.slotOffset(slot) + L.SLOT_DOORBELL_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2;
}

/** Where the doorbell of `slot` of this ring instance lives. */
export function bellPath(memory: RingMemory, slot: number): string {
  return `${SHM_DIRECTORY}/${BELL_NAME_PREFIX}${readRingId(memory.control)}-${slot}`;
}

/** Whether a /dev/shm entry name (without its slash) is a doorbell. */
export function isBellName(name: string): boolean {
  return BELL_NAME_PATTERN.test(name);
}

/** Removes the doorbell of a slot whose consumer is gone (reclaim). */
export function removeSlotBell(memory: RingMemory, slot: number): void {
  Atomics.store(memory.consumerI32, bellWordIndex(slot), 0);
  removeQuietly(bellPath(memory, slot));
}

/** The doorbell of our slot, or null when it cannot be made (the caller keeps the futex path). */
export function openSlotBell(memory: RingMemory, slot: number, ring: { uid: number; gid: number; mode: number }): SlotBell | null {
  try {
    return new SlotBell(memory, slot, ring);
  } catch {
    return null;
  }
}

/** What sleep() ended with: rung (or a spurious ring), timed out, or data was there before sleeping. */
export type BellSleepResult = BellWaitResult | 'data';

/**
 * A consumer's doorbell: the FIFO plus its slot's SLOT_DOORBELL flags. Created on the first sleep, so
 * consumers that never sleep on the event loop (receiveSync, a Selector) never make one.
 */
export class SlotBell {
  private readonly doorbell: Doorbell;
  private readonly words: Int32Array;
  private readonly wordIndex: number;
  private closed = false;

  /** Throws (SYSTEM_ERROR) when the FIFO cannot be made; the caller then keeps the futex path. */
  constructor(memory: RingMemory, slot: number, ring: { uid: number; gid: number; mode: number }) {
    this.words = memory.consumerI32;
    this.wordIndex = bellWordIndex(slot);
    this.doorbell = new Doorbell(bellPath(memory, slot), ring.mode, ring);
    Atomics.store(this.words, this.wordIndex, L.SLOT_BELL_PRESENT);
  }

  /**
   * Sleeps on the bell. `prepareToSleep` is RingReader#prepareToSleep (sets DATA_WAITERS, re-reads the
   * tail); it returns undefined when data arrived meanwhile, and then we do not sleep. `timeoutMs` is asked
   * after it: prepareToSleep may learn that no wake can be trusted (a refused membarrier), which shortens
   * the sleep to a poll.
   */
  async sleep(prepareToSleep: () => number | undefined, timeoutMs: () => number): Promise<BellSleepResult> {
    // SYNC POINT: the SLEEPING bit is set before prepareToSleep's DATA_WAITERS store, so a producer that
    // sees DATA_WAITERS (exchange in RingWriter#flush) then sees SLEEPING in BellRinger#ringSleepers.
    Atomics.or(this.words, this.wordIndex, L.SLOT_BELL_SLEEPING);
    try {
      if (prepareToSleep() === undefined) return 'data';
      return await this.doorbell.wait(timeoutMs());
    } finally {
      // A no-op when the producer cleared it to ring us; otherwise no ring for a sleep that is over. After
      // close() the mapping may be gone, and close() cleared the word already.
      if (!this.closed) Atomics.and(this.words, this.wordIndex, ~L.SLOT_BELL_SLEEPING);
    }
  }

  /** Ends a pending sleep with `error`. */
  cancel(error: unknown): void {
    this.doorbell.cancel(error);
  }

  ref(): void {
    this.doorbell.ref();
  }

  unref(): void {
    this.doorbell.unref();
  }

  /** Clears the flags and removes the FIFO. Idempotent. Call before giving the slot up. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.words, this.wordIndex, 0);
    this.doorbell.close();
  }
}

/**
 * The producer's side: rings the bells of sleeping consumers. Opens each slot's FIFO once and keeps the
 * fd; a reader gone (EPIPE: the slot changed hands, or its consumer died) means reopen once.
 */
export class BellRinger {
  /** Doorbell writes issued by this producer (also in BELLS_RUNG for tools). */
  bellsRung: number;
  private readonly fds: (number | undefined)[] = [];

  constructor(private readonly memory: RingMemory) {
    this.bellsRung = memory.controlF64[BELLS_RUNG_F64];
  }

  /**
   * Rings every slot whose SLEEPING bit is set, clearing it. Called after the futex wake: only when
   * DATA_WAITERS was set, and once by close/abort.
   */
  ringSleepers(): number {
    const words = this.memory.consumerI32;
    const slots = this.memory.geometry.maxConsumers;
    let rung = 0;
    for (let slot = 0; slot < slots; slot++) {
      const index = bellWordIndex(slot);
      if ((Atomics.load(words, index) & L.SLOT_BELL_SLEEPING) === 0) continue;
      if ((Atomics.and(words, index, ~L.SLOT_BELL_SLEEPING) & L.SLOT_BELL_SLEEPING) === 0) continue;
      if (this.ring(slot)) rung++;
    }
    if (rung > 0) {
      this.bellsRung += rung;
      this.memory.controlF64[BELLS_RUNG_F64] = this.bellsRung;
    }
    // Producer#close and #abort end with this wake after marking the ring closed: the last ring.
    if (Atomics.load(this.memory.controlI32, PRODUCER_STATE_I32) === L.ProducerState.CLOSED) this.close();
    return rung;
  }

  /** Closes every cached fd. Idempotent. */
  close(): void {
    for (const fd of this.fds) if (fd !== undefined) closeBell(fd);
    this.fds.length = 0;
  }

  private ring(slot: number): boolean {
    for (let attempt = 0; attempt < 2; attempt++) {
      let fd = this.fds[slot];
      if (fd === undefined) {
        fd = openBellForWriting(bellPath(this.memory, slot));
        // ENXIO/ENOENT: the consumer is gone (its futex wake, sent anyway, is then enough for nobody).
        if (fd === undefined) return false;
        this.fds[slot] = fd;
      }
      const outcome = ringBell(fd);
      if (outcome !== 'gone') return outcome === 'rung';
      closeBell(fd);
      this.fds[slot] = undefined;
    }
    return false;
  }
}

/** What sweepOrphanBells found. */
export interface BellSweep {
  removed: string[];
  kept: string[];
}

/**
 * Removes doorbells nobody listens to any more (their consumer died and no reclaim removed them, e.g. the
 * ring was unlinked first). A bell is live while some process holds it open for reading: opening it for
 * writing then succeeds (and writes nothing).
 */
export function sweepOrphanBells(options: { dryRun: boolean; now?: number }): BellSweep {
  const sweep: BellSweep = { removed: [], kept: [] };
  let names: string[];
  try {
    names = fs.readdirSync(SHM_DIRECTORY);
  } catch {
    return sweep;
  }
  const now = options.now ?? Date.now();
  for (const name of names.filter(isBellName).sort()) {
    const path = `${SHM_DIRECTORY}/${name}`;
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(path);
    } catch {
      continue;
    }
    if (!stat.isFIFO() || now - stat.ctimeMs < BELL_GRACE_MS) {
      sweep.kept.push(path);
      continue;
    }
    if (bellHasReader(path) !== false) {
      sweep.kept.push(path);
      continue;
    }
    if (options.dryRun || removeQuietly(path)) sweep.removed.push(path);
  }
  return sweep;
}
