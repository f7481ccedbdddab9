/**
 * The segment layout: every offset, length, magic and version of a shmring segment, defined once.
 *
 * A segment is a control region (a whole number of pages) followed by the data region (the ring of
 * records; `capacity` bytes, a power of two). The control region has two parts, each starting on a page:
 * - the producer's page (header, producer identity, positions, counters): written only by the producer;
 *   consumers map it read-only, so no consumer can move the tail, the intent or the oldest position;
 * - the consumers' pages (sleep flags, the producer's space wake word, consumer slots): written by
 *   consumers and the producer. Consumers map these read-write, and the data region read-only.
 *
 * Naming: `_OFFSET` is bytes from the start of the segment (record fields: from the start of the record;
 * slot fields: from the start of the slot), `_LENGTH` is bytes, `_I32` and `_F64` are indexes into an
 * `Int32Array` / `Float64Array` over the control region.
 *
 * A *position* counts bytes ever written and is 64 bits: a low word (`_OFFSET`, also the futex word where
 * there is one) and a high word (`_HIGH_OFFSET`, the next 4 bytes), so the pair is one little-endian
 * 64-bit value that the producer updates atomically. Positions never alias: two positions are compared
 * with their high words, whatever the gap. An *offset* is `position & (capacity - 1)`. Sequence numbers
 * are 64-bit the same way.
 *
 * docs/protocol.md draws this layout; test/layout.test.ts checks that the two agree.
 */

export const CACHE_LINE_LENGTH = 64;
/** Hot words get a block of two cache lines: adjacent-line prefetch makes 64 B too small to avoid false sharing. */
export const BLOCK_LENGTH = 2 * CACHE_LINE_LENGTH;
export const PAGE_LENGTH = 4096;

/** "shmring\0" in ASCII: the first 8 bytes of every segment. */
export const MAGIC = Uint8Array.of(0x73, 0x68, 0x6d, 0x72, 0x69, 0x6e, 0x67, 0x00);
/** Bumped on any incompatible change to this file. 0 in the segment means "still being initialised". */
export const LAYOUT_VERSION = 2;

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

// ---------------------------------------------------------------------------------------------------
// Control region, the producer's page. Offsets are bytes from the start of the segment.
// ---------------------------------------------------------------------------------------------------
let offset = 0;

// Block 0: written once by the creator, read by everyone. The version word is written last.
export const MAGIC_OFFSET = offset; offset += 8;
export const LAYOUT_VERSION_OFFSET = offset; offset += 4;
export const CONTROL_LENGTH_OFFSET = offset; offset += 4;
export const CAPACITY_OFFSET = offset; offset += 4;
export const MAX_MESSAGE_LENGTH_OFFSET = offset; offset += 4;
export const MAX_CONSUMERS_OFFSET = offset; offset += 4;
export const FLAGS_OFFSET = offset; offset += 4;
export const CREATOR_PID_OFFSET = offset; offset += 4;
offset += 4; // keeps the f64 fields 8-byte aligned
export const CREATOR_START_TIME_OFFSET = offset; offset += 8;
export const CREATED_AT_MS_OFFSET = offset; offset += 8;
export const CREATOR_PID_NAMESPACE_OFFSET = offset; offset += 8;
/** 16 random bytes chosen at creation: names this instance of the ring (not changed by a takeover). */
export const RING_ID_OFFSET = offset; offset += 16;
export const RING_ID_LENGTH = 16;
export const HEADER_LENGTH = offset;

// Block 1: the producer's identity. PRODUCER_PID is the producer lock (0 = no producer; claimed by CAS).
offset = alignUp(offset, BLOCK_LENGTH);
export const PRODUCER_PID_OFFSET = offset; offset += 4;
export const PRODUCER_STATE_OFFSET = offset; offset += 4;
export const PRODUCER_EPOCH_OFFSET = offset; offset += 4;
/**
 * PublishFence: how the producer orders its store of PUBLISHED_TAIL before its load of DATA_WAITERS, and so
 * what a consumer must do between its store of DATA_WAITERS and its re-check of the tail before it sleeps.
 * Set by every producer (create and takeover) before its first publish (docs/protocol.md, "Sleeping and
 * waking"). Zero (FULL) in rings made by builds before it: padding there.
 */
export const PRODUCER_PUBLISH_FENCE_OFFSET = offset; offset += 4;
export const PRODUCER_START_TIME_OFFSET = offset; offset += 8;
export const PRODUCER_PID_NAMESPACE_OFFSET = offset; offset += 8;

// Block 2: positions the producer publishes, read by every consumer on its hot path. Each is a 64-bit
// pair (low word, then high word).
offset = alignUp(offset, BLOCK_LENGTH);
/** Position just past the last committed record; its low word is the futex word consumers sleep on. */
export const PUBLISHED_TAIL_OFFSET = offset; offset += 4;
export const PUBLISHED_TAIL_HIGH_OFFSET = offset; offset += 4;
/** Position up to which the producer may be writing right now (raised before it overwrites anything). */
export const TAIL_INTENT_OFFSET = offset; offset += 4;
export const TAIL_INTENT_HIGH_OFFSET = offset; offset += 4;
/** Start of the oldest record that has not been overwritten. */
export const OLDEST_POSITION_OFFSET = offset; offset += 4;
export const OLDEST_POSITION_HIGH_OFFSET = offset; offset += 4;
/** Sequence number the next published record will carry (messages published since the ring was created). */
export const NEXT_SEQUENCE_OFFSET = offset; offset += 4;
export const NEXT_SEQUENCE_HIGH_OFFSET = offset; offset += 4;

// Block 3: counters (float64, exact to 2^53), written by the producer once per send with plain stores,
// read by tools without joining the ring.
offset = alignUp(offset, BLOCK_LENGTH);
export const MESSAGES_SENT_OFFSET = offset; offset += 8;
export const BYTES_SENT_OFFSET = offset; offset += 8;
export const PRODUCER_STALLS_OFFSET = offset; offset += 8;
export const WAKES_SENT_OFFSET = offset; offset += 8;
export const CONSUMERS_RECLAIMED_OFFSET = offset; offset += 8;
export const TAKEOVERS_OFFSET = offset; offset += 8;
export const LAST_SEND_AT_MS_OFFSET = offset; offset += 8;
/** Doorbell writes the producer issued (unused padding before doorbells: additive, no version bump). */
export const BELLS_RUNG_OFFSET = offset; offset += 8;
export const PRODUCER_REGION_USED_LENGTH = offset;

// ---------------------------------------------------------------------------------------------------
// Control region, the consumers' pages: everything a consumer writes. From here to the end of the
// control region.
// ---------------------------------------------------------------------------------------------------
offset = PAGE_LENGTH;
export const CONSUMER_REGION_OFFSET = offset;

// Block 4: set by consumers when they go to sleep, cleared by the producer when it wakes them.
export const DATA_WAITERS_OFFSET = offset; offset += 4;

// Block 5: the producer's sleep for space (tethered consumers hold the ring full). An event count:
// the producer reads SPACE_WAKE, then sets PRODUCER_WAITING, re-checks, and sleeps on SPACE_WAKE; a
// consumer that may have freed space clears PRODUCER_WAITING and bumps SPACE_WAKE.
offset = alignUp(offset, BLOCK_LENGTH);
export const PRODUCER_WAITING_OFFSET = offset; offset += 4;
/** Futex word the producer sleeps on; a consumer that frees space while PRODUCER_WAITING is set bumps it. */
export const SPACE_WAKE_OFFSET = offset; offset += 4;

// Consumer slots: one block each, from here to the end of the control region.
offset = alignUp(offset, BLOCK_LENGTH);
export const SLOTS_OFFSET = offset;
export const SLOT_LENGTH = BLOCK_LENGTH;

// Fields of one consumer slot, as bytes from the start of the slot.
let field = 0;
/** SlotState: free or active (CLAIMING is reserved: a claimer holds the pid word while it fills the slot in). */
export const SLOT_STATE_OFFSET = field; field += 4;
/** Bit 0: tethered. */
export const SLOT_FLAGS_OFFSET = field; field += 4;
/** The consumer's published position (64-bit pair): everything before it may be overwritten (tethered). */
export const SLOT_HEAD_OFFSET = field; field += 4;
export const SLOT_HEAD_HIGH_OFFSET = field; field += 4;
export const SLOT_PID_OFFSET = field; field += 4;
/**
 * Doorbell flags (SLOT_BELL_*): padding in the first release of layout 2, used additively (a reader
 * that ignores it loses nothing: the producer still wakes the futex). See src/ring/bells.ts.
 */
export const SLOT_DOORBELL_OFFSET = field; field += 4;
export const SLOT_START_TIME_OFFSET = field; field += 8;
export const SLOT_PID_NAMESPACE_OFFSET = field; field += 8;
export const SLOT_RECEIVED_OFFSET = field; field += 8;
export const SLOT_LOST_OFFSET = field; field += 8;
export const SLOT_JOINED_AT_MS_OFFSET = field; field += 8;
export const SLOT_FIELDS_LENGTH = field;

export const SlotState = { FREE: 0, CLAIMING: 1, ACTIVE: 2 } as const;
export const SLOT_FLAG_TETHERED = 1;
/** SLOT_DOORBELL bit: the slot's consumer has a doorbell FIFO (src/ring/bells.ts names it). */
export const SLOT_BELL_PRESENT = 1;
/** SLOT_DOORBELL bit: the consumer sleeps on its doorbell; the producer clears it and rings the bell. */
export const SLOT_BELL_SLEEPING = 2;

/**
 * PRODUCER_STATE: ABORTED is CLOSED with an error (Producer#abort): consumers fail with PRODUCER_ABORTED
 * even when the ABORT record could not be written (a ring held full) or was wiped (wipeOnClose).
 */
export const ProducerState = { NONE: 0, LIVE: 1, CLOSED: 2, ABORTED: 3 } as const;

/**
 * PRODUCER_PUBLISH_FENCE values. FULL: the producer's publish is sequentially consistent (a full barrier
 * between the tail store and the DATA_WAITERS load: every TypeScript producer, whose Atomics are). MEMBARRIER:
 * the producer publishes with a release store and only a compiler barrier before the load (the C producer,
 * once registered for it), so a consumer about to sleep calls membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)
 * after announcing, which puts a full barrier into the producer wherever it runs: an asymmetric Dekker
 * handshake, the cost moved from every publish to every sleep.
 */
export const PublishFence = { FULL: 0, MEMBARRIER: 1 } as const;

/** FLAGS bit: the producer zeroed the data region on close (wipeOnClose); unread messages are gone. */
export const FLAG_WIPED = 1;
/**
 * FLAGS bit: the producer will zero the data region on close (wipeOnClose), set before its first publish.
 * Every reader of such a ring, tethered too, copies each record and checks it after the copy (TAIL_INTENT,
 * WIPED), as untethered readers do, so a reader still busy when the wipe comes never delivers zeroes.
 */
export const FLAG_WIPE_ON_CLOSE = 2;

/** Bytes of the control region for a ring with `maxConsumers` slots: a whole number of pages. */
export function controlLength(maxConsumers: number): number {
  return alignUp(SLOTS_OFFSET + maxConsumers * SLOT_LENGTH, PAGE_LENGTH);
}

export function slotOffset(index: number): number {
  return SLOTS_OFFSET + index * SLOT_LENGTH;
}

/** 2^32: the weight of a high word. */
export const HIGH_WORD = 4294967296;

// ---------------------------------------------------------------------------------------------------
// Data region: records. Offsets are bytes from the start of the record.
// ---------------------------------------------------------------------------------------------------
//   0        4        8        12       16
//   +--------+--------+--------+--------+------------------------------+---------+
//   | length |  type  | seq lo | seq hi | payload (length bytes)       | padding |
//   +--------+--------+--------+--------+------------------------------+---------+
// Every record starts and ends on a RECORD_ALIGNMENT boundary, so payloads are 16-byte aligned
// (Float64Array views work) and a padding record always fits in front of the wrap.
export const RECORD_LENGTH_OFFSET = 0;
export const RECORD_TYPE_OFFSET = 4;
export const RECORD_SEQUENCE_OFFSET = 8;
export const RECORD_SEQUENCE_HIGH_OFFSET = 12;
export const RECORD_HEADER_LENGTH = 16;
export const RECORD_ALIGNMENT = 16;

export const RecordType = {
  /** A MessagePack-encoded value (or another codec's bytes). */
  MESSAGE: 1,
  /** Raw bytes, no codec. */
  BYTES: 2,
  /** Fills the space before the wrap; skipped by consumers. */
  PADDING: 3,
  /** Written by Producer#close(): end of stream after everything before it. */
  END: 4,
  /**
   * Written by Producer#abort(reason): the stream ends with an error after everything before it. The
   * payload is UTF-8 JSON `{ "message": string, "code"?: string }`.
   */
  ABORT: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/** Bytes a record with `payloadLength` bytes of payload occupies in the ring. */
export function recordLength(payloadLength: number): number {
  // Bit arithmetic, not alignUp's division: this runs for every record on both sides. Callers validate
  // payloadLength (0..maxMessageLength) before trusting the result.
  return (RECORD_HEADER_LENGTH + payloadLength + (RECORD_ALIGNMENT - 1)) & ~(RECORD_ALIGNMENT - 1);
}

// ---------------------------------------------------------------------------------------------------
// Limits and defaults.
// ---------------------------------------------------------------------------------------------------
export const MIN_CAPACITY = PAGE_LENGTH;
/** Offsets within the ring are 32-bit signed arithmetic in the readers and the writer: at most 1 GiB. */
export const MAX_CAPACITY = 2 ** 30;
export const DEFAULT_CAPACITY = 2 ** 20;
export const MAX_CONSUMERS_LIMIT = 1024;
export const DEFAULT_MAX_CONSUMERS = 16;
/** A record may be at most half the ring, so a record and the padding before it always fit. */
export function maxMessageLengthLimit(capacity: number): number {
  return capacity / 2 - RECORD_HEADER_LENGTH;
}
export function defaultMaxMessageLength(capacity: number): number {
  return capacity / 4 - RECORD_HEADER_LENGTH;
}
