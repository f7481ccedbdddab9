/** Where a consumer that joins a ring starts reading, fixed so that it never races the producer. */
import {
  distance,
  NEXT_SEQUENCE_I32,
  OLDEST_POSITION_I32,
  PUBLISHED_TAIL_I32,
  RingMemory,
  TAIL_INTENT_I32,
} from './memory';
import { setSlotHead } from './slots';

/**
 * Where a new consumer starts. Joining at 'next', the tail and the sequence number published with it
 * are read together (the tail read twice, unchanged, around the sequence), so that a consumer lapped
 * before its first read still counts what it missed. The producer stores the sequence before the tail,
 * so in a race with a publish the sequence can be one ahead: then one loss goes uncounted, never an
 * invented one. Joining at 'oldest', the sequence is learnt from the first record read.
 */
export function joinPoint(memory: RingMemory, from: 'next' | 'oldest'): { start: number; sequence: number | undefined } {
  const words = memory.controlI32;
  if (from === 'oldest') return { start: Atomics.load(words, OLDEST_POSITION_I32), sequence: undefined };
  let start = Atomics.load(words, PUBLISHED_TAIL_I32);
  for (let attempt = 0; attempt < 16; attempt++) {
    const sequence = Atomics.load(words, NEXT_SEQUENCE_I32);
    const again = Atomics.load(words, PUBLISHED_TAIL_I32);
    if (again === start) return { start, sequence };
    start = again;
  }
  return { start, sequence: undefined };
}

/**
 * Fixes where a consumer that has just claimed its slot starts, so that a tethered one never needs to
 * check a record for being overwritten: the head is stored first, then TAIL_INTENT is loaded (the Dekker
 * pair with RingWriter#raiseIntent, which stores TAIL_INTENT, then rescans the heads). If the producer
 * may already write past our head + capacity, we start further on (nothing has been read yet, so this
 * loses nothing: the join simply happened later).
 */
export function settleJoin(memory: RingMemory, slot: number, from: 'next' | 'oldest'): { start: number; sequence: number | undefined } {
  const words = memory.controlI32;
  let join = joinPoint(memory, from);
  for (let attempt = 0; attempt < 16; attempt++) {
    if (slot >= 0) setSlotHead(memory, slot, join.start);
    if (distance(Atomics.load(words, TAIL_INTENT_I32), join.start) <= memory.capacity) return join;
    join = joinPoint(memory, attempt < 8 ? from : 'next');
  }
  return join;
}

