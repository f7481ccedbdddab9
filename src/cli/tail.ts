/**
 * `shmring tail NAME`: follow a ring as an untethered consumer and print each message as a JSON line.
 *
 * Untethered means the tail never holds the producer back: attach it to a production ring without risk.
 * If it falls behind by more than the ring holds it loses messages (reported on stderr, exactly counted)
 * and carries on at the oldest message still there.
 */
import type { Command } from 'commander';
import type { Consumer as ConsumerClass } from '../api/consumer';
import { readSnapshot } from '../ring/snapshot';
import { CliError, ExitCode, exitCodeFor, jsonError, parseNonNegativeInteger, type OutputOptions } from './common';
import { snapshotError } from './inspect';

export interface JsonPreviewOptions {
  /** Elements of a typed array shown. */
  values: number;
  /** Bytes of a binary value shown. */
  bytes: number;
  encoding: 'base64' | 'hex';
}

export const DEFAULT_PREVIEW: JsonPreviewOptions = { values: 8, bytes: 64, encoding: 'base64' };

/**
 * A JSON-safe rendering of a decoded message: typed arrays as `{type, length, data: first values}`,
 * binary as a base64 or hex preview, Date/Map/Set/BigInt tagged; plain data unchanged.
 */
export function toJsonSafe(value: unknown, preview: JsonPreviewOptions = DEFAULT_PREVIEW, depth = 0): unknown {
  if (depth > 64) return '[too deep]';
  if (value === undefined) return null;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return { type: 'BigInt', value: value.toString() };
  if (value instanceof Date) return { type: 'Date', value: Number.isNaN(value.getTime()) ? null : value.toISOString() };
  if (value instanceof ArrayBuffer) return bytesPreview(new Uint8Array(value), preview);
  if (ArrayBuffer.isView(value)) {
    if (value instanceof Uint8Array) return bytesPreview(value, preview);
    if (value instanceof DataView) return bytesPreview(new Uint8Array(value.buffer, value.byteOffset, value.byteLength), preview);
    const array = value as unknown as ArrayLike<number | bigint> & { constructor: { name: string } };
    const data: (number | string)[] = [];
    for (let i = 0; i < Math.min(array.length, preview.values); i++) {
      const element = array[i];
      data.push(typeof element === 'bigint' ? element.toString() : Number.isFinite(element) ? element : String(element));
    }
    return { type: array.constructor.name, length: array.length, data, ...(array.length > preview.values ? { truncated: true } : {}) };
  }
  if (Array.isArray(value)) return value.map((v) => toJsonSafe(v, preview, depth + 1));
  if (value instanceof Map) {
    return { type: 'Map', entries: [...value.entries()].map(([k, v]) => [toJsonSafe(k, preview, depth + 1), toJsonSafe(v, preview, depth + 1)]) };
  }
  if (value instanceof Set) return { type: 'Set', values: [...value].map((v) => toJsonSafe(v, preview, depth + 1)) };
  if (typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) result[key] = toJsonSafe(v, preview, depth + 1);
    return result;
  }
  return String(value);
}

function bytesPreview(bytes: Uint8Array, preview: JsonPreviewOptions): unknown {
  const shown = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, preview.bytes));
  return {
    type: 'bytes',
    length: bytes.byteLength,
    [preview.encoding]: shown.toString(preview.encoding),
    ...(bytes.byteLength > preview.bytes ? { truncated: true } : {}),
  };
}

interface TailOptions extends OutputOptions {
  from: 'oldest' | 'next';
  n?: number;
  timeout?: number;
  values: number;
  bytes: number;
  hex?: boolean;
  allowForeignOwner?: boolean;
}

export function registerTail(program: Command): void {
  program
    .command('tail')
    .argument('<name>', 'ring name: /name, name, or /dev/shm/name')
    .description('follow a ring as an untethered consumer (never holds the producer back); one JSON line per message')
    .option('--from <where>', "start at the 'next' message published, or the 'oldest' still in the ring", 'next')
    .option('-n, --count <n>', 'exit after this many messages', parseNonNegativeInteger('--count'))
    .option('--timeout <ms>', 'exit after this long (exit code 6 if fewer than -n messages came)', parseNonNegativeInteger('--timeout'))
    .option('--values <n>', 'typed array elements shown per array', parseNonNegativeInteger('--values'), DEFAULT_PREVIEW.values)
    .option('--bytes <n>', 'bytes of binary data shown per value', parseNonNegativeInteger('--bytes'), DEFAULT_PREVIEW.bytes)
    .option('--hex', 'show binary data as hex instead of base64')
    .option('--allow-foreign-owner', "follow a ring owned by another user (e.g. as root)")
    .option('--json', 'accepted for symmetry with the other commands: the output is always JSON lines')
    .addHelpText(
      'after',
      `
Output: one JSON value per line. Typed arrays print as {"type":"Float32Array","length":N,"data":[first values]},
binary as {"type":"bytes","length":N,"base64":"..."}. Lost messages (the tail fell a lap behind) and the end
of the stream are reported on stderr, so stdout stays one message per line.
Exits 0 at end of stream, after -n messages, or at --timeout; 6 when --timeout passed before -n messages;
3 when the ring does not exist; 5 when it is not a ring; 7 when it is another user's and unreadable;
1 when the producer died. With --json, a failure is a last line {"error": {code, message, ...}}.

Examples:
  $ shmring tail /telemetry
  $ shmring tail /telemetry --from oldest -n 10
  $ shmring tail /telemetry --timeout 5000 | jq .temperature`,
    )
    .action(async (name: string, raw: TailOptions & { count?: number }) => {
      const options = { ...raw, n: raw.count };
      if (options.from !== 'oldest' && options.from !== 'next') {
        throw new CliError(`--from must be 'oldest' or 'next', got ${JSON.stringify(options.from)}`, ExitCode.USAGE, 'USAGE');
      }
      // Classify first, with the read-only snapshot: a missing, foreign or corrupt segment gets the right exit code.
      const snapshot = readSnapshot(name);
      if (snapshot.kind !== 'ring') {
        const error = snapshotError(snapshot) ?? { code: 'NOT_A_RING', message: snapshot.kind, hint: undefined };
        throw new CliError(
          snapshot.kind === 'unreadable' ? error.message : `${snapshot.file.name} is not a readable ring: ${error.message}`,
          snapshot.kind === 'unreadable' ? exitCodeFor(error.code) : ExitCode.NOT_A_RING,
          error.code,
          error.hint,
          snapshot.file.name,
        );
      }
      const preview: JsonPreviewOptions = { values: options.values, bytes: options.bytes, encoding: options.hex ? 'hex' : 'base64' };

      // Loaded only here: the other subcommands work without the native addon.
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const { Consumer } = require('../api/consumer') as { Consumer: typeof ConsumerClass };
      const consumer = Consumer.open(snapshot.file.name, {
        tethered: false,
        from: options.from,
        allowForeignOwner: options.allowForeignOwner === true,
      });
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      // `shmring tail | head`: a closed pipe ends the tail quietly.
      process.stdout.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'EPIPE') abort.abort();
      });
      const deadline = options.timeout === undefined ? Infinity : Date.now() + options.timeout;
      let count = 0;
      let lostReported = 0;
      let consecutiveFailures = 0;
      try {
        while (options.n === undefined || count < options.n) {
          const remaining = deadline - Date.now();
          if (remaining <= 0) break;
          let value: unknown;
          try {
            value = await consumer.receive({ timeout: remaining, signal: abort.signal });
          } catch (error) {
            const code = (error as { code?: string }).code;
            if (code === 'ABORT_ERR' || code === 'TIMEOUT' || abort.signal.aborted) break;
            if (code !== undefined && code !== 'DECODE_ERROR' && (error as Error).name === 'ShmRingError') throw error;
            // A message the codec cannot decode (another codec, or damaged): say so and go on.
            if (++consecutiveFailures > 100) throw error;
            process.stderr.write(`# undecodable message: ${(error as Error).message}\n`);
            continue;
          }
          consecutiveFailures = 0;
          if (consumer.lost > lostReported) {
            process.stderr.write(`# lost ${consumer.lost - lostReported} message(s): the tail fell behind by more than the ring holds\n`);
            lostReported = consumer.lost;
          }
          if (value === undefined) {
            if (consumer.ended) {
              process.stderr.write('# end of stream: the producer closed the ring\n');
              break;
            }
            continue; // timed out: the loop condition ends it
          }
          count += 1;
          process.stdout.write(`${JSON.stringify(toJsonSafe(value, preview))}\n`);
        }
      } finally {
        process.removeListener('SIGINT', onSignal);
        process.removeListener('SIGTERM', onSignal);
        consumer.close();
      }
      if (options.n !== undefined && count < options.n && !abort.signal.aborted && !consumer.ended) {
        process.exitCode = ExitCode.TIMEOUT;
        if (options.json) {
          // The last line, in the shape of every --json failure (the lines before it are the messages).
          const timedOut = new CliError(`${count} of ${options.n} message(s) before --timeout ${options.timeout} ms`, ExitCode.TIMEOUT, 'TIMEOUT', undefined, snapshot.file.name);
          process.stdout.write(`${JSON.stringify(jsonError(timedOut))}\n`);
        }
      }
    });
}
