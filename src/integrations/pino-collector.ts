/**
 * The reading side of shmring/pino: a ring of log lines back into a byte stream (a file, stdout, a
 * socket), one line per message with its newline put back.
 *
 * Lines are copied straight from the ring into a batch buffer and written in chunks of up to
 * `batchBytes`, waiting for 'drain' when the output says so: a slow output holds the collector back, and
 * a tethered collector (the default) holds the application back rather than lose lines.
 */
import { once } from 'events';
import { AbortError, Consumer, type ConsumerOptions } from '../index';

export interface CollectLinesOptions {
  /**
   * Where a collector starts: 'next' line logged after it joins, or the 'oldest' line still in the ring
   * (lines logged before it joined, as far as the ring still holds them). Default: 'next'.
   */
  from?: 'next' | 'oldest';
  /** Hold the application back rather than lose lines. Default: true. */
  tethered?: boolean;
  /** Wait this long (ms) for the application to create the ring. Default: 0 (fail at once with SEGMENT_NOT_FOUND). */
  openTimeout?: number;
  /** Keep waiting this long (ms) for a restarted application after its producer died. Default: 0. */
  waitForRestartMs?: number;
  /** Stops collecting: collectLines rejects with ABORTED after writing every line read so far. */
  signal?: AbortSignal;
  /** Largest chunk handed to the output in one write. Default: DEFAULT_COLLECT_BATCH_BYTES (64 KiB). */
  batchBytes?: number;
}

export const DEFAULT_COLLECT_BATCH_BYTES = 64 * 1024;

export interface CollectResult {
  /** Lines written to the output. */
  lines: number;
  /** Lines the ring overwrote before this collector read them (untethered collectors only). */
  lost: number;
}

const NEWLINE = 0x0a;

/**
 * Copies every line of the ring `name` to `output` until the application closes its logger (resolves),
 * its producer dies (rejects with PRODUCER_DIED, after writing every line it committed), or `signal`
 * aborts (rejects with ABORTED). Does not end `output`.
 */
export async function collectLines(name: string, output: NodeJS.WritableStream, options: CollectLinesOptions = {}): Promise<CollectResult> {
  if (output === null || typeof output !== 'object' || typeof output.write !== 'function') {
    throw new TypeError('collectLines: output must be a writable stream');
  }
  const { signal, batchBytes = DEFAULT_COLLECT_BATCH_BYTES, ...rest } = options;
  if (!Number.isInteger(batchBytes) || batchBytes < 1) throw new RangeError(`collectLines: batchBytes must be a positive integer, got ${batchBytes}`);
  const consumerOptions: ConsumerOptions = { ...rest };
  const consumer = Consumer.open(name, consumerOptions);
  const batch = Buffer.allocUnsafe(batchBytes);
  let used = 0;
  let lines = 0;

  const flush = async (): Promise<void> => {
    if (used === 0) return;
    // The output may keep the chunk (a file stream does, until written): hand it a copy of the batch.
    const ok = output.write(Buffer.from(batch.subarray(0, used)));
    used = 0;
    if (!ok) await once(output as NodeJS.EventEmitter, 'drain', signal ? { signal } : {});
  };
  /** Appends a line and its newline to the batch; false when the batch must be flushed first. */
  const appendNow = (line: Uint8Array): boolean => {
    if (used + line.length + 1 > batchBytes) return false;
    batch.set(line, used);
    batch[used + line.length] = NEWLINE;
    used += line.length + 1;
    lines++;
    return true;
  };
  const append = async (line: Uint8Array): Promise<void> => {
    if (appendNow(line)) return;
    await flush();
    if (appendNow(line)) return;
    // Longer than a whole batch: written on its own.
    const ok = output.write(Buffer.concat([line, Buffer.of(NEWLINE)]));
    lines++;
    if (!ok) await once(output as NodeJS.EventEmitter, 'drain', signal ? { signal } : {});
  };
  const asLine = (value: unknown): Uint8Array =>
    value instanceof Uint8Array ? value : Buffer.from(JSON.stringify(value) ?? 'null', 'utf8');

  try {
    for (;;) {
      // Sleep until a line arrives (or the end, or an error); then take everything there is, copying
      // each line from the ring into the batch.
      const first = await consumer.receive({ signal });
      if (first === undefined) {
        if (consumer.ended) break;
        continue;
      }
      await append(asLine(first));
      let view: Uint8Array | undefined;
      while ((view = consumer.tryReceiveBytes()) !== undefined) {
        // The view is valid until the next read only: copy it before anything that awaits.
        if (!appendNow(view)) await append(Buffer.from(view));
      }
      await flush();
    }
    await flush();
    return { lines, lost: consumer.lost };
  } catch (error) {
    // Whatever was read before the failure is delivered (a crashed application's last lines matter most).
    if (used > 0) output.write(Buffer.from(batch.subarray(0, used)));
    if (signal?.aborted && !(error instanceof AbortError)) {
      throw new AbortError(`collecting lines from ${name} was aborted`, { segment: name, cause: signal.reason });
    }
    throw error;
  } finally {
    consumer.close();
  }
}
