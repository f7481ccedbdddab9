/**
 * A consumer: joins a ring in a slot of its own and receives every message, in publish order.
 *
 * Tethered consumers (the default) hold the producer back, so they never lose a message. Untethered ones
 * never hold it back; when overwritten they resume at the oldest message still in the ring and count
 * exactly how many they missed (`lost`).
 *
 * Waiting: spin briefly, then sleep on the ring's futex word through a native waiter thread, so the event
 * loop is never blocked for more than the spin and an idle consumer uses no CPU.
 *
 * Size: the consumer's public surface (pull, push, iterate, blocking) shares one reader and one end-of-
 * stream state machine; options live in consumer-options.ts and the join in ring/join.ts.
 */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import { Codec, RangeDecoder, rangeDecoderOf } from './codec';
import { ConsumerOptions, ResolvedConsumerOptions, resolveConsumerOptions } from './consumer-options';
import { AbortError, invalidArgType, outOfRange, ShmRingError } from '../errors';
import { AsyncWaiter } from '../core/futex';
import * as futex from '../core/futex';
import * as L from '../ring/layout';
import { currentProcess, liveness, ProcessIdentity } from '../core/liveness';
import { watchExit } from '../core/exit-watch';
import {
  durationOption,
  waitOptions,
} from './options';
import {
  distance64,
  loadPair,
  PRODUCER_EPOCH_I32,
  PRODUCER_PID_I32,
  PRODUCER_PID_NAMESPACE_F64,
  PRODUCER_START_TIME_F64,
  PRODUCER_STATE_I32,
  PUBLISHED_TAIL_I32,
  RingMemory,
} from '../ring/memory';
import { DEFAULT_INIT_TIMEOUT_MS, openRing } from '../ring/open';
import { NOTHING, RingReader } from '../ring/reader';
import { decodeAbortReason } from '../ring/abort-record';
import { readRingId } from '../ring/header';
import { joinPoint, settleJoin } from '../ring/join';
import { openSlotBell, SlotBell } from '../ring/bells';
import { claimSlot, markJoined, reclaimDeadSlots, releaseSlot, slotOwner } from '../ring/slots';
import { ConnectOptions, connectWhenCreated } from './connect';
import { conflictingReaders, ReadingStyle } from './reading-style';
import { Segment, validateSegmentName } from '../core/segment';
import { followSharedWait } from '../core/shared-wait';

export { DEFAULT_SPIN_MICROSECONDS, DEFAULT_PRODUCER_CHECK_INTERVAL_MS, DEFAULT_MAX_BATCH } from './consumer-options';
export type { ConsumerOptions, WaitStrategy } from './consumer-options';

export interface ReceiveOptions {
  /** Cancels the wait: rejects with an AbortError. */
  signal?: AbortSignal;
  /** Give up after this many ms: rejects with ShmRingError TIMEOUT. Default: Infinity. */
  timeout?: number;
}

export type { ConnectOptions } from './connect';

/** Typed 'message' events: a Consumer<Metric> emits Metric values. */
export interface Consumer<T = unknown> {
  on(event: 'message', listener: (value: T) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'message', listener: (value: T) => void): this;
  once(event: 'end' | 'close', listener: () => void): this;
  once(event: 'error', listener: (error: Error) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export interface ConsumerStats {
  received: number;
  lost: number;
  laps: number;
  /** Bytes published but not yet read by this consumer. */
  lagBytes: number;
}

/** How often a read-only consumer (which cannot announce that it sleeps) looks for new messages. */
const READ_ONLY_POLL_MS = 10;

/** afterControlRecord(): read on, the record was not the end of this stream. */
const CONTINUE: unique symbol = Symbol('continue');

/**
 * A poll() handler: the message is `bytes[offset .. offset + length)`, valid only during the call (the
 * view is of the ring itself for a tethered consumer, of the consumer's copy buffer for an untethered
 * one). `sequence` is the message's sequence number.
 */
export type PollHandler = (bytes: Uint8Array, offset: number, length: number, sequence: number) => void;
/** What pollRun hands a record to: a PollHandler, told the record's type too (MESSAGE or BYTES) for drain(). */
type RecordHandler = (bytes: Uint8Array, offset: number, length: number, sequence: number, type: number) => void;

/** Returned by next() when nothing is available. */
const NONE: unique symbol = Symbol('none');
/** Returned by next() at end of stream. */
const END: unique symbol = Symbol('end');

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Consumer<T = unknown> extends EventEmitter implements AsyncIterable<T> {
  readonly name: string;
  readonly tethered: boolean;
  readonly capacity: number;

  private readonly segment: Segment;
  private readonly memory: RingMemory;
  private readonly reader: RingReader;
  private readonly codec: Codec;
  /** The codec's in-place decoder (the default codec has one): no view per message. */
  private readonly decodeRange: RangeDecoder | undefined;
  private readonly options: ResolvedConsumerOptions;
  private readonly slot: number;
  private readonly segmentIdentity: { ino: number; dev: number };
  private readonly pid: number;
  private producer: ProcessIdentity & { epoch: number };
  private waiter: AsyncWaiter | undefined;
  /** The doorbell for event-loop sleeps (wake: 'doorbell'), made on the first; null: impossible here. */
  private bell: SlotBell | null | undefined;
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
  /** Opened read-only (untethered, no slot): sleeps are polls of at most READ_ONLY_POLL_MS. */
  private readonly readOnly: boolean;
  /** How this consumer is read: by 'message' events or by an async iterator, never both. */
  private readingStyle: ReadingStyle | undefined;

  private constructor(name: string, opened: { segment: Segment; memory: RingMemory; readOnly: boolean }, options: ResolvedConsumerOptions) {
    super();
    this.name = name;
    this.segment = opened.segment;
    this.memory = opened.memory;
    this.capacity = opened.memory.capacity;
    this.options = options;
    this.codec = options.codec;
    this.decodeRange = rangeDecoderOf(options.codec);
    this.tethered = options.tethered;
    this.refed = options.ref;
    const { ino, dev } = opened.segment.stat();
    this.segmentIdentity = { ino, dev };
    const me = currentProcess();
    this.pid = me.pid;
    this.readOnly = opened.readOnly;
    const provisional = joinPoint(this.memory, options.from);
    let slot = this.readOnly ? -1 : claimSlot(this.memory, me, options.tethered, provisional.start, provisional.startHigh);
    // No free slot: slots held by dead consumers are freed here rather than waiting for the producer,
    // which reclaims only on its liveness timer (or when they hold it back).
    if (slot < 0 && !this.readOnly && reclaimDeadSlots(this.memory) > 0) {
      slot = claimSlot(this.memory, me, options.tethered, provisional.start, provisional.startHigh);
    }
    this.slot = slot;
    if (this.slot < 0 && options.tethered) {
      throw new ShmRingError('NO_FREE_SLOT', `${name} has no free consumer slot (all ${this.memory.geometry.maxConsumers} are taken)`, {
        segment: name,
        hint: 'Every slot belongs to a live process (slots of dead ones were freed before this error). Create the ring with a larger maxConsumers, or close consumers you no longer need: `npx shmring inspect NAME` lists them.',
      });
    }
    // An untethered consumer without a slot still works; it is just invisible to `shmring inspect`.
    const { start, startHigh, sequence } = settleJoin(this.memory, this.slot, options.from);
    if (this.slot >= 0) markJoined(this.memory, this.slot);
    this.reader = new RingReader(this.memory, options.tethered, this.slot, start, startHigh, sequence);
    this.reader.readOnly = this.readOnly;
    this.reader.ownerPid = this.pid;
    // Settling may have moved our head forward, freeing space a producer sleeps for: tell it.
    this.reader.wakeProducer();
    this.producer = this.readProducer();
    this.watchProducer();
    this.on('newListener', (event: string | symbol) => {
      if (event === 'message') {
        this.useReadingStyle('message events');
        queueMicrotask(() => this.resume());
      }
    });
  }

  /**
   * Joins the ring `name` as a consumer. With `openTimeout`, waits for the ring to be created by
   * sleeping the thread (blocks the event loop: for workers; elsewhere use Consumer.connect).
   */
  static open<T = unknown>(name: string, options?: ConsumerOptions): Consumer<T> {
    const resolved = resolveConsumerOptions(options);
    validateSegmentName(name);
    const deadline = Date.now() + resolved.openTimeout;
    for (;;) {
      let opened;
      try {
        opened = openRing(name, {
          writableData: false,
          // Only an untethered consumer can do without a slot, and so with read permission alone.
          readOnlyFallback: !resolved.tethered,
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
        return new Consumer<T>(name, opened, resolved);
      } catch (error) {
        opened.segment.close();
        throw error;
      }
    }
  }

  /**
   * Joins the ring `name`, waiting for it to be created without blocking the event loop. Rejects with
   * ShmRingError TIMEOUT after `timeout` ms, with an AbortError when `signal` aborts, and at once with
   * any other failure to open (PERMISSION_DENIED, NOT_A_RING, ...). See api/connect.ts.
   */
  static connect<T = unknown>(name: string, options?: ConsumerOptions & ConnectOptions): Promise<Consumer<T>> {
    return connectWhenCreated((ringName, consumerOptions) => Consumer.open<T>(ringName, consumerOptions), name, options);
  }

  /** The next message decoded, or undefined when none is waiting (see `ended`). Never blocks. */
  tryReceive(): T | undefined {
    const value = this.next(true);
    return value === NONE || value === END ? undefined : (value as T);
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
  receiveSync(timeoutMs = Infinity): T | undefined {
    const value = this.nextSync(true, timeoutMs);
    return value === NONE || value === END ? undefined : (value as T);
  }

  receiveBytesSync(timeoutMs = Infinity): Uint8Array | undefined {
    const value = this.nextSync(false, timeoutMs);
    return value === NONE || value === END ? undefined : (value as Uint8Array);
  }

  /**
   * The next message. Resolves undefined at end of stream; rejects with ShmRingError TIMEOUT after
   * `timeout` ms (as sendAsync does), with an AbortError when the signal aborts and with PRODUCER_DIED
   * when the producer died.
   */
  async receive(options?: ReceiveOptions): Promise<T | undefined> {
    const { signal, timeout } = waitOptions('receive', options);
    const deadline = Date.now() + timeout;
    let started = false;
    for (;;) {
      if (signal?.aborted) throw this.aborted(signal.reason);
      if (this.closed && started) return undefined;
      started = true;
      const value = this.next(true);
      if (value === END) return undefined;
      if (value !== NONE) return value as T;
      if (Date.now() >= deadline) throw this.receiveTimedOut(timeout);
      await this.waitForData(signal, deadline);
    }
  }

  /**
   * Delivers every message available now (up to `max`) to `onMessage`, synchronously. Returns how many
   * were delivered. The cheapest way to consume: no promise per message.
   */
  /**
   * The zero-allocation batch read (as Agrona's `read(handler, limit)`): hands each waiting message, raw,
   * to `handler(bytes, offset, length, sequence)`, up to `limit` of them, and returns how many. Nothing is
   * allocated per message: `bytes` is a view of the ring (tethered) or of this consumer's copy buffer
   * (untethered, after the same validation as every read), valid only during the call. Never blocks;
   * 0 when nothing waits (see `ended`). End of stream and errors as tryReceive(): a failure after some
   * messages were delivered is thrown by the next call. A handler that throws stops the poll; its
   * message counts as read.
   */
  poll(handler: PollHandler, limit = Infinity): number {
    if (typeof handler !== 'function') throw invalidArgType(`poll: handler must be a function, got ${typeof handler}`);
    if (!(limit >= 0)) throw outOfRange(`poll: limit must be a number >= 0, got ${String(limit)}`);
    return this.pollRun(handler, limit);
  }

  drain(onMessage: (value: T) => void, max = Infinity): number {
    // The default codec decodes in place: then runs of records are decoded straight from the ring, as
    // poll() hands them over (tethered: one load of the tail per run, no view per message).
    if (this.decodeRange !== undefined) {
      return this.pollRun((bytes, offset, length, _sequence, type) => {
        onMessage((type === L.RecordType.BYTES ? bytes.slice(offset, offset + length) : this.decode(bytes, offset, length)) as T);
      }, max);
    }
    let count = 0;
    while (count < max) {
      const value = this.next(true);
      if (value === NONE || value === END) break;
      onMessage(value as T);
      count++;
    }
    return count;
  }

  /**
   * Every message, in order, until the end of stream. Leaving the loop (break, return, a throw, or the
   * end) closes the consumer, as leaving a loop over a Readable destroys it. Cannot be combined with
   * 'message' listeners (CONFLICTING_READERS).
   */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    this.useReadingStyle('an async iterator');
    try {
      for (;;) {
        if (this.closed) return;
        const value = this.next(true);
        if (value === END) return;
        if (value === NONE) {
          await this.waitForData(undefined, Infinity);
          continue;
        }
        yield value as T;
      }
    } finally {
      this.close();
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

  /**
   * Sequence number of the message last returned (by any receive call, iteration or 'message' event);
   * -1 before the first. Sequence numbers count every message the ring ever carried, across producer
   * takeovers, and are unique within one ring instance (ringId).
   */
  get lastSequence(): number {
    return this.reader.received === 0 ? -1 : this.reader.sequence;
  }

  /**
   * Identifies this instance of the segment: changes when the ring is created anew (not when a producer
   * takes it over). With lastSequence, a key that names a message uniquely, e.g. for de-duplication.
   */
  get ringId(): string {
    return readRingId(this.memory.control);
  }

  /**
   * The ring's producer epoch now: 0 for the producer that created it, plus one for every takeover since.
   * (Records do not carry it: a message read after a takeover may have been written by an earlier epoch.)
   */
  get producerEpoch(): number {
    return Atomics.load(this.memory.controlI32, PRODUCER_EPOCH_I32);
  }

  get stats(): ConsumerStats {
    const { position, positionHigh } = this.reader;
    let lagBytes = 0;
    if (!this.closed) {
      const tailLow = new Int32Array(1);
      const tailHigh = loadPair(this.memory.controlI32, PUBLISHED_TAIL_I32, tailLow);
      lagBytes = Math.max(0, distance64(tailLow[0], tailHigh, position, positionHigh));
    }
    return { received: this.reader.received, lost: this.reader.lost, laps: this.reader.laps, lagBytes };
  }

  /** Whether a pending wait keeps the process alive. */
  ref(): this {
    this.refed = true;
    this.waiter?.ref();
    this.bell?.ref();
    return this;
  }

  unref(): this {
    this.refed = false;
    this.waiter?.unref();
    this.bell?.unref();
    return this;
  }

  /** Leaves the ring: frees the slot (a tethered consumer stops holding the producer), unmaps. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flowing = false;
    this.bell?.close(); // removes the FIFO before the slot can change hands
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
   * @internal Announces that the caller is about to sleep on this ring and returns the futex word to sleep
   * on, or undefined when data (or the end) is already there. One ring's whole prepareToSleep.
   */
  _prepareToSleep(): futex.FutexWord | undefined {
    if (this._announceSleep()) this._fence();
    return this._sleepWord();
  }

  /**
   * @internal For multi-ring waits (Selector), the first of three steps (RingReader#prepareToSleep split, so
   * that one membarrier serves every ring): announces that the caller is about to sleep on this ring.
   * Returns whether the ring's producer asks for a membarrier before the re-check (then call _fence on one
   * such consumer).
   */
  _announceSleep(): boolean {
    if (this.closed || this.endState !== 'open') return false;
    return this.reader.announceSleep();
  }

  /** @internal The membarrier _announceSleep asked for. Returns false when the kernel refused it. */
  _fence(): boolean {
    return this.reader.fenceProducers();
  }

  /**
   * @internal The last step: the futex word to sleep on, or undefined when data (or the end) is already
   * there.
   */
  _sleepWord(): futex.FutexWord | undefined {
    if (this.closed || this.endState !== 'open') return undefined;
    const tail = this.reader.recheckBeforeSleep();
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

  /** @internal How often a waiter must look without being woken: Infinity, or a read-only consumer's poll. */
  get _pollIntervalMs(): number {
    return this.readOnly || this.reader.sleepUnguarded ? READ_ONLY_POLL_MS : Infinity;
  }

  /** @internal Runs the producer liveness check now (a Selector does it when its periodic wait times out). */
  _checkProducer(): void {
    if (!this.closed && this.endState === 'open' && !this.reader.hasData()) this.checkProducer(true);
  }

  // -------------------------------------------------------------------------------------------------

  /** The next value (decoded or raw view), NONE, or END. Throws on corruption or producer death. */
  private next(decode: boolean): unknown {
    this.checkReadable();
    for (;;) {
      if (this.endState === 'ended') return END;
      if (this.endState === 'failed') throw this.failure;
      // A release found our slot taken: we no longer hold the producer back, so say so at once.
      if (this.reader.evicted) this.evicted();
      const type = this.reader.read();
      if (type === L.RecordType.MESSAGE || type === L.RecordType.BYTES) {
        if (!decode) return this.reader.payload();
        if (type === L.RecordType.BYTES) return this.reader.payload().slice();
        return this.decode(this.reader.payloadSource(), this.reader.payloadOffset, this.reader.payloadLength);
      }
      const outcome = this.afterControlRecord(type);
      if (outcome !== CONTINUE) return outcome;
    }
  }

  private checkReadable(): void {
    if (this.closed) {
      throw new ShmRingError('CLOSED', `the consumer of ${this.name} is closed`, { segment: this.name });
    }
  }

  /**
   * What a read that found no message means: NOTHING (NONE, after the idle checks), an END (END), an ABORT
   * (throws PRODUCER_ABORTED), or a record left by an earlier producer generation (CONTINUE).
   */
  private afterControlRecord(type: number): typeof NONE | typeof END | typeof CONTINUE {
    if (type === NOTHING) {
      // Checked when idle rather than per message: a reclaimed slot only matters to a consumer that
      // waits (a tethered one no longer holds the producer back).
      if (this.slot >= 0 && slotOwner(this.memory, this.slot) !== this.pid) {
        this.reader.noteEvicted();
        this.evicted();
      }
      // Reading the clock costs as much as an empty poll: look at it only every 64 empty polls, or when
      // a wait timed out or the kernel said the producer exited (both zero lastProducerCheck).
      if (this.lastProducerCheck === 0 || this.producerExited || (++this.emptyPolls & 63) === 0) this.checkProducer(false);
      // Closed or aborted without a final record we can read (held full, or wiped): say so at once.
      else if (Atomics.load(this.memory.controlI32, PRODUCER_STATE_I32) !== L.ProducerState.LIVE) this.checkProducer(true);
      if (this.endState === 'open') return NONE;
      if (this.endState === 'failed') throw this.failure;
      return END;
    }
    // An END (or ABORT) with more records after it was left by an earlier producer generation: not our end.
    if (this.reader.hasData()) return CONTINUE;
    if (type === L.RecordType.ABORT) {
      this.failure = abortError(this.name, this.reader.payload());
      this.endState = 'failed';
      this.reader.release();
      throw this.failure;
    }
    // An END that stands for an aborted stream: a wipe (wipeOnClose) zeroed the ABORT record.
    if (Atomics.load(this.memory.controlI32, PRODUCER_STATE_I32) === L.ProducerState.ABORTED && this.reader.wipedEnd) {
      this.failure = abortError(this.name, new Uint8Array(0));
      this.endState = 'failed';
      throw this.failure;
    }
    this.endState = 'ended';
    this.reader.release();
    return END;
  }

  /**
   * The batch read: hands up to `limit` messages to `handler` without allocating anything per message.
   * See the public poll().
   */
  private pollRun(handler: RecordHandler, limit: number): number {
    this.checkReadable();
    const reader = this.reader;
    let delivered = 0;
    while (delivered < limit) {
      if (this.endState === 'ended') break;
      if (this.endState === 'failed') {
        if (delivered > 0) break; // report the failure on the next call, after what was delivered
        throw this.failure;
      }
      if (reader.evicted) this.evicted();
      // Tethered: runs of plain messages in one tight loop; anything else takes the general path below.
      const run = reader.readRun(handler, limit - delivered);
      if (run > 0) {
        delivered += run;
        continue;
      }
      const type = reader.read();
      if (type === L.RecordType.MESSAGE || type === L.RecordType.BYTES) {
        delivered++;
        handler(reader.payloadSource(), reader.payloadOffset, reader.payloadLength, reader.sequence, type);
        continue;
      }
      let outcome: typeof NONE | typeof END | typeof CONTINUE;
      try {
        outcome = this.afterControlRecord(type);
      } catch (error) {
        // The messages handed over count; the failure is thrown by the next call (endState is 'failed').
        if (delivered > 0 && (this.endState as string) === 'failed') break;
        throw error;
      }
      if (outcome === NONE || outcome === END) break;
    }
    return delivered;
  }

  /**
   * Decodes one message. A payload the codec cannot read (another codec, or damaged memory) is reported
   * as DECODE_ERROR; the consumer has already moved past it, so the next read goes on.
   */
  private decode(source: Uint8Array, offset: number, length: number): unknown {
    try {
      // The default codec decodes where the message lies; any other is given a view of it.
      const decodeRange = this.decodeRange;
      return decodeRange !== undefined ? decodeRange(source, offset, length) : this.codec.decode(new Uint8Array(source.buffer, source.byteOffset + offset, length));
    } catch (cause) {
      throw new ShmRingError(
        'DECODE_ERROR',
        `${this.name}: message ${this.reader.sequence} could not be decoded: ${(cause as Error)?.message ?? cause}`,
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
      if (now >= deadline) {
        // A wait that found nothing checks the producer at the next read ('spin' never reaches the
        // futex timeout below that would: a consumer of a closed ring would otherwise never end).
        this.lastProducerCheck = 0;
        return NONE;
      }
      const tail = this.reader.prepareToSleep();
      if (tail === undefined) continue;
      const result = futex.wait(this.memory.control, PUBLISHED_TAIL_I32 << 2, tail, Math.min(deadline - now, this.sleepLimitMs()));
      if (result === 'timed-out' && !this.readOnly) this.lastProducerCheck = 0;
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
      onAbort: (reason) => this.aborted(reason),
      onTimeout: () => undefined,
    });
  }

  /** The longest a sleep may last: until the next producer check, or a poll when nobody will wake us. */
  private sleepLimitMs(): number {
    return this.readOnly || this.reader.sleepUnguarded
      ? Math.min(READ_ONLY_POLL_MS, this.options.producerCheckIntervalMs)
      : this.options.producerCheckIntervalMs;
  }

  private async sleepUntilData(): Promise<void> {
    if (this.options.wait !== 'sleep' && this.spin(Date.now() + 1)) return;
    if (this.options.wait === 'spin') {
      // Busy-wait without blocking the event loop: poll once per turn of the loop.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return;
    }
    if (this.options.wake === 'doorbell' && this.slot >= 0 && !this.readOnly) {
      if (this.bell === undefined) this.bell = openSlotBell(this.memory, this.slot, this.segment.stat());
      if (this.bell !== null) return this.sleepOnBell(this.bell);
    }
    this.waiter ??= new AsyncWaiter();
    if (this.refed) this.waiter.ref();
    else this.waiter.unref();
    const tail = this.reader.prepareToSleep();
    if (tail === undefined) return;
    try {
      const { result } = await this.waiter.wait(
        [{ buffer: this.memory.control, byteOffset: PUBLISHED_TAIL_I32 << 2, expected: tail }],
        this.sleepLimitMs(),
      );
      if (result === 'timed-out' && !this.readOnly) this.lastProducerCheck = 0;
    } catch (error) {
      // Our own cancel (the producer exited) or close(): the caller re-checks the ring and our state.
      if (!(error instanceof AbortError || (error instanceof ShmRingError && error.code === 'CLOSED'))) throw error;
      this.lastProducerCheck = 0;
    }
  }

  /** sleepUntilData with the doorbell: the producer's ring wakes this event loop directly (one hop). */
  private async sleepOnBell(bell: SlotBell): Promise<void> {
    if (this.refed) bell.ref();
    else bell.unref();
    try {
      const result = await bell.sleep(() => this.reader.prepareToSleep(), () => this.sleepLimitMs());
      if (result === 'timed-out') this.lastProducerCheck = 0;
    } catch (error) {
      // Our own cancel (the producer exited) or close(): the caller re-checks the ring and our state.
      if (!(error instanceof AbortError || (error instanceof ShmRingError && error.code === 'CLOSED'))) throw error;
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
        this.bell?.cancel(new AbortError('the producer exited'));
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
    if (state === L.ProducerState.ABORTED && current.pid === 0) {
      // Aborted, and its ABORT record never reached us (the ring was held full, or wiped).
      this.failure = abortError(this.name, new Uint8Array(0));
      this.endState = 'failed';
      throw this.failure;
    }
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

  private aborted(reason: unknown): AbortError {
    return new AbortError(`receiving from ${this.name} was aborted`, { cause: reason, segment: this.name });
  }

  private receiveTimedOut(timeout: number): ShmRingError {
    return new ShmRingError('TIMEOUT', `nothing was received from ${this.name} within ${timeout} ms`, {
      segment: this.name,
      hint: 'The producer sent nothing meanwhile; `npx shmring inspect` shows its state and rate.',
    });
  }

  /** Records how this consumer is read; a second, different style is CONFLICTING_READERS. */
  private useReadingStyle(style: ReadingStyle): void {
    if (this.readingStyle !== undefined && this.readingStyle !== style) throw conflictingReaders(this.name, this.readingStyle, style);
    this.readingStyle = style;
  }

  private evicted(): never {
    this.endState = 'failed';
    this.failure = new ShmRingError('CONSUMER_EVICTED', `this consumer's slot in ${this.name} was taken by another process`, {
      segment: this.name,
      hint:
        'Another process judged this one dead and reclaimed its slot, or wrote into the slot table. This consumer no ' +
        'longer holds the producer back: open a new one (and check with `npx shmring inspect` who uses the ring).',
    });
    throw this.failure;
  }
}

/** The error an ABORT record stands for. */
function abortError(name: string, payload: Uint8Array): ShmRingError {
  const { message, code } = decodeAbortReason(payload);
  return new ShmRingError('PRODUCER_ABORTED', `the producer of ${name} aborted: ${message}${code ? ` (${code})` : ''}`, {
    segment: name,
    hint: 'The producer ended the stream with an error after the messages before it; see its logs for the cause.',
  });
}
