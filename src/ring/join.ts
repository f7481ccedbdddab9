/** Where a consumer that joins a ring starts reading, fixed so that it never races the producer. */
import {
  distance64,
  loadPair,
  loadPairNumber,
  NEXT_SEQUENCE_I32,
  OLDEST_POSITION_I32,
  PUBLISHED_TAIL_I32,
  RingMemory,
  TAIL_INTENT_I32,
} from './memory';
import { setSlotHead } from './slots';

export interface JoinPoint {
  /** Position to start at: low and high words. */
  start: number;
  startHigh: number;
  /** Sequence number of the record at `start`, when known. */
  sequence: number | undefined;
}

/**
 * Where a new consumer starts. Joining at 'next', the tail and the sequence number published with it
 * are read together (the tail read twice, unchanged, around the sequence), so that a consumer lapped
 * before its first read still counts what it missed. The producer stores the sequence before the tail,
 * so in a race with a publish the sequence can be ahead by that publish's messages (one, or a batch): then
 * that many losses go uncounted if the consumer is lapped before its first read, never an
 * invented one. Joining at 'oldest', the sequence is learnt from the first record read.
 */
export function joinPoint(memory: RingMemory, from: 'next' | 'oldest'): JoinPoint {
  const words = memory.controlI32;
  const low = new Int32Array(1);
  if (from === 'oldest') {
    const startHigh = loadPair(words, OLDEST_POSITION_I32, low);
    return { start: low[0], startHigh, sequence: undefined };
  }
  let startHigh = loadPair(words, PUBLISHED_TAIL_I32, low);
  let start = low[0];
  for (let attempt = 0; attempt < 16; attempt++) {
    const sequence = loadPairNumber(words, NEXT_SEQUENCE_I32);
    const againHigh = loadPair(words, PUBLISHED_TAIL_I32, low);
    if (low[0] === start && againHigh === startHigh) return { start, startHigh, sequence };
    start = low[0];
    startHigh = againHigh;
  }
  return { start, startHigh, sequence: undefined };
}

/**
 * Fixes where a consumer that has just claimed its slot starts, so that a tethered one never needs to
 * check a record for being overwritten: the head is stored first, then TAIL_INTENT is loaded (the Dekker
 * pair with RingWriter#raiseIntent, which stores TAIL_INTENT, then rescans the heads). If the producer
 * may already write past our head + capacity, we start further on (nothing has been read yet, so this
 * loses nothing: the join simply happened later).
 *
 * Moving the head can free space a producer is waiting for: the caller wakes it (RingReader#wakeProducer)
 * once the reader exists.
 */
export function settleJoin(memory: RingMemory, slot: number, from: 'next' | 'oldest'): JoinPoint {
  const words = memory.controlI32;
  const low = new Int32Array(1);
  let join = joinPoint(memory, from);
  for (let attempt = 0; attempt < 16; attempt++) {
    if (slot >= 0) setSlotHead(memory, slot, join.start, join.startHigh);
    const intentHigh = loadPair(words, TAIL_INTENT_I32, low);
    if (distance64(low[0], intentHigh, join.start, join.startHigh) <= memory.capacity) return join;
    join = joinPoint(memory, attempt < 8 ? from : 'next');
  }
  return join;
}
