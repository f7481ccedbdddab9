/** wipeOnClose: zeroing the data region on close, so no message outlives the producer in memory. */
import * as L from './layout';
import { FLAGS_I32, highNear, RingMemory, TAIL_INTENT_I32 } from './memory';
import { announceSpaceWait, sleepForSpace, withdrawSpaceWait } from './space-wait';
import type { RingWriter } from './writer';

/**
 * Zeroes the data region, after giving tethered consumers up to `drainMs` to read what they were
 * promised. Whatever is still unread is announced first (FLAGS bit WIPED, and TAIL_INTENT a full ring
 * ahead so untethered readers see themselves lapped): readers count it as lost and end, instead of taking
 * zeroed memory for corruption. `reclaimDead` frees the slots of consumers that were killed (the producer's
 * own reclaim, which counts them), so the drain does not wait for them.
 */
export function wipeData(memory: RingMemory, writer: RingWriter, drainMs: number, reclaimDead: () => void): void {
  const deadline = Date.now() + drainMs;
  let lastReclaim = 0;
  for (;;) {
    const ticket = announceSpaceWait(memory);
    // A tethered consumer that was killed reads nothing more: free its slot rather than wait for it (at
    // once, then every 100 ms).
    if (Date.now() - lastReclaim >= 100) {
      lastReclaim = Date.now();
      reclaimDead();
    }
    writer.refreshLimit();
    if (writer.freeBytes >= memory.capacity || Date.now() >= deadline) break;
    sleepForSpace(memory, ticket, 5);
  }
  withdrawSpaceWait(memory);
  Atomics.or(memory.controlI32, FLAGS_I32, L.FLAG_WIPED);
  const tail = writer.committedTail;
  const intent = (tail + memory.capacity + L.RECORD_ALIGNMENT) | 0;
  memory.storePair(TAIL_INTENT_I32, intent, highNear(intent, tail, writer.committedTailHigh));
  memory.dataBytes.fill(0);
}
