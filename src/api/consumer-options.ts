/** Consumer options: their documentation, defaults, and validation (once, in Consumer.open). */
import { Codec, createMessagePackCodec } from './codec';
import { invalidArgType } from '../errors';
import { booleanOption, checkOptionsObject, choiceOption, durationOption, integerOption, rejectUnknownKeys } from './options';

export type WaitStrategy = 'spin' | 'spin-then-sleep' | 'sleep';

export interface ConsumerOptions {
  /** Hold the producer back rather than lose messages. Default: true. */
  tethered?: boolean;
  /** Where a new consumer starts: 'next' message published, or the 'oldest' still in the ring. Default: 'next'. */
  from?: 'next' | 'oldest';
  /** Codec for tryReceive()/receive()/iteration. Must match the producer's. Default: MessagePack. */
  codec?: Codec;
  /** 'spin' (lowest latency, burns a core), 'spin-then-sleep', or 'sleep'. Default: 'spin-then-sleep'. */
  wait?: WaitStrategy;
  /** How long 'spin-then-sleep' spins before sleeping, in microseconds. Default: DEFAULT_SPIN_MICROSECONDS (50). */
  spinMicroseconds?: number;
  /** Open a ring owned by another user (see docs/operations.md, "Permissions"). Default: false. */
  allowForeignOwner?: boolean;
  /** Wait this long (ms) for the ring to be created if it does not exist yet, sleeping the thread (blocks the event loop: use Consumer.connect on a main thread). Default: 0 (fail at once). */
  openTimeout?: number;
  /** How often a waiting consumer checks that its producer is alive, when the kernel cannot tell it (no pidfd). Default: 1000 ms. */
  producerCheckIntervalMs?: number;
  /** After the producer dies, keep waiting this long (ms) for a restarted producer to take over. Default: 0. */
  waitForRestartMs?: number;
  /** Messages delivered per wakeup in the 'message' event form before yielding to the event loop. Default: 1024. */
  maxBatch?: number;
  /** Whether a consumer waiting for messages keeps the process alive. Default: true. */
  ref?: boolean;
}

export const DEFAULT_SPIN_MICROSECONDS = 50;
export const DEFAULT_PRODUCER_CHECK_INTERVAL_MS = 1000;
export const DEFAULT_MAX_BATCH = 1024;

export const CONSUMER_OPTION_KEYS = [
  'tethered', 'from', 'codec', 'wait', 'spinMicroseconds', 'allowForeignOwner', 'openTimeout',
  'producerCheckIntervalMs', 'waitForRestartMs', 'maxBatch', 'ref',
] as const;

export interface ResolvedConsumerOptions {
  tethered: boolean;
  from: 'next' | 'oldest';
  codec: Codec;
  wait: WaitStrategy;
  spinMicroseconds: number;
  allowForeignOwner: boolean;
  openTimeout: number;
  producerCheckIntervalMs: number;
  waitForRestartMs: number;
  maxBatch: number;
  ref: boolean;
}

export function resolveConsumerOptions(input: unknown): ResolvedConsumerOptions {
  const what = 'Consumer.open';
  const options = checkOptionsObject(what, input);
  rejectUnknownKeys(what, options, CONSUMER_OPTION_KEYS);
  const codec = options.codec === undefined ? createMessagePackCodec() : (options.codec as Codec);
  if (typeof codec?.encode !== 'function' || typeof codec?.decode !== 'function') {
    throw invalidArgType(`${what}: codec must have encode() and decode() methods`);
  }
  return {
    tethered: booleanOption(what, 'tethered', options.tethered, true),
    from: choiceOption(what, 'from', options.from, 'next', ['next', 'oldest'] as const),
    codec,
    wait: choiceOption(what, 'wait', options.wait, 'spin-then-sleep', ['spin', 'spin-then-sleep', 'sleep'] as const),
    spinMicroseconds: integerOption(what, 'spinMicroseconds', options.spinMicroseconds, DEFAULT_SPIN_MICROSECONDS, 0, 1_000_000),
    allowForeignOwner: booleanOption(what, 'allowForeignOwner', options.allowForeignOwner, false),
    openTimeout: durationOption(what, 'openTimeout', options.openTimeout, 0),
    producerCheckIntervalMs: durationOption(what, 'producerCheckIntervalMs', options.producerCheckIntervalMs, DEFAULT_PRODUCER_CHECK_INTERVAL_MS, false),
    waitForRestartMs: durationOption(what, 'waitForRestartMs', options.waitForRestartMs, 0),
    maxBatch: integerOption(what, 'maxBatch', options.maxBatch, DEFAULT_MAX_BATCH, 1, 1 << 30),
    ref: booleanOption(what, 'ref', options.ref, true),
  };
}

