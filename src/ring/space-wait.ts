/**
 * The producer's sleep for space: an event count over the consumers' pages (PRODUCER_WAITING, SPACE_WAKE).
 *
 *   producer: ticket = load SPACE_WAKE; store PRODUCER_WAITING = 1; re-check the heads; sleep(ticket)
 *   consumer: store its head; if exchange(PRODUCER_WAITING, 0) was 1: add SPACE_WAKE 1; wake all
 *
 * The ticket is read before the announcement, so any bump after the announcement makes the sleep return
 * at once: a consumer that frees no space and clears the flag cannot make the producer miss the one that
 * does (docs/protocol.md, "Sleeping and waking").
 */
import * as futex from '../core/futex';
import { PRODUCER_WAITING_CI32, RingMemory, SPACE_WAKE_CI32 } from './memory';

/** Reads the ticket, then announces the sleep. The caller re-checks for space before sleeping on it. */
export function announceSpaceWait(memory: RingMemory): number {
  const words = memory.consumerI32;
  const ticket = Atomics.load(words, SPACE_WAKE_CI32);
  // SYNC POINT: Dekker pair with signalSpace's caller (store head, then load PRODUCER_WAITING).
  Atomics.store(words, PRODUCER_WAITING_CI32, 1);
  return ticket;
}

/** Withdraws the announcement (the producer stopped waiting). */
export function withdrawSpaceWait(memory: RingMemory): void {
  Atomics.store(memory.consumerI32, PRODUCER_WAITING_CI32, 0);
}

/** Blocks the thread until SPACE_WAKE moves past `ticket` or `timeoutMs` passes. */
export function sleepForSpace(memory: RingMemory, ticket: number, timeoutMs: number): void {
  futex.wait(memory.consumerBuffer, spaceWakeByteOffset(memory), ticket, timeoutMs);
}

/** Byte offset of SPACE_WAKE in memory.consumerBuffer (for an async wait on it). */
export function spaceWakeByteOffset(memory: RingMemory): number {
  return memory.consumerByteOffset + (SPACE_WAKE_CI32 << 2);
}

/**
 * Called after anything that may have freed space: wakes a producer that announced a sleep. The exchange
 * lets one caller, not every one that frees space meanwhile, pay for the wake; it wakes every sleeper (a
 * 'drain' wait and a sendSync may both sleep on SPACE_WAKE).
 */
export function signalSpaceIfWaiting(memory: RingMemory): void {
  const words = memory.consumerI32;
  if (Atomics.load(words, PRODUCER_WAITING_CI32) !== 0 && Atomics.exchange(words, PRODUCER_WAITING_CI32, 0) !== 0) {
    signalSpace(memory);
  }
}

/** Bumps the event count and wakes every sleeper on it, announced or not. */
export function signalSpace(memory: RingMemory): void {
  Atomics.add(memory.consumerI32, SPACE_WAKE_CI32, 1);
  futex.wake(memory.consumerBuffer, spaceWakeByteOffset(memory), 0x7fffffff);
}
