/**
 * Consumer.connect: join a ring that may not exist yet, without blocking the event loop (Consumer.open
 * with `openTimeout` sleeps the thread while it waits; fine in a worker, not on a main thread that serves
 * anything else).
 *
 * Polls on a short timer: a ring appears once per producer start, so a 10 ms poll costs nothing
 * measurable and needs no watcher to clean up. Only SEGMENT_NOT_FOUND is waited out; every other failure
 * (permissions, a foreign file, a corrupt header) rejects at once.
 */
import { AbortError, ShmRingError, invalidArgValue } from '../errors';
import { checkOptionsObject, waitOptions } from './options';

/** How often connect() looks for the ring while it does not exist, in ms. */
export const CONNECT_POLL_INTERVAL_MS = 10;

export interface ConnectOptions {
  /** Cancels the wait: rejects with an AbortError. */
  signal?: AbortSignal;
  /** Give up after this many ms: rejects with ShmRingError TIMEOUT. Default: Infinity. */
  timeout?: number;
}

/**
 * Calls `open(name, consumerOptions)` until the ring exists. `options` holds `signal` and `timeout`
 * beside the consumer's own options (passed on to `open`, which validates them).
 */
export function connectWhenCreated<C>(
  open: (name: string, options: Record<string, unknown>) => C,
  name: string,
  input: unknown,
): Promise<C> {
  // A promise-returning call reports every failure, argument errors included, as a rejection.
  try {
    return connect(open, name, input);
  } catch (error) {
    return Promise.reject(error);
  }
}

function connect<C>(open: (name: string, options: Record<string, unknown>) => C, name: string, input: unknown): Promise<C> {
  const what = 'Consumer.connect';
  const { signal: signalOption, timeout: timeoutOption, ...consumerOptions } = checkOptionsObject(what, input);
  if (consumerOptions.openTimeout !== undefined) {
    throw invalidArgValue(`${what}: openTimeout blocks the thread; use the timeout option of connect() instead`);
  }
  const { signal, timeout } = waitOptions(what, { signal: signalOption, timeout: timeoutOption });
  const deadline = Date.now() + timeout;
  // Validates the name and the options now, not at the first poll: a misspelled option is a TypeError
  // whether or not the ring exists yet.
  const attempt = (): C | undefined => {
    try {
      return open(name, consumerOptions);
    } catch (error) {
      if (error instanceof ShmRingError && error.code === 'SEGMENT_NOT_FOUND') return undefined;
      throw error;
    }
  };
  if (signal?.aborted) {
    return Promise.reject(new AbortError(`connecting to ${name} was aborted`, { cause: signal.reason, segment: name }));
  }
  const first = attempt();
  if (first !== undefined) return Promise.resolve(first);
  return new Promise<C>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (error: unknown, consumer?: C): void => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error !== undefined) reject(error);
      else resolve(consumer!);
    };
    const onAbort = (): void => finish(new AbortError(`connecting to ${name} was aborted`, { cause: signal?.reason, segment: name }));
    const poll = (): void => {
      timer = undefined;
      let consumer: C | undefined;
      try {
        consumer = attempt();
      } catch (error) {
        return finish(error);
      }
      if (consumer !== undefined) return finish(undefined, consumer);
      const now = Date.now();
      if (now >= deadline) {
        return finish(
          new ShmRingError('TIMEOUT', `${name} was not created within ${timeout} ms`, {
            segment: name,
            hint: 'Start its producer, or check the name (`npx shmring ls` lists every ring).',
          }),
        );
      }
      // A pending connect keeps the process alive, as net.connect does.
      timer = setTimeout(poll, Math.min(CONNECT_POLL_INTERVAL_MS, deadline - now));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(poll, Math.min(CONNECT_POLL_INTERVAL_MS, Math.max(0, deadline - Date.now())));
  });
}
