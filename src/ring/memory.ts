/**
 * Typed views over one ring's mappings, made once and shared by the writer, the readers and the slot
 * registry of that ring, and the helpers for the 64-bit words of the layout.
 *
 * The control region is seen through two sets of views: `controlI32`/`controlF64` over all of it (a
 * consumer maps it read-only: the producer's page cannot be written through it), and
 * `consumerI32`/`consumerF64` over the consumers' pages only (read-write for producer and consumers).
 * Indexes ending in `_I32`/`_F64` are for the first, `_CI32`/`_CF64` for the second.
 */
import type { RingGeometry } from './header';
import * as L from './layout';

export class RingMemory {
  readonly controlI32: Int32Array;
  readonly controlF64: Float64Array;
  /** The consumers' pages (from CONSUMER_REGION_OFFSET), writable by consumers. */
  readonly consumerI32: Int32Array;
  readonly consumerF64: Float64Array;
  /** The mapping behind consumerI32 and the byte offset of the consumers' pages in it (for futex calls). */
  readonly consumerBuffer: ArrayBuffer;
  readonly consumerByteOffset: number;
  readonly dataBytes: Uint8Array;
  readonly dataI32: Int32Array;
  readonly capacity: number;
  readonly mask: number;
  /** 64-bit view of the control region, for the rare store of a position pair whose high word changes. */
  private readonly controlI64: BigInt64Array;

  constructor(
    readonly name: string,
    readonly geometry: RingGeometry,
    readonly control: ArrayBuffer,
    readonly data: ArrayBuffer,
    /** A separate writable mapping of the consumers' pages (consumers); omitted when `control` is writable. */
    consumerPages?: ArrayBuffer,
  ) {
    this.controlI32 = new Int32Array(control, 0, geometry.controlLength >> 2);
    this.controlF64 = new Float64Array(control, 0, geometry.controlLength >> 3);
    this.controlI64 = new BigInt64Array(control, 0, L.CONSUMER_REGION_OFFSET >> 3);
    this.consumerBuffer = consumerPages ?? control;
    this.consumerByteOffset = consumerPages ? 0 : L.CONSUMER_REGION_OFFSET;
    const consumerLength = geometry.controlLength - L.CONSUMER_REGION_OFFSET;
    this.consumerI32 = new Int32Array(this.consumerBuffer, this.consumerByteOffset, consumerLength >> 2);
    this.consumerF64 = new Float64Array(this.consumerBuffer, this.consumerByteOffset, consumerLength >> 3);
    this.dataBytes = new Uint8Array(data, 0, geometry.capacity);
    this.dataI32 = new Int32Array(data, 0, geometry.capacity >> 2);
    this.capacity = geometry.capacity;
    this.mask = geometry.capacity - 1;
  }

  /**
   * Stores the 64-bit pair (low, high) at `lowIndex` as one atomic 64-bit store, so a reader never sees
   * a low word of one value with the high word of another. Used only when the high word changes (once
   * per 4 GiB of positions); otherwise storing the low word alone is the same 64-bit value.
   */
  storePair(lowIndex: number, low: number, high: number): void {
    Atomics.store(this.controlI64, lowIndex >> 1, (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0));
  }
}

// Indexes of the words the hot paths touch, as Int32Array / Float64Array indexes into the control region.
export const FLAGS_I32 = L.FLAGS_OFFSET >> 2;
export const PUBLISHED_TAIL_I32 = L.PUBLISHED_TAIL_OFFSET >> 2;
export const PUBLISHED_TAIL_HIGH_I32 = L.PUBLISHED_TAIL_HIGH_OFFSET >> 2;
export const TAIL_INTENT_I32 = L.TAIL_INTENT_OFFSET >> 2;
export const TAIL_INTENT_HIGH_I32 = L.TAIL_INTENT_HIGH_OFFSET >> 2;
export const OLDEST_POSITION_I32 = L.OLDEST_POSITION_OFFSET >> 2;
export const OLDEST_POSITION_HIGH_I32 = L.OLDEST_POSITION_HIGH_OFFSET >> 2;
export const NEXT_SEQUENCE_I32 = L.NEXT_SEQUENCE_OFFSET >> 2;
export const NEXT_SEQUENCE_HIGH_I32 = L.NEXT_SEQUENCE_HIGH_OFFSET >> 2;
export const PRODUCER_PID_I32 = L.PRODUCER_PID_OFFSET >> 2;
export const PRODUCER_STATE_I32 = L.PRODUCER_STATE_OFFSET >> 2;
export const PRODUCER_EPOCH_I32 = L.PRODUCER_EPOCH_OFFSET >> 2;
export const PRODUCER_PUBLISH_FENCE_I32 = L.PRODUCER_PUBLISH_FENCE_OFFSET >> 2;
export const PRODUCER_START_TIME_F64 = L.PRODUCER_START_TIME_OFFSET >> 3;
export const PRODUCER_PID_NAMESPACE_F64 = L.PRODUCER_PID_NAMESPACE_OFFSET >> 3;
export const MESSAGES_SENT_F64 = L.MESSAGES_SENT_OFFSET >> 3;
export const BYTES_SENT_F64 = L.BYTES_SENT_OFFSET >> 3;
export const PRODUCER_STALLS_F64 = L.PRODUCER_STALLS_OFFSET >> 3;
export const WAKES_SENT_F64 = L.WAKES_SENT_OFFSET >> 3;
export const CONSUMERS_RECLAIMED_F64 = L.CONSUMERS_RECLAIMED_OFFSET >> 3;
export const TAKEOVERS_F64 = L.TAKEOVERS_OFFSET >> 3;
export const LAST_SEND_AT_MS_F64 = L.LAST_SEND_AT_MS_OFFSET >> 3;

// Indexes into consumerI32 (the consumers' pages).
export const DATA_WAITERS_CI32 = (L.DATA_WAITERS_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2;
export const PRODUCER_WAITING_CI32 = (L.PRODUCER_WAITING_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2;
export const SPACE_WAKE_CI32 = (L.SPACE_WAKE_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2;

export const RECORD_LENGTH_I32 = L.RECORD_LENGTH_OFFSET >> 2;
export const RECORD_TYPE_I32 = L.RECORD_TYPE_OFFSET >> 2;
export const RECORD_SEQUENCE_I32 = L.RECORD_SEQUENCE_OFFSET >> 2;
export const RECORD_SEQUENCE_HIGH_I32 = L.RECORD_SEQUENCE_HIGH_OFFSET >> 2;

/**
 * `a - b` for the low words of two positions (or sequences) known to be less than 2^31 apart: positive
 * when a is ahead of b. Only for positions whose nearness is guaranteed (a tethered reader, the
 * producer's own words); anything else compares 64-bit values with distance64.
 */
export function distance(a: number, b: number): number {
  return (a - b) | 0;
}

/** `a - b` for 64-bit positions given as (low, high) word pairs: exact below 2^53, never aliased. */
export function distance64(aLow: number, aHigh: number, bLow: number, bHigh: number): number {
  return ((aHigh >>> 0) - (bHigh >>> 0)) * L.HIGH_WORD + ((aLow >>> 0) - (bLow >>> 0));
}

/**
 * The high word of the position whose low word is `low` and which lies less than 2^31 from the position
 * (refLow, refHigh): e.g. a record end computed from a tail, or an intent a chunk ahead of it.
 */
export function highNear(low: number, refLow: number, refHigh: number): number {
  const sum = (refLow >>> 0) + ((low - refLow) | 0);
  return sum < 0 ? (refHigh - 1) | 0 : sum >= L.HIGH_WORD ? (refHigh + 1) | 0 : refHigh | 0;
}

/** A sequence number as a Number from its words (exact below 2^53: 9.5 years at 30 M messages/s). */
export function sequenceOf(low: number, high: number): number {
  return (high >>> 0) * L.HIGH_WORD + (low >>> 0);
}

/**
 * Loads the high word of a 64-bit pair consistently with its low word, which it stores in `out[0]`;
 * returns the high word. The producer stores each pair as one 64-bit value that only grows, so when the
 * high word read before and after the low word is the same, the two words are one value the pair really
 * had. Bounded: a pair that keeps changing its high word (only a hostile writer could) gives the last read.
 */
export function loadPair(words: Int32Array, lowIndex: number, out: Int32Array): number {
  let high = Atomics.load(words, lowIndex + 1);
  for (let attempt = 0; attempt < 64; attempt++) {
    out[0] = Atomics.load(words, lowIndex);
    const again = Atomics.load(words, lowIndex + 1);
    if (again === high) break;
    high = again;
  }
  return high;
}

/** Loads a 64-bit pair consistently (see loadPair) and returns it as a Number (exact below 2^53). */
export function loadPairNumber(words: Int32Array, lowIndex: number): number {
  const low = new Int32Array(1);
  const high = loadPair(words, lowIndex, low);
  return sequenceOf(low[0], high);
}

/** The low word of a sequence number given as a Number. */
export function sequenceLow(sequence: number): number {
  return sequence | 0;
}

/** The high word of a sequence number given as a Number. */
export function sequenceHigh(sequence: number): number {
  return (sequence / L.HIGH_WORD) | 0;
}
