/**
 * The producer's side of the ring: reserving space, writing records, publishing them, and waking
 * sleeping consumers. Synchronous and allocation-free on the hot path; everything about processes
 * (liveness, sleeping for space, events) lives in src/api/producer.ts.
 */
import * as futex from '../core/futex';
import * as L from './layout';
import {
  BYTES_SENT_F64,
  DATA_WAITERS_CI32,
  distance,
  highNear,
  LAST_SEND_AT_MS_F64,
  MESSAGES_SENT_F64,
  NEXT_SEQUENCE_I32,
  OLDEST_POSITION_I32,
  PUBLISHED_TAIL_I32,
  RECORD_LENGTH_I32,
  RECORD_SEQUENCE_HIGH_I32,
  RECORD_SEQUENCE_I32,
  sequenceHigh,
  RECORD_TYPE_I32,
  RingMemory,
  TAIL_INTENT_I32,
  WAKES_SENT_F64,
} from './memory';
import { slotWordIndexes } from './slots';
import { BellRinger } from './bells';

/**
 * Where a writer starts: zeros for a new ring, the published words of a dead producer on takeover.
 * Positions are low words plus the tail's high word: the intent and the oldest position are within a
 * ring of the tail, so their high words follow from it (highNear).
 */
export interface WriterStart {
  tail: number;
  tailHigh: number;
  tailIntent: number;
  oldest: number;
  /** The next message's sequence number (a Number: exact below 2^53). */
  sequence: number;
}

export class RingWriter {
  /** Position just past the last committed record (published, unless corked): low and high words. */
  private tail: number;
  private tailHigh: number;
  /** The value of PUBLISHED_TAIL: behind `tail` while corked. */
  private publishedTail: number;
  private publishedTailHigh: number;
  /** High words last stored for TAIL_INTENT, OLDEST_POSITION and NEXT_SEQUENCE. */
  private intentHighStored = -1;
  private oldestHighStored = -1;
  private sequenceHighStored = -1;
  /** The last publish took a sleeper's announcement: the next one wakes again (see flush). */
  private trailingWake = false;
  /** While corked, commits are not published until flush() (or a quarter of the ring is pending). */
  corked = false;
  private tailIntent: number;
  private oldest: number;
  private sequence: number;
  /** Writing is allowed below this position: the slowest tethered consumer's head + capacity. */
  private limit: number;
  private readonly capacity: number;
  private readonly mask: number;
  private readonly words: Int32Array;
  private readonly doubles: Float64Array;
  private readonly data: Int32Array;
  private readonly consumerWords: Int32Array;
  /** How far ahead of the record being written TAIL_INTENT is raised, so most sends skip that store. */
  private readonly intentChunk: number;
  private readonly slotWords: ReturnType<typeof slotWordIndexes>;

  // The record reserved by tryReserve and not yet committed.
  private reservedEnd = 0;
  private reservedEndHigh = 0;
  private reservedLength = -1;

  /** Slot index of the slowest tethered consumer found by the last limit refresh (-1: none). */
  blockingSlot = -1;
  messagesSent: number;
  bytesSent: number;
  wakesSent: number;
  /** Doorbells of consumers sleeping in an event loop (one-hop wake; src/ring/bells.ts). */
  readonly bells: BellRinger;

  /**
   * A producer taking over a ring: the one before it may have spent a sleeper's announcement and died
   * before its next publish (whose trailing wake was owed), so the first publish here wakes too.
   */
  wakeAtNextPublish(): void {
    this.trailingWake = true;
  }

  constructor(readonly memory: RingMemory, start: WriterStart) {
    this.bells = new BellRinger(memory);
    this.capacity = memory.capacity;
    this.mask = memory.mask;
    this.words = memory.controlI32;
    this.doubles = memory.controlF64;
    this.data = memory.dataI32;
    this.consumerWords = memory.consumerI32;
    this.intentChunk = Math.max(L.RECORD_ALIGNMENT, this.capacity / 8);
    this.slotWords = slotWordIndexes(memory.geometry.maxConsumers);
    this.tail = start.tail | 0;
    this.tailHigh = start.tailHigh | 0;
    this.publishedTail = this.tail;
    this.publishedTailHigh = this.tailHigh;
    this.tailIntent = start.tailIntent | 0;
    this.oldest = start.oldest | 0;
    this.sequence = start.sequence;
    this.limit = this.tail;
    this.messagesSent = this.doubles[MESSAGES_SENT_F64];
    this.bytesSent = this.doubles[BYTES_SENT_F64];
    this.wakesSent = this.doubles[WAKES_SENT_F64];
  }

  /** Resets every published word to `start` (a new ring, or a takeover that validated them). */
  publishStart(): void {
    const memory = this.memory;
    this.oldestHighStored = highNear(this.oldest, this.tail, this.tailHigh);
    memory.storePair(OLDEST_POSITION_I32, this.oldest, this.oldestHighStored);
    this.intentHighStored = highNear(this.tailIntent, this.tail, this.tailHigh);
    memory.storePair(TAIL_INTENT_I32, this.tailIntent, this.intentHighStored);
    this.sequenceHighStored = sequenceHigh(this.sequence);
    memory.storePair(NEXT_SEQUENCE_I32, this.sequence | 0, this.sequenceHighStored);
    memory.storePair(PUBLISHED_TAIL_I32, this.tail, this.tailHigh);
  }

  /** Position just past the last committed record (low word). */
  get committedTail(): number {
    return this.tail;
  }

  /** High word of committedTail. */
  get committedTailHigh(): number {
    return this.tailHigh;
  }

  get nextSequence(): number {
    return this.sequence;
  }

  /**
   * Reserves a record of `type` with `payloadLength` bytes. Returns the byte offset of the payload in the
   * data region, or -1 when tethered consumers hold the ring full. Nothing is visible to consumers until
   * commit(); a reservation abandoned (abort, or the process dying) is overwritten by the next one.
   */
  tryReserve(type: number, payloadLength: number): number {
    const length = L.recordLength(payloadLength);
    const start = this.tail;
    const offset = start & this.mask;
    const toEnd = this.capacity - offset;
    const padding = toEnd < length ? toEnd : 0;
    const end = (start + padding + length) | 0;
    if (distance(end, this.limit) > 0 && distance(end, this.refreshLimit()) > 0) return -1;
    // Corked records not yet published must never be overwritten by this one: publish them first when
    // the ring would otherwise wrap onto them.
    if (distance(end, this.publishedTail) > this.capacity) this.flush();
    // Raising the intent rescans the consumers' heads: a tethered consumer that joined meanwhile can
    // lower the limit below this record, which then has to wait like any record that does not fit.
    if (distance(end, this.tailIntent) > 0 && !this.raiseIntent(end)) return -1;

    let recordOffset = offset;
    if (padding !== 0) {
      this.writeHeader(offset, padding - L.RECORD_HEADER_LENGTH, L.RecordType.PADDING, this.sequence);
      recordOffset = 0;
    }
    this.writeHeader(recordOffset, payloadLength, type, this.sequence);
    this.reservedEnd = end;
    // The record ends past a multiple of 4 GiB: the tail's high word carries (compared unsigned).
    this.reservedEndHigh = (end >>> 0) < (start >>> 0) ? (this.tailHigh + 1) | 0 : this.tailHigh;
    this.reservedLength = payloadLength;
    return recordOffset + L.RECORD_HEADER_LENGTH;
  }

  /** Shrinks the reserved record's payload (for claims that wrote less than they asked for). */
  shrinkReserved(payloadLength: number): void {
    const recordOffset = (this.reservedEnd - L.recordLength(this.reservedLength)) & this.mask;
    this.data[(recordOffset >> 2) + RECORD_LENGTH_I32] = payloadLength;
    const end = (this.reservedEnd - L.recordLength(this.reservedLength) + L.recordLength(payloadLength)) | 0;
    this.reservedEndHigh = highNear(end, this.reservedEnd, this.reservedEndHigh);
    this.reservedEnd = end;
    this.reservedLength = payloadLength;
  }

  /**
   * Commits the reserved record and publishes it (unless corked); returns whether a sleeping consumer had
   * to be woken.
   */
  commit(countsAsMessage = true): boolean {
    if (this.reservedLength < 0) throw new Error('commit without a reservation');
    this.tail = this.reservedEnd;
    this.tailHigh = this.reservedEndHigh;
    if (countsAsMessage) {
      this.sequence += 1;
      this.messagesSent += 1;
      this.bytesSent += this.reservedLength;
    }
    this.reservedLength = -1;
    if (this.corked && distance(this.tail, this.publishedTail) < this.capacity >> 2) return false;
    return this.flush();
  }

  /** Publishes everything committed; returns whether a sleeping consumer had to be woken. */
  flush(): boolean {
    if (this.publishedTail === this.tail) return false;
    this.publishedTail = this.tail;
    // The counters go out with the publish, once per batch, stored (like NEXT_SEQUENCE) before the tail: a
    // producer killed in between leaves them ahead by exactly the unpublished messages, which a takeover
    // subtracts (create.ts, readWriterStart).
    this.doubles[MESSAGES_SENT_F64] = this.messagesSent;
    this.doubles[BYTES_SENT_F64] = this.bytesSent;
    const sequenceHighNow = sequenceHigh(this.sequence);
    if (sequenceHighNow === this.sequenceHighStored) this.words[NEXT_SEQUENCE_I32] = this.sequence | 0;
    else this.storeSequencePair(sequenceHighNow);
    // SYNC POINT: publish. Pairs with the consumers' Atomics.load of PUBLISHED_TAIL in RingReader#read:
    // the record headers and payload written above are visible before the new tail is. The low word
    // alone is the whole 64-bit value unless the high word changes (once per 4 GiB): then one 64-bit store.
    if (this.tailHigh === this.publishedTailHigh) Atomics.store(this.words, PUBLISHED_TAIL_I32, this.tail);
    else {
      this.publishedTailHigh = this.tailHigh;
      this.memory.storePair(PUBLISHED_TAIL_I32, this.tail, this.tailHigh);
    }
    // SYNC POINT: Dekker pair with RingReader#prepareToSleep (store DATA_WAITERS, then load PUBLISHED_TAIL):
    // with both sides sequentially consistent, either we see the sleeper or it sees the new tail. The
    // plain load keeps the common case (nobody asleep) to one read; the exchange makes one publish, not
    // every publish until the sleepers have woken, pay for the wake.
    const announced = Atomics.load(this.consumerWords, DATA_WAITERS_CI32) !== 0 && Atomics.exchange(this.consumerWords, DATA_WAITERS_CI32, 0) !== 0;
    if (!announced && !this.trailingWake) return false;
    // The exchange may take an announcement made after its sleeper had already seen the tail stored
    // above: a consumer that read up to this tail, announced, and is about to sleep on this very value.
    // Our wake can then reach the kernel before the sleeper does and be lost, and the flag is spent. So
    // the next publish (which changes the word it sleeps on) wakes once more, announced or not: at most
    // two wakes per sleep, never a sleep through published data (docs/protocol.md, "Sleeping and waking").
    this.trailingWake = announced;
    this.wakeConsumers();
    return true;
  }

  abort(): void {
    this.reservedLength = -1;
  }

  private storeSequencePair(high: number): void {
    this.sequenceHighStored = high;
    this.memory.storePair(NEXT_SEQUENCE_I32, this.sequence | 0, high);
  }

  get hasReservation(): boolean {
    return this.reservedLength >= 0;
  }

  /** Wakes every consumer sleeping on PUBLISHED_TAIL, and rings the doorbells of those sleeping on one. */
  wakeConsumers(): void {
    futex.wake(this.memory.control, PUBLISHED_TAIL_I32 << 2, 0x7fffffff);
    this.bells.ringSleepers();
    this.wakesSent += 1;
    this.doubles[WAKES_SENT_F64] = this.wakesSent;
  }

  noteSendTime(now: number): void {
    this.doubles[LAST_SEND_AT_MS_F64] = now;
  }

  /** Free bytes before the slowest tethered consumer, as of the last refresh. */
  get freeBytes(): number {
    return distance(this.limit, this.tail);
  }

  /**
   * Recomputes the write limit from the active tethered consumers' heads and returns it. A head that is
   * impossible (ahead of our tail, or more than a ring behind it) comes from a corrupt or hostile slot:
   * it is clamped so it can neither let us overwrite unread data nor push the limit out of range.
   */
  refreshLimit(): number {
    const { state, flags, head, pid } = this.slotWords;
    const words = this.consumerWords;
    let maxBehind = -1; // how far behind our tail the slowest tethered consumer's head is
    let blocking = -1;
    for (let index = 0; index < state.length; index++) {
      if (Atomics.load(words, state[index]) !== L.SlotState.ACTIVE) continue;
      if ((words[flags[index]] & L.SLOT_FLAG_TETHERED) === 0) continue;
      // A slot marked active by a claimer that lost it to a reclaim in the same instant has no owner.
      if (Atomics.load(words, pid[index]) <= 0) continue;
      let behind = distance(this.tail, Atomics.load(words, head[index]));
      if (behind < 0) behind = 0;
      if (behind > this.capacity) behind = this.capacity;
      if (behind > maxBehind) {
        maxBehind = behind;
        blocking = index;
      }
    }
    this.blockingSlot = blocking;
    this.limit = (this.tail + (blocking === -1 ? this.capacity : this.capacity - maxBehind)) | 0;
    return this.limit;
  }

  /**
   * Raises TAIL_INTENT past `end` before anything at or beyond the old intent is written, advancing
   * OLDEST_POSITION first so that a reader who sees the new intent also sees an oldest record that is
   * still intact. The intent runs a chunk ahead so that most sends store nothing here, but never past the
   * limit: a tethered consumer must never look lapped.
   */
  private raiseIntent(end: number): boolean {
    // Never announce past the limit: a record that no longer fits waits, with nothing published.
    if (distance(end, this.refreshLimit()) > 0) return false;
    let intent = (end + this.intentChunk) | 0;
    if (distance(intent, this.limit) > 0) intent = this.limit;
    // Capped by what consumers can see: readers judge laps against the published tail.
    const reach = (this.publishedTail + this.capacity) | 0;
    if (distance(intent, reach) > 0) intent = reach;
    if (distance(intent, end) < 0) intent = end;
    this.advanceOldest((intent - this.capacity) | 0);
    // SYNC POINT: pairs with the reader's loads of TAIL_INTENT after copying a record: once this store is
    // visible, bytes below intent - capacity may be overwritten at any moment. On arm64 an Atomics.store
    // is a store-release, which does not keep the payload stores that follow from moving before it; the
    // Atomics.load of the slot words in refreshLimit below (a load-acquire, which arm64 never moves before
    // an earlier store-release) does: nothing of the new record is written before the intent is visible.
    const oldestHigh = highNear(this.oldest, this.tail, this.tailHigh);
    if (oldestHigh === this.oldestHighStored) Atomics.store(this.words, OLDEST_POSITION_I32, this.oldest);
    else {
      this.oldestHighStored = oldestHigh;
      this.memory.storePair(OLDEST_POSITION_I32, this.oldest, oldestHigh);
    }
    const intentHigh = highNear(intent, this.tail, this.tailHigh);
    if (intentHigh === this.intentHighStored) Atomics.store(this.words, TAIL_INTENT_I32, intent);
    else {
      this.intentHighStored = intentHigh;
      this.memory.storePair(TAIL_INTENT_I32, intent, intentHigh);
    }
    this.tailIntent = intent;
    // SYNC POINT: Dekker pair with a joining consumer (Consumer's settleJoin: store its head, then load
    // TAIL_INTENT). Either this rescan sees the new head, and we never write past head + capacity, or
    // the joiner sees this intent and moves its head past intent - capacity before reading anything.
    return distance(end, this.refreshLimit()) <= 0;
  }

  /** Walks our own records forward from `oldest` until it is at or past `target` (never past the tail). */
  private advanceOldest(target: number): void {
    let oldest = this.oldest;
    const data = this.data;
    while (distance(target, oldest) > 0 && distance(this.tail, oldest) > 0) {
      const offset = oldest & this.mask;
      const type = data[(offset >> 2) + RECORD_TYPE_I32];
      const payloadLength = data[(offset >> 2) + RECORD_LENGTH_I32];
      let length =
        type === L.RecordType.PADDING ? this.capacity - offset : L.recordLength(payloadLength);
      // The data region is ours (consumers map it read-only), but a record we never finished writing or a
      // damaged one must not send the walk out of the ring: step to the wrap instead.
      if (!(length > 0) || offset + length > this.capacity || payloadLength < 0) length = this.capacity - offset;
      oldest = (oldest + length) | 0;
    }
    if (distance(oldest, this.tail) > 0) oldest = this.tail;
    this.oldest = oldest;
  }

  private writeHeader(offset: number, payloadLength: number, type: number, sequence: number): void {
    const index = offset >> 2;
    const data = this.data;
    data[index + RECORD_LENGTH_I32] = payloadLength;
    data[index + RECORD_TYPE_I32] = type;
    data[index + RECORD_SEQUENCE_I32] = sequence | 0;
    data[index + RECORD_SEQUENCE_HIGH_I32] = (sequence / L.HIGH_WORD) | 0;
  }
}
