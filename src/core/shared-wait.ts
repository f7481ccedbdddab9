/**
 * One wait shared by many callers, each with its own AbortSignal and deadline: the producer's wait for
 * space and the consumer's wait for data are each one native wait, whoever is waiting on them.
 */
export interface SharedWaitOptions {
  signal: AbortSignal | undefined;
  /** Absolute time (Date.now() scale); Infinity for none. */
  deadline: number;
  /** The error to reject with when the signal aborts. */
  onAbort: (reason: unknown) => Error;
  /** What to do at the deadline: resolve (undefined) or reject with the error returned. */
  onTimeout: () => Error | undefined;
  /** Whether the deadline timer keeps the process alive. Default: true. */
  ref?: boolean;
}

export function followSharedWait(shared: Promise<void>, options: SharedWaitOptions): Promise<void> {
  const { signal, deadline } = options;
  if (signal === undefined && !Number.isFinite(deadline)) return shared;
  return new Promise<void>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      cleanup();
      reject(options.onAbort(signal?.reason));
    };
    if (Number.isFinite(deadline)) {
      timer = setTimeout(() => {
        cleanup();
        const error = options.onTimeout();
        if (error) reject(error);
        else resolve();
      }, Math.max(0, deadline - Date.now()));
      if (options.ref === false) timer.unref();
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    shared.then(
      () => {
        cleanup();
        resolve();
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}
