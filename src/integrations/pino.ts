/**
 * `shmring/pino`: pino log lines into a ring, one line per message.
 *
 * Two ways in, one behaviour:
 * - as a transport (`pino.transport({ target: 'shmring/pino', options: { name } })`): the default export
 *   runs in pino's worker thread, built on pino-abstract-transport, whose line splitter turns the worker's
 *   chunks (one line, or megabytes of them under load) back into lines;
 * - as a destination stream in the application's own thread (`pino(createDestination({ name }))`): a
 *   Writable that splits whatever it is given on newlines itself.
 *
 * Each line is sent with `producer.sendBytes` as raw UTF-8, WITHOUT its trailing newline (a message is a
 * line; collectLines puts the newline back). A line longer than the ring's maxMessageLength fails the
 * stream with MESSAGE_TOO_LARGE rather than being cut: half a JSON line is worse than a loud error.
 *
 * Backpressure: when tethered consumers hold the ring full, the writer waits for space
 * (`sendBytesAsync`), it never drops a line. The transport stops reading from pino's worker buffer
 * meanwhile; the destination stream holds back its write callbacks, so Node's Writable buffers the lines
 * pino keeps writing (pino does not wait for a destination).
 *
 * End: a stream that ends normally closes the producer, so consumers read every line and then a clean end.
 * A stream destroyed with an error aborts it (Producer#abort): consumers read every line written, then
 * fail with PRODUCER_ABORTED carrying the reason, so a broken log is never mistaken for a complete one.
 */
import { Writable } from 'stream';
import build from 'pino-abstract-transport';
import { Producer, ShmRingError, type ProducerOptions } from '../index';

export { collectLines, DEFAULT_COLLECT_BATCH_BYTES } from './pino-collector';
export type { CollectLinesOptions, CollectResult } from './pino-collector';

export interface PinoRingOptions extends ProducerOptions {
  /** The ring to create, e.g. '/logs.app'. Required. */
  name: string;
}

/** Bytes of the scratch buffer a string line is encoded into before it is copied into the ring. */
const SCRATCH_LENGTH = 64 * 1024;
const NEWLINE = 0x0a;

function splitOptions(options: PinoRingOptions): { name: string; producerOptions: ProducerOptions } {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`shmring/pino: options must be an object with a ring name, got ${options === null ? 'null' : typeof options}`);
  }
  const { name, ...producerOptions } = options;
  if (typeof name !== 'string') throw new TypeError(`shmring/pino: options.name must be a string such as '/logs.app', got ${typeof name}`);
  return { name, producerOptions };
}

/** Sends lines into a producer: synchronously while there is room, through a copy and a wait when not. */
class LineSender {
  private scratch = Buffer.allocUnsafe(SCRATCH_LENGTH);

  constructor(readonly producer: Producer) {}

  /** Sends one line (without its newline). Returns undefined when sent, or a promise when it must wait. */
  sendBytes(line: Uint8Array): Promise<void> | undefined {
    if (line.length > this.producer.maxMessageLength) throw this.tooLong(line.length);
    if (this.producer.sendBytes(line)) return undefined;
    // The caller may reuse `line` (the scratch buffer, a chunk): keep our own copy across the wait.
    return this.producer.sendBytesAsync(line.slice());
  }

  sendString(line: string): Promise<void> | undefined {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8: a line this short always fits the scratch buffer.
    if (line.length * 3 > this.scratch.length) return this.sendBytes(Buffer.from(line, 'utf8'));
    const length = this.scratch.write(line, 0, 'utf8');
    return this.sendBytes(this.scratch.subarray(0, length));
  }

  private tooLong(length: number): ShmRingError {
    const { name, maxMessageLength } = this.producer;
    return new ShmRingError('MESSAGE_TOO_LARGE', `a ${length}-byte log line does not fit ${name}: its maximum message length is ${maxMessageLength} bytes`, {
      segment: name,
      hint: 'Create the ring with a larger capacity or maxMessageLength (options of shmring/pino), or log smaller objects.',
    });
  }
}

/**
 * pino and thread-stream add keys of their own to a transport's options (`$context`, `pinoWillSendConfig`,
 * and the logger's `levels` and `dedupe` when set); the rest must be ring options.
 */
function withoutPinoKeys(options: PinoRingOptions): PinoRingOptions {
  if (options === null || typeof options !== 'object') return options;
  const ours: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (key.startsWith('$') || key === 'pinoWillSendConfig' || key === 'levels' || key === 'dedupe') continue;
    ours[key] = value;
  }
  return ours as unknown as PinoRingOptions;
}

/** What pino-abstract-transport's parser returns for every line: we want the line, never JSON.parse. */
const UNPARSED = Object.freeze({});

/**
 * The transport, run by pino in its worker thread: `pino.transport({ target: 'shmring/pino', options })`.
 * Creates the ring (`options.name`, plus any Producer.create option) before pino starts writing.
 */
export default async function pinoTransport(options: PinoRingOptions) {
  const { name, producerOptions } = splitOptions(withoutPinoKeys(options));
  const producer = Producer.create(name, producerOptions);
  const sender = new LineSender(producer);
  return build(
    (source) => {
      source.on('data', (line: string) => {
        let waiting: Promise<void> | undefined;
        try {
          waiting = sender.sendString(line);
        } catch (error) {
          source.destroy(error as Error);
          return;
        }
        if (waiting === undefined) return;
        source.pause();
        waiting.then(
          () => source.resume(),
          (error: Error) => source.destroy(error),
        );
      });
    },
    {
      parse: 'lines',
      parseLine: () => UNPARSED,
      metadata: false,
      // eslint-disable-next-line @typescript-eslint/ban-types
      close(error: Error | null, callback: Function): void {
        // See the top comment: a clean end closes the producer, an error aborts it.
        if (error) producer.abort(error);
        else producer.close();
        process.nextTick(() => callback(error));
      },
    },
  );
}

/**
 * A pino destination in the application's own thread: `pino(createDestination({ name: '/logs.app' }))`.
 * Accepts strings and buffers of any size: lines are split here, and a partial line waits for its end.
 */
export function createDestination(options: PinoRingOptions): Writable & { producer: Producer } {
  const { name, producerOptions } = splitOptions(options);
  const producer = Producer.create(name, producerOptions);
  const sender = new LineSender(producer);
  // The start of a line whose newline has not arrived yet.
  let partialText = '';
  let partialBytes: Buffer | undefined;

  const sendText = (text: string, from: number, callback: (error?: Error | null) => void): void => {
    try {
      let start = from;
      for (;;) {
        const newline = text.indexOf('\n', start);
        if (newline < 0) break;
        const waiting = sender.sendString(text.slice(start, newline));
        start = newline + 1;
        if (waiting !== undefined) {
          waiting.then(() => sendText(text, start, callback), callback);
          return;
        }
      }
      partialText = text.slice(start);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback();
  };

  const sendChunk = (chunk: Buffer, from: number, callback: (error?: Error | null) => void): void => {
    try {
      let start = from;
      for (;;) {
        const newline = chunk.indexOf(NEWLINE, start);
        if (newline < 0) break;
        const waiting = sender.sendBytes(chunk.subarray(start, newline));
        start = newline + 1;
        if (waiting !== undefined) {
          waiting.then(() => sendChunk(chunk, start, callback), callback);
          return;
        }
      }
      if (start < chunk.length) partialBytes = Buffer.from(chunk.subarray(start));
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback();
  };

  const destination = new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, encoding, callback) {
      if (typeof chunk === 'string' && encoding === 'utf8' && partialBytes === undefined) {
        const text = partialText.length > 0 ? partialText + chunk : chunk;
        partialText = '';
        sendText(text, 0, callback);
        return;
      }
      let bytes = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
      if (partialText.length > 0 || partialBytes !== undefined) {
        bytes = Buffer.concat([partialBytes ?? Buffer.from(partialText, 'utf8'), bytes]);
        partialText = '';
        partialBytes = undefined;
      }
      sendChunk(bytes, 0, callback);
    },
    final(callback) {
      // A last line without its newline is still a line.
      const rest = partialBytes ?? (partialText.length > 0 ? Buffer.from(partialText, 'utf8') : undefined);
      partialText = '';
      partialBytes = undefined;
      const finish = (error?: Error | null) => {
        if (error) producer.abort(error);
        else producer.close();
        callback(error);
      };
      if (rest === undefined) return finish();
      try {
        const waiting = sender.sendBytes(rest);
        if (waiting === undefined) finish();
        else waiting.then(() => finish(), finish);
      } catch (error) {
        finish(error as Error);
      }
    },
    destroy(error, callback) {
      // Destroyed without an error before end(): close cleanly, like end() would have (minus unsent lines).
      // With an error: abort, so consumers fail with PRODUCER_ABORTED rather than end cleanly.
      if (error) producer.abort(error);
      else producer.close();
      callback(error);
    },
  });
  return Object.assign(destination, { producer });
}
