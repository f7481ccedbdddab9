/**
 * What the in-process `mutants-*` tests of the ring share: one small ring geometry and its messages, and a
 * way to reach an endpoint's mapping (to write damage, or read a word, at offsets named in layout.ts).
 */
import type { Consumer, Producer } from '../../src';
import * as L from '../../src/ring/layout';
import type { RingMemory } from '../../src/ring/memory';

export const CAPACITY = 4096;
export const MAX_CONSUMERS = 4;
/** 48-byte payloads: 64-byte records, 64 to a ring. */
export const PAYLOAD = 48;
export const RECORD = L.recordLength(PAYLOAD);
export const PER_RING = CAPACITY / RECORD;

/** Message n: PAYLOAD bytes, each n & 255. */
export function message(n: number): Uint8Array {
  return new Uint8Array(PAYLOAD).fill(n & 255);
}

/** The ring mapping of a producer or consumer (a private field: these tests read and damage its words). */
export function memoryOf(endpoint: Producer | Consumer): RingMemory {
  return (endpoint as unknown as { memory: RingMemory }).memory;
}
