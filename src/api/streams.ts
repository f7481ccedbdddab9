/**
 * Node streams over a ring: a Readable over a Consumer and a Writable over a Producer, so that
 * `stream.pipeline()`, loggers and anything else written against streams work unchanged.
 *
 * Backpressure is the ring's own: the Readable pulls from the ring only in _read() (a full stream buffer
 * leaves messages in the ring, where a tethered consumer holds the producer back), and the Writable turns
 * "ring full" (send() returning false) into a write callback that waits for space.
 */
import { Readable, Writable } from 'stream';
import { Consumer } from './consumer';
import { invalidArgType } from '../errors';
import { booleanOption, checkOptionsObject, integerOption, rejectUnknownKeys } from './options';
import { Producer } from './producer';

/** Default highWaterMark of an object-mode stream: Node's own (16 objects). */
export const DEFAULT_OBJECT_HIGH_WATER_MARK = 16;
/** Default highWaterMark of a byte stream: Node's own (16 KiB). */
export const DEFAULT_BYTE_HIGH_WATER_MARK = 16 * 1024;

export interface ReadStreamOptions {
  /**
   * true: every message as its decoded value (a message whose value is `null` is skipped: object-mode
   * streams cannot carry null). false: a byte stream; every message must be raw bytes (sent with
   * sendBytes(), or by a write stream with `objectMode: false`) and is pushed as a Buffer. Default: true.
   */
  objectMode?: boolean;
  /** Messages (object mode) or bytes buffered in the stream before it stops pulling from the ring. Default: 16 / 16384. */
  highWaterMark?: number;
  /** Close the consumer when the stream ends or is destroyed. Default: true. */
  close?: boolean;
}

export interface WriteStreamOptions {
  /** true: each chunk is a value sent with send(). false: each chunk is bytes sent with sendBytes(). Default: true. */
  objectMode?: boolean;
  /** Chunks (object mode) or bytes buffered in the stream before write() returns false. Default: 16 / 16384. */
  highWaterMark?: number;
  /** Close the producer when the stream finishes (end()) or is destroyed. Default: true. */
  close?: boolean;
}

const READ_OPTION_KEYS = ['objectMode', 'highWaterMark', 'close'] as const;
const WRITE_OPTION_KEYS = ['objectMode', 'highWaterMark', 'close'] as const;

function isAborted(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

/**
 * A Readable over `consumer`. It ends when the producer closes (after every message sent before the
 * close), and is destroyed with the consumer's ShmRingError (code PRODUCER_DIED, CONSUMER_EVICTED, ...)
 * when reading fails. Destroying or ending the stream closes the consumer unless `close: false`.
 */
export function createReadStream<T = unknown>(consumer: Consumer<T>, options?: ReadStreamOptions): Readable {
  const what = 'createReadStream';
  if (!(consumer instanceof Consumer)) throw invalidArgType(`${what}: consumer must be a Consumer`);
  const resolved = checkOptionsObject(what, options);
  rejectUnknownKeys(what, resolved, READ_OPTION_KEYS);
  const objectMode = booleanOption(what, 'objectMode', resolved.objectMode, true);
  const highWaterMark = integerOption(
    what, 'highWaterMark', resolved.highWaterMark,
    objectMode ? DEFAULT_OBJECT_HIGH_WATER_MARK : DEFAULT_BYTE_HIGH_WATER_MARK, 0, 2 ** 30,
  );
  const closeConsumer = booleanOption(what, 'close', resolved.close, true);

  // One pending receive() at most; aborted when the stream is destroyed.
  let waiting: AbortController | undefined;

  const readable: Readable = new Readable({
    objectMode,
    highWaterMark,
    read() {
      if (waiting === undefined) pull();
    },
    destroy(error, callback) {
      waiting?.abort();
      waiting = undefined;
      try {
        if (closeConsumer) consumer.close();
      } catch (closeError) {
        callback(error ?? (closeError as Error));
        return;
      }
      callback(error);
    },
  });

  /** Converts a message to a chunk; undefined means "skip it". Throws on a non-bytes message in byte mode. */
  function toChunk(value: unknown): unknown {
    if (objectMode) return value === null ? undefined : value;
    if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    throw invalidArgType(
      `${what}: a byte stream (objectMode: false) received a message that is not raw bytes ` +
        `(${value === null ? 'null' : typeof value}); send it with sendBytes(), or read with objectMode: true`,
    );
  }

  /** Pushes a message; returns whether the stream wants more. */
  function deliver(value: unknown): boolean {
    const chunk = toChunk(value);
    return chunk === undefined ? true : readable.push(chunk);
  }

  /** Moves what the ring has into the stream until its buffer is full, then waits for more if wanted. */
  function pull(): void {
    try {
      for (;;) {
        if (readable.destroyed) return;
        // Messages come out of tryReceive() already copied or decoded: pushing them is safe.
        const value = consumer.tryReceive();
        if (value === undefined) break;
        if (!deliver(value)) return;
      }
      if (consumer.ended || consumer.isClosed) {
        readable.push(null);
        return;
      }
    } catch (error) {
      readable.destroy(error as Error);
      return;
    }
    const controller = new AbortController();
    waiting = controller;
    consumer.receive({ signal: controller.signal }).then(
      (value) => {
        if (waiting !== controller || readable.destroyed) return;
        waiting = undefined;
        try {
          if (value === undefined) {
            // End of stream (the producer closed), or the consumer was closed under us.
            readable.push(null);
            return;
          }
          // More may have arrived with it: keep filling while the stream wants more.
          if (deliver(value)) pull();
        } catch (error) {
          readable.destroy(error as Error);
        }
      },
      (error: unknown) => {
        if (waiting !== controller) return;
        waiting = undefined;
        if (readable.destroyed) return;
        if (isAborted(error) && consumer.isClosed) {
          readable.push(null);
          return;
        }
        readable.destroy(error as Error);
      },
    );
  }

  return readable;
}

/**
 * A Writable over `producer`. A write while tethered consumers hold the ring full waits for space before
 * its callback runs, so write() returns false once highWaterMark chunks wait, and 'drain' follows as with
 * any Writable. end() closes the producer (consumers then end after reading everything) unless
 * `close: false`; destroy(error) aborts it instead (consumers then fail with PRODUCER_ABORTED after
 * reading everything sent), so lost data never looks like a clean end.
 *
 * Byte mode is a byte stream, as a socket is: chunks of any size are accepted, a chunk larger than the
 * ring's maxMessageLength is split into several messages, and a reader (createReadStream in byte mode)
 * sees the same bytes in the same order, not the same chunk boundaries. Object mode keeps one value per
 * message.
 */
export function createWriteStream<T = unknown>(producer: Producer<T>, options?: WriteStreamOptions): Writable {
  const what = 'createWriteStream';
  if (!(producer instanceof Producer)) throw invalidArgType(`${what}: producer must be a Producer`);
  const resolved = checkOptionsObject(what, options);
  rejectUnknownKeys(what, resolved, WRITE_OPTION_KEYS);
  const objectMode = booleanOption(what, 'objectMode', resolved.objectMode, true);
  const highWaterMark = integerOption(
    what, 'highWaterMark', resolved.highWaterMark,
    objectMode ? DEFAULT_OBJECT_HIGH_WATER_MARK : DEFAULT_BYTE_HIGH_WATER_MARK, 0, 2 ** 30,
  );
  const closeProducer = booleanOption(what, 'close', resolved.close, true);

  // The pending wait for space, aborted by destroy().
  let waiting: AbortController | undefined;

  /** Sends without waiting; false when the ring is full. */
  function trySend(chunk: unknown): boolean {
    return objectMode ? producer.send(chunk as T) : producer.sendBytes(chunk as Uint8Array);
  }

  /** Waits for space and sends (the chunk is ours: Writable does not reuse it). */
  function sendWhenSpace(chunk: unknown): Promise<void> {
    const controller = new AbortController();
    waiting = controller;
    const sent = objectMode
      ? producer.sendAsync(chunk as T, { signal: controller.signal })
      : producer.sendBytesAsync(chunk as Uint8Array, { signal: controller.signal });
    return sent.finally(() => {
      if (waiting === controller) waiting = undefined;
    });
  }

  async function sendAll(chunks: readonly unknown[]): Promise<void> {
    for (const chunk of chunks) {
      if (!trySend(chunk)) await sendWhenSpace(chunk);
    }
  }

  /** The messages a chunk becomes: itself, or (byte mode) pieces of at most maxMessageLength bytes. */
  function piecesOf(chunk: unknown): unknown[] {
    if (objectMode) return [chunk];
    const bytes = chunk as Uint8Array;
    const limit = producer.maxMessageLength;
    if (bytes.length <= limit) return [bytes];
    const pieces: Uint8Array[] = [];
    for (let start = 0; start < bytes.length; start += limit) pieces.push(bytes.subarray(start, Math.min(bytes.length, start + limit)));
    return pieces;
  }

  /** Sends what fits now; the rest waits for space. Calls back when every piece is in the ring. */
  function sendPieces(pieces: unknown[], callback: (error?: Error | null) => void): void {
    let index = 0;
    try {
      for (; index < pieces.length; index++) {
        if (!trySend(pieces[index])) break;
      }
    } catch (error) {
      callback(error as Error);
      return;
    }
    if (index === pieces.length) {
      callback();
      return;
    }
    sendAll(pieces.slice(index)).then(() => callback(), (error: Error) => callback(error));
  }

  function finishClose(callback: (error?: Error | null) => void, error?: Error | null): void {
    try {
      // An error ends the ring with an error record: consumers must not take lost data for a clean end.
      if (closeProducer) {
        if (error) producer.abort(error);
        else producer.close();
      }
    } catch (closeError) {
      callback(error ?? (closeError as Error));
      return;
    }
    callback(error);
  }

  return new Writable({
    objectMode,
    highWaterMark,
    // Byte mode: strings become Buffers before _write.
    decodeStrings: true,
    write(chunk: unknown, _encoding, callback) {
      sendPieces(piecesOf(chunk), callback);
    },
    writev(entries, callback) {
      // Everything buffered while a write waited (or while the stream was corked): publish it as one
      // batch (sendBatch: one store of the tail, at most one wake), waiting only where the ring is full.
      const pieces = entries.flatMap((entry) => piecesOf(entry.chunk));
      let sent: number;
      try {
        sent = objectMode ? producer.sendBatch(pieces as T[]) : producer.sendBytesBatch(pieces as Uint8Array[]);
      } catch (error) {
        callback(error as Error);
        return;
      }
      if (sent === pieces.length) callback();
      else sendAll(pieces.slice(sent)).then(() => callback(), (error: Error) => callback(error));
    },
    final(callback) {
      finishClose(callback);
    },
    destroy(error, callback) {
      waiting?.abort();
      waiting = undefined;
      finishClose(callback, error);
    },
  });
}
