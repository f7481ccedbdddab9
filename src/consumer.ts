/**
 * A consumer: joins a ring in a slot of its own and receives every message, in publish order.
 *
 * Tethered consumers (the default) hold the producer back, so they never lose a message. Untethered ones
 * never hold it back; when overwritten they resume at the oldest message still in the ring and count
 * exactly how many they missed (`lost`).
 *
 * Waiting: spin briefly, then sleep on the ring's futex word through a native waiter thread, so the event
 * loop is never blocked for more than the spin and an idle consumer uses no CPU.
 */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import { Codec, createMessagePackCodec } from './codec';
import { ShmRingError } from './errors';
import { AsyncWaiter } from './futex';
import * as futex from './futex';
import * as L from './layout';
import { currentProcess, liveness, ProcessIdentity } from './liveness';
import { watchExit } from './exit-watch';
import {
  booleanOption,
  checkOptionsObject,
  choiceOption,
  durationOption,
  integerOption,
  rejectUnknownKeys,
  waitOptions,
} from './options';
import {
  distance,
  NEXT_SEQUENCE_I32,
  TAIL_INTENT_I32,
  OLDEST_POSITION_I32,
  PRODUCER_EPOCH_I32,
  PRODUCER_PID_I32,
  PRODUCER_PID_NAMESPACE_F64,
  PRODUCER_START_TIME_F64,
  PRODUCER_STATE_I32,
  PUBLISHED_TAIL_I32,
  RingMemory,
} from './ring/memory';
import { DEFAULT_INIT_TIMEOUT_MS, openRing } from './ring/open';
import { NOTHING, RingReader } from './ring/reader';
import { claimSlot, releaseSlot, setSlotHead, slotOwner } from './ring/slots';
import { Segment, validateSegmentName } from './segment';
import { followSharedWait } from './shared-wait';

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
  /** Wait this long (ms) for the ring to be created if it does not exist yet. Default: 0 (fail at once). */
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

const CONSUMER_OPTION_KEYS = [
  'tethered', 'from', 'codec', 'wait', 'spinMicroseconds', 'allowForeignOwner', 'openTimeout',
  'producerCheckIntervalMs', 'waitForRestartMs', 'maxBatch', 'ref',
] as const;

interface ResolvedConsumerOptions {
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

function resolveOptions(input: unknown): ResolvedConsumerOptions {
  const what = 'Consumer.open';
  const options = checkOptionsObject(what, input);
  rejectUnknownKeys(what, options, CONSUMER_OPTION_KEYS);
  const codec = options.codec === undefined ? createMessagePackCodec() : (options.codec as Codec);
  if (typeof codec?.encode !== 'function' || typeof codec?.decode !== 'function') {
    throw new TypeError(`${what}: codec must have encode() and decode() methods`);
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

export interface ReceiveOptions {
  signal?: AbortSignal;
  /** Give up after this many ms: resolves undefined. Default: Infinity. */
  timeout?: number;
}

export interface ConsumerStats {
  received: number;
  lost: number;
  laps: number;
  /** Bytes published but not yet read by this consumer. */
  lagBytes: number;
}

/** Returned by next() when nothing is available. */
const NONE: unique symbol = Symbol('none');
/** Returned by next() at end of stream. */
const END: unique symbol = Symbol('end');

/**
 * Where a new consumer starts. Joining at 'next', the tail and the sequence number published with it
 * are read together (the tail read twice, unchanged, around the sequence), so that a consumer lapped
 * before its first read still counts what it missed. The producer stores the sequence before the tail,
 * so in a race with a publish the sequence can be one ahead: then one loss goes uncounted, never an
 * invented one. Joining at 'oldest', the sequence is learnt from the first record read.
 */
function joinPoint(memory: RingMemory, from: 'next' | 'oldest'): { start: number; sequence: number | undefined } {
  const words = memory.controlI32;
  if (from === 'oldest') return { start: Atomics.load(words, OLDEST_POSITION_I32), sequence: undefined };
  let start = Atomics.load(words, PUBLISHED_TAIL_I32);
  for (let attempt = 0; attempt < 16; attempt++) {
    const sequence = Atomics.load(words, NEXT_SEQUENCE_I32);
    const again = Atomics.load(words, PUBLISHED_TAIL_I32);
    if (again === start) return { start, sequence };
    start = again;
  }
  return { start, sequence: undefined };
}

/**
 * Fixes where a consumer that has just claimed its slot starts, so that a tethered one never needs to
 * check a record for being overwritten: the head is stored first, then TAIL_INTENT is loaded (the Dekker
 * pair with RingWriter#raiseIntent, which stores TAIL_INTENT, then rescans the heads). If the producer
 * may already write past our head + capacity, we start further on (nothing has been read yet, so this
 * loses nothing: the join simply happened later).
 */
function settleJoin(memory: RingMemory, slot: number, from: 'next' | 'oldest'): { start: number; sequence: number | undefined } {
  const words = memory.controlI32;
  let join = joinPoint(memory, from);
  for (let attempt = 0; attempt < 16; attempt++) {
    if (slot >= 0) setSlotHead(memory, slot, join.start);
    if (distance(Atomics.load(words, TAIL_INTENT_I32), join.start) <= memory.capacity) return join;
    join = joinPoint(memory, attempt < 8 ? from : 'next');
  }
  return join;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class Consumer extends EventEmitter implements AsyncIterable<unknown> {
  readonly name: string;
  readonly tethered: boolean;
  readonly capacity: number;

  private readonly segment: Segment;
  private readonly memory: RingMemory;
  private readonly reader: RingReader;
  private readonly codec: Codec;
  private readonly options: ResolvedConsumerOptions;
  private readonly slot: number;
  private readonly segmentIdentity: { ino: number; dev: number };
  private readonly pid: number;
  private producer: ProcessIdentity & { epoch: number };
  private waiter: AsyncWaiter | undefined;
  private exitWatcher: { close(): void } | undefined;
  private dataWait: Promise<void> | undefined;
  private producerExited = false;
  private producerExitListener: (() => void) | undefined;
  private producerDeadSince = 0;
  private lastProducerCheck = Date.now();
  private emptyPolls = 0;
  private endState: 'open' | 'ended' | 'failed' = 'open';
  private failure: ShmRingError | undefined;
  private closed = false;
  private flowing = false;
  private pumping = false;
  private refed: boolean;

  private constructor(name: string, opened: { segment: Segment; memory: RingMemory }, options: ResolvedConsumerOptions) {
    super();
    this.name = name;
    this.segment = opened.segment;
    this.memory = opened.memory;
    this.capacity = opened.memory.capacity;
    this.options = options;
    this.codec = options.codec;
    this.tethered = options.tethered;
    this.refed = options.ref;
    const { ino, dev } = opened.segment.stat();
    this.segmentIdentity = { ino, dev };
    const me = currentProcess();
    this.pid = me.pid;
    const words = this.memory.controlI32;
    const provisional = Atomics.load(words, options.from === 'oldest' ? OLDEST_POSITION_I32 : PUBLISHED_TAIL_I32);
    this.slot = claimSlot(this.memory, me, options.tethered, provisional);
    if (this.slot < 0 && options.tethered) {
      throw new ShmRingError('NO_FREE_SLOT', `${name} has no free consumer slot (all ${this.memory.geometry.maxConsumers} are taken)`, {
        segment: name,
        hint: 'Create the ring with a larger maxConsumers, or close consumers you no longer need (`npx shmring inspect` lists them; slots of dead consumers are reclaimed by the producer).',
      });
    }
    // An untethered consumer without a slot still works; it is just invisible to `shmring inspect`.
    const { start, sequence } = settleJoin(this.memory, this.slot, options.from);
    this.reader = new RingReader(this.memory, options.tethered, this.slot, start, sequence);
    this.producer = this.readProducer();
    this.watchProducer();
    this.on('newListener', (event: string | symbol) => {
      if (event === 'message') queueMicrotask(() => this.resume());
    });
  }

  /** Joins the ring `name` as a consumer. */
  static open(name: string, options?: ConsumerOptions): Consumer {
    const resolved = resolveOptions(options);
    validateSegmentName(name);
    const deadline = Date.now() + resolved.openTimeout;
    for (;;) {
      let opened;
      try {
        opened = openRing(name, {
          writableData: false,
          allowForeignOwner: resolved.allowForeignOwner,
          initTimeoutMs: DEFAULT_INIT_TIMEOUT_MS,
        });
      } catch (error) {
        if (error instanceof ShmRingError && error.code === 'SEGMENT_NOT_FOUND' && Date.now() < deadline) {
          sleepSync(Math.min(10, Math.max(1, deadline - Date.now())));
          continue;
        }
        throw error;
      }
      try {
        return new Consumer(name, opened, resolved);
      } catch (error) {
        opened.segment.close();
        throw error;
      }
    }
  }

  /** The next message decoded, or undefined when none is waiting (see `ended`). Never blocks. */
  tryReceive(): unknown {
    const value = this.next(true);
    return value === NONE || value === END ? undefined : value;
  }

  /**
   * The next message's raw payload (MessagePack bytes for send(), the bytes for sendBytes()), or
   * undefined. The view is valid until the next read from this consumer: copy it to keep it.
   */
  tryReceiveBytes(): Uint8Array | undefined {
    const value = this.next(false);
    return value === NONE || value === END ? undefined : (value as Uint8Array);
  }

  /**
   * The next message, blocking the thread up to `timeoutMs` (for workers and dedicated processes).
   * Returns undefined on timeout or at end of stream; throws PRODUCER_DIED when the producer died.
   */
  receiveSync(timeoutMs = Infinity): unknown {
    const value = this.nextSync(true, timeoutMs);
    return value === NONE || value === END ? undefined : value;
  }

  receiveBytesSync(timeoutMs = Infinity): Uint8Array | undefined {
    const value = this.nextSync(false, timeoutMs);
    return value === NONE || value === END ? undefined : (value as Uint8Array);
  }

  /**
   * The next message. Resolves undefined at end of stream or on timeout, rejects with ABORTED when the
   * signal aborts and with PRODUCER_DIED when the producer died.
   */
  async receive(options?: ReceiveOptions): Promise<unknown> {
    const { signal, timeout } = waitOptions('receive', options);
    const deadline = Date.now() + timeout;
    let started = false;
    for (;;) {
      if (signal?.aborted) {
        throw new ShmRingError('ABORTED', `receiving from ${this.name} was aborted`, { segment: this.name, cause: signal.reason });
      }
      if (this.closed && started) return undefined;
      started = true;
      const value = this.next(true);
      if (value === END) return undefined;
      if (value !== NONE) return value;
      if (Date.now() >= deadline) return undefined;
      await this.waitForData(signal, deadline);
    }
  }

  /**
   * Delivers every message available now (up to `max`) to `onMessage`, synchronously. Returns how many
   * were delivered. The cheapest way to consume: no promise per message.
   */
  drain(onMessage: (value: unknown) => void, max = Infinity): number {
    let count = 0;
    while (count < max) {
      const value = this.next(true);
      if (value === NONE || value === END) break;
      onMessage(value);
      count++;
    }
    return count;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<unknown> {
    for (;;) {
      if (this.closed) return;
      const value = this.next(true);
      if (value === END) return;
      if (value === NONE) {
        await this.waitForData(undefined, Infinity);
        continue;
      }
      yield value;
    }
  }

  /** Starts (or restarts) the 'message' event flow; adding a 'message' listener does it too. */
  resume(): this {
    if (this.closed || this.flowing) return this;
    this.flowing = true;
    if (!this.pumping) void this.pump();
    return this;
  }

  /** Stops the 'message' event flow (messages stay in the ring). */
  pause(): this {
    this.flowing = false;
    return this;
  }

  /** True after the end of stream was reached (producer closed) or the producer died. */
  get ended(): boolean {
    return this.endState !== 'open';
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get lost(): number {
    return this.reader.lost;
  }

  get received(): number {
    return this.reader.received;
  }

  get stats(): ConsumerStats {
    const tail = this.closed ? this.reader.position : Atomics.load(this.memory.controlI32, PUBLISHED_TAIL_I32);
    return {
      received: this.reader.received,
      lost: this.reader.lost,
      laps: this.reader.laps,
      lagBytes: Math.max(0, (tail - this.reader.position) | 0),
    };
  }

  /** Whether a pending wait keeps the process alive. */
  ref(): this {
    this.refed = true;
    this.waiter?.ref();
    return this;
  }

  unref(): this {
    this.refed = false;
    this.waiter?.unref();
    return this;
  }

  /** Leaves the ring: frees the slot (a tethered consumer stops holding the producer), unmaps. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flowing = false;
    if (this.slot >= 0) {
      this.reader.release();
      releaseSlot(this.memory, this.slot, this.pid);
      // A producer held back by this (tethered) consumer may now go on.
      this.reader.wakeProducer();
    }
    this.exitWatcher?.close();
    this.waiter?.close();
    this.segment.close();
    this.emit('close');
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /**
   * @internal For multi-ring waits (Selector). Announces that the caller is about to sleep on this ring
   * and returns the futex word to sleep on, or undefined when data (or the end) is already there.
   */
  _prepareToSleep(): futex.FutexWord | undefined {
    if (this.closed || this.endState !== 'open') return undefined;
    const tail = this.reader.prepareToSleep();
    if (tail === undefined) return undefined;
    return { buffer: this.memory.control, byteOffset: PUBLISHED_TAIL_I32 << 2, expected: tail };
  }

  /**
   * @internal Called (on the JS thread) when the kernel reports that the producer exited, so a caller
   * sleeping on this ring elsewhere (a Selector) can wake up at once.
   */
  _onProducerExit(listener: (() => void) | undefined): void {
    this.producerExitListener = listener;
  }

  /** @internal Runs the producer liveness check now (a Selector does it when its periodic wait times out). */
  _checkProducer(): void {
    if (!this.closed && this.endState === 'open' && !this.reader.hasData()) this.checkProducer(true);
  }

  // -------------------------------------------------------------------------------------------------

  /** The next value (decoded or raw view), NONE, or END. Throws on corruption or producer death. */
  private next(decode: boolean): unknown {
    if (this.closed) {
      throw new ShmRingError('CLOSED', `the consumer of ${this.name} is closed`, { segment: this.name });
    }
    for (;;) {
      if (this.endState === 'ended') return END;
      if (this.endState === 'failed') throw this.failure;
      const type = this.reader.read();
      if (type === NOTHING) {
        // Checked when idle rather than per message: a reclaimed slot only matters to a consumer that
        // waits (a tethered one no longer holds the producer back).
        if (this.slot >= 0 && slotOwner(this.memory, this.slot) !== this.pid) this.evicted();
        // Reading the clock costs as much as an empty poll: look at it only every 64 empty polls, or when
        // a wait timed out or the kernel said the producer exited (both zero lastProducerCheck).
        if (this.lastProducerCheck === 0 || this.producerExited || (++this.emptyPolls & 63) === 0) this.checkProducer(false);
        if (this.endState === 'open') return NONE;
        continue;
      }
      if (type === L.RecordType.END) {
        // An END with more records after it was left by an earlier producer generation: not our end.
        if (this.reader.hasData()) continue;
        this.endState = 'ended';
        this.reader.release();
        return END;
      }
      const payload = this.reader.payload();
      if (!decode) return payload;
      if (type === L.RecordType.BYTES) return payload.slice();
      return this.decode(payload);
    }
  }

  /**
   * Decodes one message. A payload the codec cannot read (another codec, or damaged memory) is reported
   * as DECODE_ERROR; the consumer has already moved past it, so the next read goes on.
   */
  private decode(payload: Uint8Array): unknown {
    try {
      return this.codec.decode(payload);
    } catch (cause) {
      throw new ShmRingError(
        'DECODE_ERROR',
        `${this.name}: message ${this.reader.sequence >>> 0} could not be decoded: ${(cause as Error)?.message ?? cause}`,
        {
          segment: this.name,
          cause,
          hint: 'The producer uses another codec, or the message was damaged. This message is skipped; the next read goes on.',
        },
      );
    }
  }

  private nextSync(decode: boolean, timeoutMs: number): unknown {
    durationOption('receiveSync', 'timeoutMs', timeoutMs, Infinity);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = this.next(decode);
      if (value !== NONE) return value;
      if (this.spin(deadline)) continue;
      const now = Date.now();
      if (now >= deadline) return NONE;
      const tail = this.reader.prepareToSleep();
      if (tail === undefined) continue;
      const result = futex.wait(this.memory.control, PUBLISHED_TAIL_I32 << 2, tail, Math.min(deadline - now, this.options.producerCheckIntervalMs));
      if (result === 'timed-out') this.lastProducerCheck = 0;
    }
  }

  /** Busy-polls for data per the wait strategy. Returns true when data arrived. */
  private spin(deadline: number): boolean {
    const strategy = this.options.wait;
    if (strategy === 'sleep') return false;
    const spinUntil = strategy === 'spin' ? Math.min(deadline, Date.now() + this.options.producerCheckIntervalMs) : 0;
    const start = process.hrtime.bigint();
    const spinNs = BigInt(this.options.spinMicroseconds * 1000);
    for (let i = 0; ; i++) {
      if (this.reader.hasData()) return true;
      if ((i & 63) !== 63) continue;
      if (strategy === 'spin') {
        if (Date.now() >= spinUntil) return false;
      } else if (process.hrtime.bigint() - start >= spinNs) {
        return false;
      }
    }
  }

  /**
   * Resolves when data may be available, the stream ended, or the consumer closed. One wait is shared by
   * all callers (iterator, 'message' flow, receive()).
   */
  private waitForData(signal: AbortSignal | undefined, deadline: number): Promise<void> {
    if (this.closed || this.endState !== 'open') return Promise.resolve();
    this.dataWait ??= this.sleepUntilData().finally(() => {
      this.dataWait = undefined;
    });
    return followSharedWait(this.dataWait, {
      signal,
      deadline,
      ref: this.refed,
      onAbort: (reason) => new ShmRingError('ABORTED', `receiving from ${this.name} was aborted`, { segment: this.name, cause: reason }),
      onTimeout: () => undefined,
    });
  }

  private async sleepUntilData(): Promise<void> {
    if (this.options.wait !== 'sleep' && this.spin(Date.now() + 1)) return;
    if (this.options.wait === 'spin') {
      // Busy-wait without blocking the event loop: poll once per turn of the loop.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return;
    }
    this.waiter ??= new AsyncWaiter();
    if (this.refed) this.waiter.ref();
    else this.waiter.unref();
    const tail = this.reader.prepareToSleep();
    if (tail === undefined) return;
    try {
      const { result } = await this.waiter.wait(
        [{ buffer: this.memory.control, byteOffset: PUBLISHED_TAIL_I32 << 2, expected: tail }],
        this.options.producerCheckIntervalMs,
      );
      if (result === 'timed-out') this.lastProducerCheck = 0;
    } catch (error) {
      // Our own cancel (the producer exited) or close(): the caller re-checks the ring and our state.
      if (!(error instanceof ShmRingError && (error.code === 'ABORTED' || error.code === 'CLOSED'))) throw error;
      this.lastProducerCheck = 0;
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.flowing && !this.closed) {
        let delivered = 0;
        let value: unknown;
        while (delivered < this.options.maxBatch && this.flowing && !this.closed) {
          value = this.next(true);
          if (value === NONE || value === END) break;
          delivered++;
          this.emit('message', value);
        }
        if (value === END) {
          this.flowing = false;
          this.emit('end');
          break;
        }
        if (delivered >= this.options.maxBatch) {
          // Let the rest of the process run between batches.
          await new Promise<void>((resolve) => setImmediate(resolve));
        } else if (value === NONE && this.flowing) {
          await this.waitForData(undefined, Infinity);
        }
      }
    } catch (error) {
      this.flowing = false;
      if (!this.closed) this.emit('error', error);
    } finally {
      this.pumping = false;
    }
  }

  private readProducer(): ProcessIdentity & { epoch: number } {
    const words = this.memory.controlI32;
    const doubles = this.memory.controlF64;
    return {
      pid: Atomics.load(words, PRODUCER_PID_I32),
      startTime: doubles[PRODUCER_START_TIME_F64],
      pidNamespace: doubles[PRODUCER_PID_NAMESPACE_F64],
      epoch: Atomics.load(words, PRODUCER_EPOCH_I32),
    };
  }

  /** Asks the kernel to tell us when the producer exits (pidfd); falls back to periodic checks. */
  private watchProducer(): void {
    this.exitWatcher?.close();
    this.exitWatcher = undefined;
    this.producerExited = false;
    const { pid } = this.producer;
    if (pid <= 0 || liveness(this.producer) !== 'alive') return;
    try {
      // One process-wide watcher thread serves every consumer (src/exit-watch.ts); it never keeps the
      // process alive.
      const unsubscribe = watchExit(pid, () => {
        this.producerExited = true;
        this.lastProducerCheck = 0;
        this.waiter?.cancel();
        this.producerExitListener?.();
      });
      this.exitWatcher = { close: unsubscribe };
    } catch {
      // No pidfd (old kernel, seccomp): the periodic check in checkProducer covers it.
    }
  }

  /**
   * Called when the ring is empty: ends the stream when the producer closed without room for its END
   * record, or fails it when the producer died (after everything it committed has been read).
   */
  private checkProducer(force: boolean): void {
    const now = Date.now();
    if (!force && !this.producerExited && now - this.lastProducerCheck < this.options.producerCheckIntervalMs) return;
    this.lastProducerCheck = now;
    const words = this.memory.controlI32;
    const state = Atomics.load(words, PRODUCER_STATE_I32);
    const current = this.readProducer();
    if (current.epoch !== this.producer.epoch || current.pid !== this.producer.pid) {
      // A restarted producer took over: follow it.
      this.producer = current;
      this.producerDeadSince = 0;
      this.watchProducer();
    }
    if (this.reader.hasData()) return;
    if (state === L.ProducerState.CLOSED && current.pid === 0) {
      this.endState = 'ended';
      return;
    }
    const alive = current.pid !== 0 && liveness(current) !== 'dead';
    if (alive) {
      this.producerDeadSince = 0;
      return;
    }
    if (this.producerDeadSince === 0) this.producerDeadSince = now;
    if (this.nameReplaced()) {
      // A restarted producer made a new ring under our name (or removed it): nobody will ever write to
      // the segment we have mapped again, so there is nothing to wait for.
      this.endState = 'failed';
      this.failure = new ShmRingError(
        'RING_REPLACED',
        `the producer of ${this.name} died and the name now refers to another ring (or to none); every message of the old ring was delivered`,
        { segment: this.name, hint: 'Reopen the consumer to follow the new ring.' },
      );
      throw this.failure;
    }
    if (now - this.producerDeadSince < this.options.waitForRestartMs) return;
    this.endState = 'failed';
    this.failure = new ShmRingError(
      'PRODUCER_DIED',
      `the producer of ${this.name} (pid ${current.pid || this.producer.pid}) died; every message it committed was delivered`,
      {
        segment: this.name,
        hint: 'Restart the producer (it takes the ring over) and reopen the consumer, or open with { waitForRestartMs } to wait for it.',
      },
    );
    throw this.failure;
  }

  /** Whether /dev/shm/<name> is no longer the segment we have mapped (replaced or unlinked). */
  private nameReplaced(): boolean {
    try {
      const current = fs.statSync(`/dev/shm${this.name}`);
      return current.ino !== this.segmentIdentity.ino || current.dev !== this.segmentIdentity.dev;
    } catch {
      return true;
    }
  }

  private evicted(): never {
    this.endState = 'failed';
    this.failure = new ShmRingError('CONSUMER_EVICTED', `this consumer's slot in ${this.name} was reclaimed by the producer`, {
      segment: this.name,
      hint: 'The producer judged this process dead (pid namespaces differ, or /proc is hidden). Run producer and consumers in one pid namespace.',
    });
    throw this.failure;
  }
}
