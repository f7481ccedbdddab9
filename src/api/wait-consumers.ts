/**
 * Producer#waitForConsumers: resolve once `count` consumers have joined the ring, so that a producer
 * that starts first does not send into a ring nobody reads yet (consumers start at the next message).
 *
 * Polls the slot table on a short timer rather than sleeping on a futex: joins are rare, a 10 ms poll
 * costs nothing measurable, and the slot table needs no new word in the layout. A consumer counts once
 * it has settled where it starts reading (ring/slots.ts#joinedSlots), so every message sent after this
 * resolves reaches it.
 */
import { AbortError, ShmRingError } from '../errors';
import { liveness } from '../core/liveness';
import type { RingMemory } from '../ring/memory';
import { joinedSlots } from '../ring/slots';
import { durationOption, integerOption, waitOptions } from './options';

/** How often the slot table is re-read while waiting, in ms. */
export const CONSUMER_POLL_INTERVAL_MS = 10;

export interface WaitForConsumersOptions {
  /** Cancels the wait: rejects with an AbortError. */
  signal?: AbortSignal;
  /** Give up after this many ms: rejects with ShmRingError TIMEOUT. Default: Infinity. */
  timeout?: number;
}

export interface ConsumerWaitTarget {
  readonly name: string;
  isClosed(): boolean;
  /** The ring's memory, while the producer is open. */
  readonly memory: RingMemory;
}

/** Consumers in the ring now that have finished joining and whose process is not known to be dead. */
export function countJoinedConsumers(memory: RingMemory): number {
  let count = 0;
  for (const slot of joinedSlots(memory)) if (liveness(slot) !== 'dead') count++;
  return count;
}

export function waitForConsumers(target: ConsumerWaitTarget, count: number, input: WaitForConsumersOptions | undefined): Promise<number> {
  // A promise-returning call reports every failure, argument errors included, as a rejection.
  try {
    return wait(target, count, input);
  } catch (error) {
    return Promise.reject(error);
  }
}

function wait(target: ConsumerWaitTarget, count: number, input: WaitForConsumersOptions | undefined): Promise<number> {
  const what = 'waitForConsumers';
  const wanted = integerOption(what, 'count', count, 1, 0, target.memory.geometry.maxConsumers);
  const { signal, timeout } = waitOptions(what, input);
  durationOption(what, 'timeout', timeout, Infinity);
  const deadline = Date.now() + timeout;
  return new Promise<number>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (error: Error | undefined, joined = 0): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(joined);
    };
    const onAbort = (): void =>
      finish(new AbortError(`waiting for consumers of ${target.name} was aborted`, { cause: signal?.reason, segment: target.name }));
    const check = (): void => {
      timer = undefined;
      if (target.isClosed()) {
        finish(new ShmRingError('CLOSED', `the producer of ${target.name} closed while waiting for consumers`, { segment: target.name }));
        return;
      }
      const joined = countJoinedConsumers(target.memory);
      if (joined >= wanted) return finish(undefined, joined);
      const now = Date.now();
      if (now >= deadline) {
        finish(
          new ShmRingError('TIMEOUT', `${joined} of ${wanted} consumer(s) joined ${target.name} within ${timeout} ms`, {
            segment: target.name,
            hint: 'Start the consumers (they join with Consumer.connect or Consumer.open); `npx shmring inspect` lists who has joined.',
          }),
        );
        return;
      }
      // A pending wait keeps the process alive, as a pending connect() does.
      timer = setTimeout(check, Math.min(CONSUMER_POLL_INTERVAL_MS, deadline - now));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    check();
  });
}
