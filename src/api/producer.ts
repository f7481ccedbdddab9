/**
 * The producer: creates (or takes over, see ring/create.ts) a ring and publishes messages into it:
 * encoding, the send paths (immediate, batch, async, blocking, claimed in place, corked), waiting for
 * space, reclaiming dead consumers and closing.
 *
 * Size: the send paths share one writer, one open-claim flag, one cork count and one close state; their
 * parts that need none of these live apart (producer-options.ts, claim.ts, wait-consumers.ts,
 * exit-close.ts, ring/create.ts, ring/space-wait.ts, ring/wipe.ts, ring/abort-record.ts).
 */
import { EventEmitter } from 'events';
import { Codec } from './codec';
import { AbortError, ShmRingError, invalidArgType, outOfRange } from '../errors';
import { AsyncWaiter } from '../core/futex';
import { geometryFor, readRingId } from '../ring/header';
import * as L from '../ring/layout';
import { currentProcess, ProcessIdentity } from '../core/liveness';
import { describe, durationOption, waitOptions } from './options';
import {
  CONSUMERS_RECLAIMED_F64,
  FLAGS_I32,
  PRODUCER_PID_I32,
  PRODUCER_STALLS_F64,
  PRODUCER_STATE_I32,
  RingMemory,
} from '../ring/memory';
import { encodeAbortReason } from '../ring/abort-record';
import { createOrTakeOver } from '../ring/create';
import { announceSpaceWait, signalSpace, sleepForSpace, spaceWakeByteOffset, withdrawSpaceWait } from '../ring/space-wait';
import { occupiedSlots, reclaimDeadSlots } from '../ring/slots';
import { RingWriter, WriterStart } from '../ring/writer';
import { wipeData } from '../ring/wipe';
import { Segment, validateSegmentName } from '../core/segment';
import { followSharedWait } from '../core/shared-wait';
import { Claim } from './claim';
import { ProducerOptions, ResolvedProducerOptions, resolveProducerOptions } from './producer-options';
import { waitForConsumers, WaitForConsumersOptions } from './wait-consumers';
import { closeOnExit, forgetOnExit } from './exit-close';

/** How long close() with wipeOnClose waits for tethered consumers to read everything before wiping. */
const WIPE_DRAIN_MS = 1000;

export { Claim } from './claim';
export { DEFAULT_MODE, DEFAULT_LIVENESS_INTERVAL_MS, DEFAULT_CAPACITY, DEFAULT_MAX_CONSUMERS } from './producer-options';
export type { ProducerOptions } from './producer-options';

export interface SendOptions {
  /** Cancels the wait for space: rejects with an AbortError. */
  signal?: AbortSignal;
  /** Give up waiting for space after this many ms (rejects with TIMEOUT). Default: Infinity. */
  timeout?: number;
}

export interface ProducerStats {
  messagesSent: number;
  bytesSent: number;
  producerStalls: number;
  wakesSent: number;
  bellsRung: number;
  consumersReclaimed: number;
  freeBytes: number;
}

export class Producer<T = unknown> extends EventEmitter {
  readonly name: string;
  readonly capacity: number;
  readonly maxMessageLength: number;
  readonly maxConsumers: number;
  /** True when this producer continued a ring left by a dead producer. */
  readonly tookOver: boolean;

  private readonly segment: Segment;
  private readonly memory: RingMemory;
  private readonly writer: RingWriter;
  private readonly codec: Codec;
  private readonly options: ResolvedProducerOptions;
  private readonly identity: ProcessIdentity;
  private closed = false;
  /** Consumers reclaimed during close(): reported once it is done. */
  private reclaimedWhileClosing = 0;
  private claimOpen = false;
  private stalls = 0;
  private lastLivenessCheck = 0;
  private spaceWaiter: AsyncWaiter | undefined;
  private spaceWait: Promise<void> | undefined;
  private drainPending = false;
  private neededBytes = 0;
  private corks = 0;
  private asyncSenders = 0;
  /** Records the time of the last send once a second, so the hot path never reads the clock. */
  private readonly sendClock: NodeJS.Timeout;
  private readonly reclaimClock: NodeJS.Timeout;
  private messagesAtLastTick = -1;

  private constructor(name: string, opened: { segment: Segment; memory: RingMemory; start: WriterStart; tookOver: boolean }, options: ResolvedProducerOptions) {
    super();
    this.name = name;
    this.segment = opened.segment;
    this.memory = opened.memory;
    this.capacity = opened.memory.capacity;
    this.maxMessageLength = opened.memory.geometry.maxMessageLength;
    this.maxConsumers = opened.memory.geometry.maxConsumers;
    this.codec = options.codec;
    this.options = options;
    this.identity = currentProcess();
    this.tookOver = opened.tookOver;
    this.writer = new RingWriter(opened.memory, opened.start);
    // Before our first publish: readers (tethered too) copy and check every record of a ring that will be
    // wiped, so none delivers a record zeroed under it (layout.ts FLAG_WIPE_ON_CLOSE).
    // A producer that takes over without wiping clears it: the dead one can wipe nothing now, and readers
    // go back to reading in place.
    if (options.wipeOnClose) Atomics.or(opened.memory.controlI32, FLAGS_I32, L.FLAG_WIPE_ON_CLOSE);
    else if (opened.tookOver) Atomics.and(opened.memory.controlI32, FLAGS_I32, ~L.FLAG_WIPE_ON_CLOSE);
    if (opened.tookOver) this.writer.wakeAtNextPublish();
    this.writer.publishStart();
    this.stalls = this.memory.controlF64[PRODUCER_STALLS_F64];
    this.sendClock = setInterval(() => this.recordSendTime(), 1000);
    this.sendClock.unref();
    // Dead consumers' slots are freed on this timer too, not only when they hold the producer back: an
    // untethered consumer never does, and a joiner must not find every slot taken by the dead.
    this.reclaimClock = setInterval(() => this.reclaimDeadConsumers(true, false), options.livenessIntervalMs);
    this.reclaimClock.unref();
    if (options.closeOnExit) closeOnExit(this);
  }

  private recordSendTime(): void {
    if (this.closed || this.writer.messagesSent === this.messagesAtLastTick) return;
    this.messagesAtLastTick = this.writer.messagesSent;
    this.writer.noteSendTime(Date.now());
  }

  /**
   * Creates the ring `name` (e.g. '/telemetry.app1') and becomes its producer. When the name exists: a
   * live producer gives PRODUCER_ALIVE; a dead one's ring is taken over or replaced (`existing`).
   */
  static create<T = unknown>(name: string, options?: ProducerOptions): Producer<T> {
    const resolved = resolveProducerOptions(options);
    validateSegmentName(name);
    const geometry = geometryFor(resolved.capacity, resolved.maxConsumers, resolved.maxMessageLength);
    return new Producer<T>(name, createOrTakeOver(name, geometry, resolved), resolved);
  }

  /** Resolves once `count` consumers have joined (api/wait-consumers.ts); rejects with TIMEOUT, an AbortError or CLOSED. */
  waitForConsumers(count = 1, options?: WaitForConsumersOptions): Promise<number> {
    return waitForConsumers({ name: this.name, memory: this.memory, isClosed: () => this.closed }, count, options);
  }

  /**
   * Batches publishing, like Writable#cork(): messages sent until the matching uncork() are written into
   * the ring but made visible to consumers together (one atomic store and at most one wake for the
   * batch), or whenever a quarter of the ring is pending or the ring fills. Nestable.
   */
  cork(): void {
    this.checkOpen();
    this.corks++;
    this.writer.corked = true;
  }

  /** Ends one cork(); the last one publishes everything written meanwhile. */
  uncork(): void {
    if (this.corks === 0 || this.closed) return;
    if (--this.corks === 0) {
      this.writer.corked = false;
      this.writer.flush();
    }
  }

  /** Encodes `value` with the codec and publishes it. Returns false (nothing sent) when the ring is full. */
  send(value: T): boolean {
    this.checkOpen();
    const bytes = this.codec.encode(value);
    return this.publish(L.RecordType.MESSAGE, bytes);
  }

  /**
   * Publishes many values as one batch: each encoded and written in turn, then made visible with one
   * store of the tail and at most one wake (more only when the batch exceeds a quarter of the ring).
   * Returns how many were sent, from the start of `values`: all of them, or fewer when tethered consumers
   * hold the ring full (then, as with send() returning false, 'drain' follows; send the rest after it).
   */
  sendBatch(values: readonly T[]): number {
    this.checkOpen();
    if (!Array.isArray(values)) throw invalidArgType(`sendBatch: values must be an array, got ${describe(values)}`);
    return this.publishBatch(values.length, (index) => this.codec.encode(values[index] as T), L.RecordType.MESSAGE);
  }

  /** sendBatch() for raw byte messages (no codec): one copy per payload, one publish for the batch. */
  sendBytesBatch(list: readonly Uint8Array[]): number {
    this.checkOpen();
    if (!Array.isArray(list)) throw invalidArgType(`sendBytesBatch: list must be an array of Uint8Array, got ${describe(list)}`);
    return this.publishBatch(list.length, (index) => {
      const bytes = list[index];
      if (!(bytes instanceof Uint8Array)) throw invalidArgType(`sendBytesBatch: list[${index}] must be a Uint8Array, got ${describe(bytes)}`);
      return bytes;
    }, L.RecordType.BYTES);
  }

  /** Publishes raw bytes (no codec). Returns false (nothing sent) when the ring is full. */
  sendBytes(bytes: Uint8Array): boolean {
    this.checkOpen();
    if (!(bytes instanceof Uint8Array)) throw invalidArgType(`sendBytes: bytes must be a Uint8Array, got ${describe(bytes)}`);
    return this.publish(L.RecordType.BYTES, bytes);
  }

  /**
   * Reserves `length` bytes in the ring for a raw message written in place (zero-copy). Returns undefined
   * when the ring is full. Only one claim may be open at a time; nothing else can be sent until it is
   * committed or aborted.
   */
  claim(length: number): Claim | undefined {
    this.checkOpen();
    if (!Number.isInteger(length) || length < 0) throw outOfRange(`claim: length must be a non-negative integer, got ${length}`);
    this.checkLength(length);
    if (this.claimOpen) throw new Error('claim: a claim is already open; commit() or abort() it first');
    const payloadOffset = this.reserve(L.RecordType.BYTES, length);
    if (payloadOffset < 0) return undefined;
    this.claimOpen = true;
    return new Claim(this, this.memory.dataBytes.subarray(payloadOffset, payloadOffset + length));
  }

  /** Sends `value`, waiting (without blocking the event loop) while tethered consumers hold the ring full. */
  async sendAsync(value: T, options?: SendOptions): Promise<void> {
    this.checkOpen();
    const bytes = this.codec.encode(value);
    // encode() may return a shared view; keep our own copy across the wait.
    await this.publishAsync(L.RecordType.MESSAGE, bytes.length === 0 ? bytes : bytes.slice(), options);
  }

  async sendBytesAsync(bytes: Uint8Array, options?: SendOptions): Promise<void> {
    this.checkOpen();
    if (!(bytes instanceof Uint8Array)) throw invalidArgType(`sendBytesAsync: bytes must be a Uint8Array, got ${describe(bytes)}`);
    await this.publishAsync(L.RecordType.BYTES, bytes, options);
  }

  /**
   * Sends `value`, blocking the thread while the ring is full, for at most `timeoutMs` (for workers and
   * dedicated processes; never call it on a main thread that serves anything else). Returns false on
   * timeout.
   */
  sendSync(value: T, timeoutMs = Infinity): boolean {
    this.checkOpen();
    const bytes = this.codec.encode(value);
    return this.publishSync(L.RecordType.MESSAGE, bytes, timeoutMs);
  }

  sendBytesSync(bytes: Uint8Array, timeoutMs = Infinity): boolean {
    this.checkOpen();
    if (!(bytes instanceof Uint8Array)) throw invalidArgType(`sendBytesSync: bytes must be a Uint8Array, got ${describe(bytes)}`);
    return this.publishSync(L.RecordType.BYTES, bytes, timeoutMs);
  }

  get stats(): ProducerStats {
    const doubles = this.memory.controlF64;
    return {
      messagesSent: this.writer.messagesSent,
      bytesSent: this.writer.bytesSent,
      producerStalls: this.stalls,
      wakesSent: this.writer.wakesSent, bellsRung: this.writer.bells.bellsRung,
      consumersReclaimed: doubles[CONSUMERS_RECLAIMED_F64],
      freeBytes: this.writer.freeBytes,
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sequence number the next message sent will carry (after a takeover: the one after the last published). */
  get nextSequence(): number {
    return this.writer.nextSequence;
  }

  /** Identifies this instance of the ring (as Consumer#ringId): changes when it is created anew, not on takeover. */
  get ringId(): string {
    return readRingId(this.memory.control);
  }

  /** Consumers registered in the ring's slots now (tethered and untethered; dead ones until reclaimed). */
  get consumers(): number {
    this.checkOpen();
    return occupiedSlots(this.memory).length;
  }

  /**
   * Ends the stream: publishes an END record after everything sent so far (consumers finish reading, then
   * end), releases the producer lock and, by default, unlinks the segment's name. Idempotent.
   */
  close(): void {
    this.finish(L.RecordType.END, undefined);
  }

  /**
   * Ends the stream with an error: like close(), but consumers, after reading everything sent before,
   * fail with PRODUCER_ABORTED carrying `reason`'s message (and its `code`, when it has one) instead of
   * ending cleanly. For a producer that cannot go on (its source failed, a stream was destroyed with an
   * error). Idempotent, and a no-op after close().
   */
  abort(reason?: unknown): void {
    if (this.closed) return;
    const message = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason);
    const code = (reason as { code?: unknown } | undefined)?.code;
    this.finish(L.RecordType.ABORT, encodeAbortReason({ message, code: typeof code === 'string' ? code : undefined }, this.maxMessageLength));
  }

  /** close() and abort(): the final record, the state word, the wake, the lock, the name. */
  private finish(type: typeof L.RecordType.END | typeof L.RecordType.ABORT, payload: Uint8Array | undefined): void {
    if (this.closed) return;
    this.recordSendTime();
    this.closed = true;
    forgetOnExit(this);
    clearInterval(this.sendClock);
    clearInterval(this.reclaimClock);
    if (this.claimOpen) this._abortClaim();
    this.spaceWaiter?.close();
    this.spaceWaiter = undefined;
    const words = this.memory.controlI32;
    // The final record needs room. If tethered consumers hold the ring completely full, give them a
    // moment, but a stuck consumer must not block close(): the state word below tells consumers all the
    // same (an abort then reads as PRODUCER_ABORTED without its reason).
    this.corks = 0;
    this.writer.corked = false;
    this.writer.flush();
    const finalOffset = this.reserveForClose(type, payload?.length ?? 0);
    if (finalOffset >= 0) {
      if (payload) this.memory.dataBytes.set(payload, finalOffset);
      this.writer.commit(false);
    }
    // The state word says how the stream ended even if the final record could not be written (tethered
    // consumers held the ring full) or is wiped below: an abort must never read as a clean end.
    Atomics.store(words, PRODUCER_STATE_I32, type === L.RecordType.ABORT ? L.ProducerState.ABORTED : L.ProducerState.CLOSED);
    withdrawSpaceWait(this.memory);
    this.writer.wakeConsumers();
    if (this.options.wipeOnClose) wipeData(this.memory, this.writer, WIPE_DRAIN_MS, () => this.reclaimDeadConsumers(true, false));
    Atomics.compareExchange(words, PRODUCER_PID_I32, this.identity.pid, 0);
    if (this.options.unlinkOnClose) {
      try {
        Segment.unlink(this.name);
      } catch (error) {
        if (!(error instanceof ShmRingError && error.code === 'SEGMENT_NOT_FOUND')) throw error;
      }
    }
    this.segment.close();
    try {
      if (this.reclaimedWhileClosing > 0) this.emit('consumer-reclaimed', this.reclaimedWhileClosing);
    } finally {
      this.emit('close');
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** @internal */
  _commitClaim(length: number, claimed: number): void {
    this.checkOpen();
    this.claimOpen = false;
    if (length !== claimed) this.writer.shrinkReserved(length);
    this.writer.commit();
  }

  /** @internal */
  _abortClaim(): void {
    this.claimOpen = false;
    this.writer.abort();
  }

  /**
   * How much must be free before a producer held back by tethered consumers resumes: a quarter of the
   * ring (or twice the message, if larger). Resuming as soon as one message fits would trade one futex
   * wake per message between producer and consumers; with this hysteresis the consumers work through a
   * quarter of the ring per wake, and the producer then writes a quarter of it in one go.
   */
  private resumeThreshold(length: number): number {
    return Math.max(L.recordLength(length) * 2, this.capacity >> 2);
  }

  private checkOpen(): void {
    if (this.closed) {
      throw new ShmRingError('CLOSED', `the producer of ${this.name} is closed`, { segment: this.name });
    }
  }

  private checkLength(length: number): void {
    if (length > this.maxMessageLength) {
      throw new ShmRingError(
        'MESSAGE_TOO_LARGE',
        `a ${length}-byte message does not fit ${this.name}: its maximum message length is ${this.maxMessageLength} bytes`,
        { segment: this.name, hint: 'Create the ring with a larger capacity or maxMessageLength, or split the message.' },
      );
    }
  }

  /**
   * The batch paths: writes records under a cork (published when it ends, or every quarter ring), so the
   * consumers' cache line holding the tail moves once per batch rather than once per message.
   */
  private publishBatch(count: number, payloadAt: (index: number) => Uint8Array, type: number): number {
    if (this.claimOpen) throw new Error('sendBatch: a claim is open; commit() or abort() it first');
    const writer = this.writer;
    const wasCorked = writer.corked;
    writer.corked = true;
    let sent = 0;
    try {
      for (; sent < count; sent++) {
        const bytes = payloadAt(sent);
        this.checkLength(bytes.length);
        const payloadOffset = writer.tryReserve(type, bytes.length);
        if (payloadOffset >= 0) {
          this.memory.dataBytes.set(bytes, payloadOffset);
          writer.commit();
          continue;
        }
        // Full: publish what we have (consumers must see it to free space), reclaim the dead, retry once.
        const retried = this.reserve(type, bytes.length);
        if (retried < 0) break;
        this.memory.dataBytes.set(bytes, retried);
        writer.commit();
      }
    } finally {
      writer.corked = wasCorked;
      if (!wasCorked) writer.flush();
    }
    return sent;
  }

  private publish(type: number, bytes: Uint8Array): boolean {
    this.checkLength(bytes.length);
    if (this.claimOpen) throw new Error('send: a claim is open; commit() or abort() it first');
    const payloadOffset = this.reserve(type, bytes.length);
    if (payloadOffset < 0) return false;
    this.memory.dataBytes.set(bytes, payloadOffset);
    this.writer.commit();
    return true;
  }

  /** Reserves space, reclaiming dead consumers' slots when they are what holds the ring full. */
  private reserve(type: number, length: number): number {
    let payloadOffset = this.writer.tryReserve(type, length);
    if (payloadOffset >= 0) return payloadOffset;
    // Full: consumers must see everything we hold back in a cork, or they could never free space.
    this.writer.flush();
    if (this.reclaimDeadConsumers(false)) payloadOffset = this.writer.tryReserve(type, length);
    if (payloadOffset < 0) this.noteStall(length);
    return payloadOffset;
  }

  private noteStall(length: number): void {
    this.stalls += 1;
    this.memory.controlF64[PRODUCER_STALLS_F64] = this.stalls;
    this.neededBytes = this.resumeThreshold(length);
    if (!this.drainPending) {
      this.drainPending = true;
      void this.waitForSpace(undefined, undefined).then(
        () => {
          this.drainPending = false;
          if (!this.closed) this.emit('drain');
        },
        () => {
          this.drainPending = false;
        },
      );
    }
  }

  /**
   * Frees the slots of tethered consumers whose process is gone. Checks /proc at most once per
   * livenessIntervalMs unless `force`. Returns whether anything was freed.
   */
  private reclaimDeadConsumers(force: boolean, onSendPath = true): boolean {
    const now = Date.now();
    if (!force && now - this.lastLivenessCheck < this.options.livenessIntervalMs) return false;
    // The timer's pass does not push back the send path's next check: a consumer that dies between
    // the two is then found as soon as it holds the producer back.
    if (onSendPath) this.lastLivenessCheck = now;
    const reclaimed = reclaimDeadSlots(this.memory);
    if (reclaimed > 0) {
      this.memory.controlF64[CONSUMERS_RECLAIMED_F64] += reclaimed;
      // During close() (the final record's wait, the wipe's drain), at its end: a listener that throws must
      // not stop the close half-way (the data left unwiped, the ring still held).
      if (this.closed) this.reclaimedWhileClosing += reclaimed;
      else this.emit('consumer-reclaimed', reclaimed);
      this.writer.refreshLimit();
      // Space may have been freed: a wait of ours (sendAsync, 'drain') sleeps on SPACE_WAKE.
      signalSpace(this.memory);
    }
    return reclaimed > 0;
  }

  private reserveForClose(type: number, length: number): number {
    const deadline = Date.now() + 100;
    for (;;) {
      const ticket = announceSpaceWait(this.memory);
      const offset = this.writer.tryReserve(type, length);
      if (offset >= 0 || Date.now() >= deadline) return offset;
      this.reclaimDeadConsumers(true);
      sleepForSpace(this.memory, ticket, 5);
    }
  }

  private async publishAsync(type: number, bytes: Uint8Array, options: SendOptions | undefined): Promise<void> {
    const { signal, timeout } = waitOptions('sendAsync', options);
    this.checkLength(bytes.length);
    // Waiting could never end: the open claim is ours to commit, on this thread.
    if (this.claimOpen) throw new Error('sendAsync: a claim is open; commit() or abort() it first');
    const deadline = Date.now() + timeout;
    for (;;) {
      this.checkOpen();
      if (signal?.aborted) throw new AbortError(`waiting for space in ${this.name} was aborted`, { cause: signal.reason, segment: this.name });
      if (this.claimOpen) throw new Error('sendAsync: a claim was opened while waiting; commit() or abort() it first');
      const payloadOffset = this.writer.tryReserve(type, bytes.length);
      if (payloadOffset >= 0) {
        this.memory.dataBytes.set(bytes, payloadOffset);
        this.writer.commit();
        return;
      }
      this.writer.flush();
      this.reclaimDeadConsumers(false);
      this.neededBytes = Math.max(this.neededBytes, this.resumeThreshold(bytes.length));
      this.asyncSenders++;
      this.updateSpaceWaiterRef();
      try {
        await this.waitForSpace(signal, deadline);
      } catch (error) {
        this.checkOpen(); // close() during the wait: CLOSED, with the ring's name, rather than an AbortError
        throw error;
      } finally {
        this.asyncSenders--;
        this.updateSpaceWaiterRef();
      }
    }
  }

  private publishSync(type: number, bytes: Uint8Array, timeoutMs: number): boolean {
    this.checkLength(bytes.length);
    durationOption('sendSync', 'timeoutMs', timeoutMs, Infinity);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.publish(type, bytes)) return true;
      const now = Date.now();
      if (now >= deadline) return false;
      const ticket = announceSpaceWait(this.memory);
      // Re-check after announcing: a consumer that released before seeing PRODUCER_WAITING did not wake us.
      this.writer.refreshLimit();
      if (this.writer.freeBytes < this.resumeThreshold(bytes.length) && this.writer.blockingSlot !== -1) {
        sleepForSpace(this.memory, ticket, Math.min(deadline - now, this.options.livenessIntervalMs));
      }
      withdrawSpaceWait(this.memory);
      this.reclaimDeadConsumers(false);
    }
  }

  /**
   * Resolves when at least `neededBytes` are free (or the ring has no tethered consumer left). One wait
   * is shared by every caller (sendAsync, the 'drain' event).
   */
  private waitForSpace(signal: AbortSignal | undefined, deadline: number | undefined): Promise<void> {
    if (this.spaceWait === undefined) {
      this.spaceWait = this.spaceWaitLoop().finally(() => {
        this.spaceWait = undefined;
      });
    }
    return followSharedWait(this.spaceWait, {
      signal,
      deadline: deadline ?? Infinity,
      onAbort: (reason) => new AbortError(`waiting for space in ${this.name} was aborted`, { cause: reason, segment: this.name }),
      onTimeout: () =>
        new ShmRingError('TIMEOUT', `no space in ${this.name} before the timeout`, {
          segment: this.name,
          hint: 'A tethered consumer is not keeping up. `npx shmring inspect` shows which one; make slow consumers untethered.',
        }),
    });
  }

  /**
   * The wait for space keeps the process alive only while a sendAsync() awaits it; the 'drain' watch
   * armed by a send() that returned false must not (like a socket's, it is not a reason to stay up).
   */
  private updateSpaceWaiterRef(): void {
    if (this.asyncSenders > 0) this.spaceWaiter?.ref();
    else this.spaceWaiter?.unref();
  }

  private async spaceWaitLoop(): Promise<void> {
    const memory = this.memory;
    this.spaceWaiter ??= new AsyncWaiter();
    this.updateSpaceWaiterRef();
    const waiter = this.spaceWaiter;
    try {
      while (!this.closed) {
        const ticket = announceSpaceWait(this.memory);
        this.writer.refreshLimit();
        if (this.writer.freeBytes >= this.neededBytes || this.writer.blockingSlot === -1) break;
        const { result } = await waiter.wait(
          [{ buffer: memory.consumerBuffer, byteOffset: spaceWakeByteOffset(memory), expected: ticket }],
          this.options.livenessIntervalMs,
        );
        if (result === 'timed-out') this.reclaimDeadConsumers(true);
      }
    } finally {
      if (!this.closed) withdrawSpaceWait(memory);
      this.neededBytes = 0;
    }
  }
}
