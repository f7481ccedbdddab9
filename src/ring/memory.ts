/**
 * Typed views over one ring's two mappings (control region, data region), made once and shared by the
 * writer, the readers and the slot registry of that ring.
 */
import type { RingGeometry } from './header';
import * as L from './layout';

export class RingMemory {
  readonly controlI32: Int32Array;
  readonly controlF64: Float64Array;
  readonly dataBytes: Uint8Array;
  readonly dataI32: Int32Array;
  readonly capacity: number;
  readonly mask: number;

  constructor(
    readonly name: string,
    readonly geometry: RingGeometry,
    readonly control: ArrayBuffer,
    readonly data: ArrayBuffer,
  ) {
    this.controlI32 = new Int32Array(control, 0, geometry.controlLength >> 2);
    this.controlF64 = new Float64Array(control, 0, geometry.controlLength >> 3);
    this.dataBytes = new Uint8Array(data, 0, geometry.capacity);
    this.dataI32 = new Int32Array(data, 0, geometry.capacity >> 2);
    this.capacity = geometry.capacity;
    this.mask = geometry.capacity - 1;
  }
}

// Indexes of the words the hot paths touch, as Int32Array / Float64Array indexes into the control region.
export const FLAGS_I32 = L.FLAGS_OFFSET >> 2;
export const PUBLISHED_TAIL_I32 = L.PUBLISHED_TAIL_OFFSET >> 2;
export const TAIL_INTENT_I32 = L.TAIL_INTENT_OFFSET >> 2;
export const OLDEST_POSITION_I32 = L.OLDEST_POSITION_OFFSET >> 2;
export const NEXT_SEQUENCE_I32 = L.NEXT_SEQUENCE_OFFSET >> 2;
export const DATA_WAITERS_I32 = L.DATA_WAITERS_OFFSET >> 2;
export const PRODUCER_WAITING_I32 = L.PRODUCER_WAITING_OFFSET >> 2;
export const SPACE_WAKE_I32 = L.SPACE_WAKE_OFFSET >> 2;
export const PRODUCER_PID_I32 = L.PRODUCER_PID_OFFSET >> 2;
export const PRODUCER_STATE_I32 = L.PRODUCER_STATE_OFFSET >> 2;
export const PRODUCER_EPOCH_I32 = L.PRODUCER_EPOCH_OFFSET >> 2;
export const PRODUCER_START_TIME_F64 = L.PRODUCER_START_TIME_OFFSET >> 3;
export const PRODUCER_PID_NAMESPACE_F64 = L.PRODUCER_PID_NAMESPACE_OFFSET >> 3;
export const MESSAGES_SENT_F64 = L.MESSAGES_SENT_OFFSET >> 3;
export const BYTES_SENT_F64 = L.BYTES_SENT_OFFSET >> 3;
export const PRODUCER_STALLS_F64 = L.PRODUCER_STALLS_OFFSET >> 3;
export const WAKES_SENT_F64 = L.WAKES_SENT_OFFSET >> 3;
export const CONSUMERS_RECLAIMED_F64 = L.CONSUMERS_RECLAIMED_OFFSET >> 3;
export const TAKEOVERS_F64 = L.TAKEOVERS_OFFSET >> 3;
export const LAST_SEND_AT_MS_F64 = L.LAST_SEND_AT_MS_OFFSET >> 3;

export const RECORD_LENGTH_I32 = L.RECORD_LENGTH_OFFSET >> 2;
export const RECORD_TYPE_I32 = L.RECORD_TYPE_OFFSET >> 2;
export const RECORD_SEQUENCE_I32 = L.RECORD_SEQUENCE_OFFSET >> 2;
export const RECORD_RESERVED_I32 = L.RECORD_RESERVED_OFFSET >> 2;

/** `a - b` for 32-bit positions that wrap: positive when a is ahead of b (valid while |a - b| < 2^31). */
export function distance(a: number, b: number): number {
  return (a - b) | 0;
}
