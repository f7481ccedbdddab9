/**
 * A consumer's side of the ring: finding the next record, validating everything read from shared memory,
 * detecting and counting loss, and publishing how far it has read. Synchronous; sleeping and events live
 * in src/api/consumer.ts.
 *
 * Tethered readers hold the producer back (it never overwrites what they have not released), so they
 * hand out views straight into the ring. Untethered readers never hold it back: they copy each record
 * out, then check that the producer had not started overwriting it while they copied (TAIL_INTENT), so a
 * torn record is never delivered.
 */
import { fenceRegisteredProcesses } from '../core/futex';
import { ShmRingError } from '../errors';
import * as L from './layout';
import {
  DATA_WAITERS_CI32,
  distance,
  distance64,
  FLAGS_I32,
  loadPair,
  loadPairNumber,
  NEXT_SEQUENCE_I32,
  OLDEST_POSITION_I32,
  PRODUCER_PUBLISH_FENCE_I32,
  PUBLISHED_TAIL_I32,
  RECORD_LENGTH_I32,
  RECORD_SEQUENCE_HIGH_I32,
  RECORD_SEQUENCE_I32,
  RECORD_TYPE_I32,
  RingMemory,
  sequenceOf,
  TAIL_INTENT_I32,
} from './memory';
import { publishSlotCounters, slotHeadIndex, slotOwner } from './slots';
import { signalSpaceIfWaiting } from './space-wait';

/** read() found nothing new. */
export const NOTHING = 0;

/** After this many resynchronisations in a row without delivering anything, jump to the tail. */
const MAX_RESYNCS = 8;
/** A record loop that meets more padding than this in one read() is looking at a hostile ring. */
const MAX_SKIPS_PER_READ = 4;
const ALIGNMENT_MASK = L.RECORD_ALIGNMENT - 1;

/** The last record type a reader accepts. */
const LAST_RECORD_TYPE = L.RecordType.ABORT;

export class RingReader {
  /** Position of the next record to read: low word, and high word (positions are 64-bit). */
  position: number;
  positionHigh: number;
  /** Messages this reader missed (overwritten before it read them). */
  lost = 0;
  /** Messages delivered. */
  received = 0;
  /** Times this reader was lapped and had to resynchronise. */
  laps = 0;
  /**
   * The consumers' pages are mapped read-only (a user who may only read the segment): this reader has no
   * slot and never announces sleep or wakes the producer; its owner polls instead of relying on a wake.
   */
  readOnly = false;
  /**
   * For the sleep being prepared: the producer relies on our membarrier and the kernel refused it, so a
   * wake may be lost and our owner sleeps no longer than a poll interval (as when readOnly). Set anew by
   * every announceSleep (a producer that takes the ring over may not ask for the fence).
   */
  sleepUnguarded = false;

  // The record returned by the last read().
  payloadOffset = 0;
  payloadLength = 0;
  sequence = 0;

  private cachedTail: number;
  private publishedHead: number;
  /** Sequence number the next message should carry (a Number: sequences are 64-bit, exact below 2^53). */
  private expectedSequence = 0;
  private hasSequence = false;
  private resyncsInARow = 0;
  /** Whether the last record returned lives in `scratch` rather than in the ring. */
  private lastWasCopy = false;
  /** Copy of the last record for untethered readers (grown on demand, up to maxMessageLength). */
  private scratch = new Uint8Array(0);

  private readonly words: Int32Array;
  private readonly consumerWords: Int32Array;
  /** Scratch for loadPair's low word. */
  private readonly pairLow = new Int32Array(1);
  /**
   * A private word for a full fence on arm64 (see lapped()): an atomic read-modify-write orders the plain
   * loads of a copy before the Atomics.load that re-checks TAIL_INTENT, which a load-acquire alone does not.
   */
  private readonly fence = new Int32Array(1);
  private readonly data: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly capacity: number;
  private readonly mask: number;
  private readonly maxMessageLength: number;
  private readonly headIndex: number;
  private readonly releaseEvery: number;
  /**
   * Untethered readers check every record for having been overwritten. Tethered ones need not: once
   * their join has settled (Consumer's settleJoin), the producer never writes past their head + capacity.
   */
  private validates: boolean;
  /** Pid that owns `slot`: a release checks it still does before writing into the slot. */
  ownerPid = 0;
  /**
   * Our slot was taken from us (reclaimed, or overwritten by a misbehaving process): we no longer hold
   * the producer back, so from now on every record is validated as an untethered reader's is, and the
   * slot (someone else's now) is never written again. The consumer reports CONSUMER_EVICTED.
   */
  evicted = false;

  constructor(
    readonly memory: RingMemory,
    readonly tethered: boolean,
    /** Slot this reader publishes its head into; -1 for a reader without a slot. */
    readonly slot: number,
    start: number,
    startHigh: number,
    /** Sequence number of the record at `start`, when known: loss is then counted from the join on. */
    startSequence?: number,
  ) {
    this.words = memory.controlI32;
    this.consumerWords = memory.consumerI32;
    this.data = memory.dataI32;
    this.bytes = memory.dataBytes;
    this.capacity = memory.capacity;
    this.mask = memory.mask;
    this.maxMessageLength = memory.geometry.maxMessageLength;
    this.headIndex = slot >= 0 ? slotHeadIndex(slot) : -1;
    this.releaseEvery = this.capacity >> 2;
    this.validates = !tethered;
    this.position = start | 0;
    this.positionHigh = startHigh | 0;
    if (startSequence !== undefined) {
      this.expectedSequence = startSequence;
      this.hasSequence = true;
    }
    this.publishedHead = this.position;
    this.cachedTail = this.position;
  }

  /** The payload of the last record read: a view valid until the next read(). */
  payload(): Uint8Array {
    // The constructor, not subarray(): subarray looks up the species constructor, about twice the cost
    // on this path, which runs once per message.
    if (this.lastWasCopy) return new Uint8Array(this.scratch.buffer, 0, this.payloadLength);
    return new Uint8Array(this.memory.data, this.payloadOffset, this.payloadLength);
  }

  /**
   * The buffer the last record's payload lies in, at payloadOffset: the ring's data region (tethered), or
   * this reader's copy of the record (untethered). No allocation, unlike payload().
   */
  payloadSource(): Uint8Array {
    return this.lastWasCopy ? this.scratch : this.bytes;
  }

  /** Whether anything is published past our position (cheap: one atomic load). */
  hasData(): boolean {
    return Atomics.load(this.words, PUBLISHED_TAIL_I32) !== this.position;
  }

  /**
   * Reads the next record. Returns its type (RecordType.MESSAGE, BYTES or END), or NOTHING. The payload
   * is then available through payload(). Throws CORRUPT_SEGMENT when the ring contradicts itself.
   */
  read(): number {
    if (distance(this.position, this.publishedHead) >= this.releaseEvery) this.release();
    // Bounded: padding records and resynchronisations both count, so no ring contents (nor a hostile
    // writer racing us) can keep one read() call looping.
    for (let skips = 0; skips <= MAX_SKIPS_PER_READ + 2 * MAX_RESYNCS; ) {
      const position = this.position;
      if (position === this.cachedTail) {
        // Caught up: let the producer reuse everything we have read before looking for more.
        this.release();
        // SYNC POINT: acquire. Pairs with RingWriter#commit's Atomics.store of PUBLISHED_TAIL.
        this.cachedTail = Atomics.load(this.words, PUBLISHED_TAIL_I32);
        if (position === this.cachedTail) return NOTHING;
      }
      const available = distance(this.cachedTail, position);
      // A ring that will be wiped on close: every record is copied and checked (FLAG_WIPE_ON_CLOSE). Read
      // after the tail: its producer sets it before its first publish.
      if (!this.validates && (this.words[FLAGS_I32] & L.FLAG_WIPE_ON_CLOSE) !== 0) this.validates = true;
      const validate = this.validates;
      if (available < 0 || available > this.capacity) {
        // Behind by more than a ring (lapped), or ahead of the tail (a producer restarted the positions).
        if (this.wiped()) return this.endAfterWipe();
        this.resync();
        skips++;
        continue;
      }
      if (validate && this.lapped(position)) {
        if (this.wiped()) return this.endAfterWipe();
        this.resync();
        skips++;
        continue;
      }
      if ((position & ALIGNMENT_MASK) !== 0 || (this.cachedTail & ALIGNMENT_MASK) !== 0) {
        // Records start on 16-byte boundaries; anything else came from a damaged control region.
        throw this.corrupt(position, -1, -1);
      }
      const offset = position & this.mask;
      const index = offset >> 2;
      const payloadLength = this.data[index + RECORD_LENGTH_I32];
      const type = this.data[index + RECORD_TYPE_I32];
      const sequenceLow = this.data[index + RECORD_SEQUENCE_I32];
      const sequenceHigh = this.data[index + RECORD_SEQUENCE_HIGH_I32];
      const length = type === L.RecordType.PADDING ? this.capacity - offset : L.recordLength(payloadLength);
      const valid =
        type >= L.RecordType.MESSAGE &&
        type <= LAST_RECORD_TYPE &&
        payloadLength >= 0 &&
        payloadLength <= this.maxMessageLength &&
        (type !== L.RecordType.PADDING || payloadLength === length - L.RECORD_HEADER_LENGTH) &&
        offset + length <= this.capacity &&
        length <= available;
      if (!valid) {
        // Garbage in a header is expected while an untethered reader is being lapped; otherwise the
        // ring is corrupt.
        if (validate && this.lapped(position)) {
          if (this.wiped()) return this.endAfterWipe();
          this.resync();
          skips++;
          continue;
        }
        if (this.wiped()) return this.endAfterWipe();
        throw this.corrupt(position, payloadLength, type);
      }
      if (type === L.RecordType.PADDING) {
        this.advance(position, length);
        skips++;
        continue;
      }
      const payloadOffset = offset + L.RECORD_HEADER_LENGTH;
      if (validate) {
        if (this.scratch.length < payloadLength) this.scratch = new Uint8Array(Math.max(payloadLength, 256, this.scratch.length * 2));
        this.scratch.set(this.bytes.subarray(payloadOffset, payloadOffset + payloadLength));
        // A full fence between the copy's plain loads and the re-check (needed on arm64, free on x86 in
        // effect: a locked add on a private line).
        Atomics.add(this.fence, 0, 0);
        // SYNC POINT: pairs with RingWriter#raiseIntent. If the producer had not announced overwriting
        // this record by the time we finished copying, the copy is whole.
        if (this.lapped(position)) {
          if (this.wiped()) return this.endAfterWipe();
          this.resync();
          skips++;
          continue;
        }
      }
      this.lastWasCopy = validate;
      this.advance(position, length);
      // A copy lies at the start of the scratch buffer (payloadSource()).
      this.payloadOffset = validate ? 0 : payloadOffset;
      this.payloadLength = payloadLength;
      const sequence = sequenceOf(sequenceLow, sequenceHigh);
      this.sequence = sequence;
      this.resyncsInARow = 0;
      if (type === L.RecordType.END || type === L.RecordType.ABORT) {
        // END and ABORT carry the sequence the next message would have had; they are not messages, but
        // messages missed before them are still lost.
        if (this.hasSequence && sequence > this.expectedSequence) this.lost += sequence - this.expectedSequence;
        this.expectedSequence = sequence;
        this.hasSequence = true;
        return type;
      }
      if (this.hasSequence && sequence > this.expectedSequence) this.lost += sequence - this.expectedSequence;
      this.expectedSequence = sequence + 1;
      this.hasSequence = true;
      this.received += 1;
      return type;
    }
    // Lapped again and again within this call: a producer that laps the ring faster than we take a step
    // (a C producer fills a 16 KiB ring in ~2 µs). Each resync may land on a padding record (OLDEST is
    // often the padding before the wrap), so many paddings in one call are legitimate here: a ring can
    // never show two paddings without a resync between them (a padding is valid only in the second half
    // of the ring, and the record after it starts at offset 0). Nothing is wrong with the ring: give up
    // this call, read on at the next (the loss is counted when a record is delivered).
    return NOTHING;
  }

  /** See `evicted`. */
  noteEvicted(): void {
    this.evicted = true;
    this.validates = true;
  }

  /**
   * The tethered fast path of a batch read (Consumer#poll): hands up to `limit` message records, from
   * one load of the tail, to `handler(ringBytes, payloadOffset, length, sequence, type)`, with the same checks
   * of everything read from shared memory as read(), fewer calls, and nothing allocated. Stops at the
   * tail, at `limit`, or before any record that is not a plain message (padding at the wrap is skipped;
   * END, ABORT, anything invalid is left for read() to handle and report). Returns the messages handed
   * over, or -1 when read() must take the next step (an untethered or evicted reader, a tail that does
   * not add up).
   */
  readRun(handler: (bytes: Uint8Array, offset: number, length: number, sequence: number, type: number) => void, limit: number): number {
    if (this.validates || (this.words[FLAGS_I32] & L.FLAG_WIPE_ON_CLOSE) !== 0) return -1;
    let position = this.position;
    let tail = this.cachedTail;
    if (position === tail) {
      this.release();
      // SYNC POINT: acquire. Pairs with RingWriter#flush's Atomics.store of PUBLISHED_TAIL.
      tail = this.cachedTail = Atomics.load(this.words, PUBLISHED_TAIL_I32);
      if (position === tail) return 0;
    }
    const available = distance(tail, position);
    if (available < 0 || available > this.capacity || ((position | tail) & ALIGNMENT_MASK) !== 0) return -1;
    const { data, bytes, capacity, mask, maxMessageLength } = this;
    let delivered = 0;
    while (delivered < limit && position !== tail) {
      const offset = position & mask;
      const index = offset >> 2;
      const payloadLength = data[index + RECORD_LENGTH_I32];
      const type = data[index + RECORD_TYPE_I32];
      const left = distance(tail, position);
      if (type === L.RecordType.PADDING) {
        const length = capacity - offset;
        if (payloadLength !== length - L.RECORD_HEADER_LENGTH || length > left) break;
        this.advance(position, length);
        position = this.position;
        continue;
      }
      if ((type !== L.RecordType.MESSAGE && type !== L.RecordType.BYTES) || payloadLength < 0 || payloadLength > maxMessageLength) break;
      const length = L.recordLength(payloadLength);
      if (offset + length > capacity || length > left) break;
      const sequence = sequenceOf(data[index + RECORD_SEQUENCE_I32], data[index + RECORD_SEQUENCE_HIGH_I32]);
      if (this.hasSequence && sequence > this.expectedSequence) this.lost += sequence - this.expectedSequence;
      this.expectedSequence = sequence + 1;
      this.hasSequence = true;
      this.sequence = sequence;
      this.received += 1;
      this.advance(position, length);
      position = this.position;
      this.lastWasCopy = false;
      this.payloadOffset = offset + L.RECORD_HEADER_LENGTH;
      this.payloadLength = payloadLength;
      delivered++;
      // State first: a handler that throws has still read its message.
      handler(bytes, offset + L.RECORD_HEADER_LENGTH, payloadLength, sequence, type);
      if (distance(this.position, this.publishedHead) >= this.releaseEvery) this.release();
      position = this.position;
    }
    this.resyncsInARow = 0;
    return delivered;
  }

  /** Whether the producer wiped the data region on close (FLAGS bit WIPED). */
  private wiped(): boolean {
    return (Atomics.load(this.words, FLAGS_I32) & L.FLAG_WIPED) !== 0;
  }

  /**
   * The producer closed with wipeOnClose while we had not read everything: what we had not read is gone.
   * Count it as lost and end the stream, rather than reporting the zeroed memory as corruption.
   */
  /** The last END returned was not a record but the end of a wiped ring (endAfterWipe). */
  wipedEnd = false;

  private endAfterWipe(): number {
    this.wipedEnd = true;
    const next = loadPairNumber(this.words, NEXT_SEQUENCE_I32);
    if (this.hasSequence && next > this.expectedSequence) this.lost += next - this.expectedSequence;
    this.expectedSequence = next;
    this.positionHigh = loadPair(this.words, PUBLISHED_TAIL_I32, this.pairLow);
    this.position = this.cachedTail = this.pairLow[0];
    this.payloadLength = 0;
    this.payloadOffset = 0;
    this.lastWasCopy = false;
    return L.RecordType.END;
  }

  /**
   * Whether the record at `position` (whose high word is positionHigh: position is this.position) is no
   * longer safe to read: the producer may be overwriting it. Compared as 64-bit positions, so a reader
   * stalled while any number of laps passed still sees that it was lapped.
   */
  private lapped(position: number): boolean {
    const intentHigh = loadPair(this.words, TAIL_INTENT_I32, this.pairLow);
    return distance64(this.pairLow[0], intentHigh, position, this.positionHigh) > this.capacity;
  }

  /** Moves past a record of `length` bytes at `position` (this.position), carrying into the high word. */
  private advance(position: number, length: number): void {
    const next = (position + length) | 0;
    if (next >>> 0 < position >>> 0) this.positionHigh = (this.positionHigh + 1) | 0;
    this.position = next;
  }


  /**
   * Lapped: jump to the oldest record the producer still guarantees, or to the tail when even that keeps
   * escaping us. Loss is counted from the sequence numbers of the next record delivered, so it is exact.
   */
  private resync(): void {
    this.laps += 1;
    this.resyncsInARow += 1;
    const oldestHigh = loadPair(this.words, OLDEST_POSITION_I32, this.pairLow);
    const oldest = this.pairLow[0];
    const tailHigh = loadPair(this.words, PUBLISHED_TAIL_I32, this.pairLow);
    const tail = this.pairLow[0];
    const ahead = distance64(tail, tailHigh, oldest, oldestHigh);
    const usable =
      ahead >= 0 &&
      ahead <= this.capacity &&
      distance64(oldest, oldestHigh, this.position, this.positionHigh) > 0 &&
      (oldest & ALIGNMENT_MASK) === 0;
    if (usable && this.resyncsInARow < MAX_RESYNCS) {
      this.position = oldest;
      this.positionHigh = oldestHigh;
    } else {
      this.position = tail;
      this.positionHigh = tailHigh;
    }
    this.cachedTail = tail;
  }

  /**
   * Publishes our head, so a tethered producer may reuse everything before it, and wakes the producer if
   * it is asleep waiting for space.
   */
  release(): void {
    if (this.headIndex < 0 || this.evicted || this.position === this.publishedHead) return;
    if (this.ownerPid !== 0 && slotOwner(this.memory, this.slot) !== this.ownerPid) {
      this.noteEvicted();
      return;
    }
    this.publishedHead = this.position;
    publishSlotCounters(this.memory, this.slot, this.received, this.lost);
    // The high word first: the producer reads only the low word; tools read both.
    Atomics.store(this.consumerWords, this.headIndex + 1, this.positionHigh);
    // SYNC POINT: pairs with RingWriter#refreshLimit's Atomics.load of the head: once visible, the
    // producer may overwrite everything before it, so it is stored only after we are done with it.
    Atomics.store(this.consumerWords, this.headIndex, this.position);
    this.wakeProducer();
  }

  /**
   * Wakes the producer if it sleeps for space; called after anything that may free space (a new head,
   * a slot given up). SYNC POINT: Dekker pair with the producer's sleep (store PRODUCER_WAITING, then
   * rescan heads). The exchange lets one consumer, not every consumer that releases meanwhile, pay for
   * the wake; it wakes every waiter (a 'drain' wait and a sendSync may both sleep on SPACE_WAKE).
   */
  wakeProducer(): void {
    if (!this.readOnly) signalSpaceIfWaiting(this.memory);
  }


  /**
   * Announces that we are about to sleep. Returns the tail value to sleep on, or undefined when data
   * arrived meanwhile (then read instead).
   */
  prepareToSleep(): number | undefined {
    if (this.announceSleep()) this.fenceProducers();
    return this.recheckBeforeSleep();
  }

  /**
   * The first half of prepareToSleep, for callers that sleep on several rings at once (the Selector): sets
   * DATA_WAITERS and returns whether this ring's producer needs our membarrier before the re-check, so that
   * one call covers every ring.
   */
  announceSleep(): boolean {
    this.sleepUnguarded = false;
    if (this.readOnly) return false;
    this.release();
    // A flag, not a count: the producer clears it when it wakes everyone, so it wakes at most twice per
    // sleep (RingWriter#flush's trailing wake), not once per message while we are still waking up; and a
    // consumer that dies asleep leaves at most two spare wakes behind.
    Atomics.store(this.consumerWords, DATA_WAITERS_CI32, 1);
    // SYNC POINT: a producer that publishes with a release store (PublishFence.MEMBARRIER: the C producer)
    // has no barrier between its tail store and its load of DATA_WAITERS; membarrier puts one there, after
    // our announcement and before our re-check (docs/protocol.md, "The publish fence"). Read after the
    // announcement, so a producer setting the word now sees the announcement instead. Any value but FULL
    // asks for the fence: a damaged word, or a later kind of producer, costs a system call, not a wake.
    return Atomics.load(this.words, PRODUCER_PUBLISH_FENCE_I32) !== L.PublishFence.FULL;
  }

  /**
   * The membarrier that announceSleep asked for. Returns false when the kernel refused it: then no wake can
   * be trusted for this sleep (sleepUnguarded).
   */
  fenceProducers(): boolean {
    const fenced = fenceRegisteredProcesses();
    this.sleepUnguarded = !fenced;
    return fenced;
  }

  /** The second half of prepareToSleep: the tail to sleep on, or undefined when data arrived meanwhile. */
  recheckBeforeSleep(): number | undefined {
    // SYNC POINT: Dekker pair with RingWriter#flush (store PUBLISHED_TAIL, then exchange DATA_WAITERS).
    const tail = Atomics.load(this.words, PUBLISHED_TAIL_I32);
    return tail === this.position ? tail : undefined;
  }

  /** Byte offset of the futex word consumers sleep on. */
  static readonly WAKE_WORD_OFFSET = PUBLISHED_TAIL_I32 << 2;

  private corrupt(position: number, payloadLength: number, type: number): ShmRingError {
    return new ShmRingError(
      'CORRUPT_SEGMENT',
      `${this.memory.name} has a corrupt record at position ${position >>> 0} (type ${type}, length ${payloadLength})`,
      {
        segment: this.memory.name,
        hint: 'Something other than its producer wrote into the ring. `npx shmring inspect` shows it; restart the producer to replace the ring.',
      },
    );
  }
}
