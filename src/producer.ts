/**
 * The producer: creates (or takes over) a ring and publishes messages into it.
 *
 * Exactly one live producer per ring: the PRODUCER_PID word is a lock taken by CAS. A producer restarted
 * under the same name takes over a ring whose producer is dead (positions and sequence numbers carry on,
 * so live consumers continue), and replaces a segment it cannot use (another layout version, other
 * geometry, corrupt) when no live producer holds it.
 */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import { Codec, createMessagePackCodec } from './codec';
import { ShmRingError } from './errors';
import { AsyncWaiter } from './futex';
import * as futex from './futex';
import { geometryFor, isPowerOfTwo, RingGeometry, writeHeader } from './header';
import * as L from './layout';
import { currentProcess, liveness, ProcessIdentity } from './liveness';
import {
  booleanOption,
  checkOptionsObject,
  describe,
  durationOption,
  integerOption,
  rejectUnknownKeys,
  waitOptions,
} from './options';
import {
  BYTES_SENT_F64,
  FLAGS_I32,
  CONSUMERS_RECLAIMED_F64,
  MESSAGES_SENT_F64,
  distance,
  NEXT_SEQUENCE_I32,
  OLDEST_POSITION_I32,
  PRODUCER_EPOCH_I32,
  PRODUCER_PID_I32,
  PRODUCER_PID_NAMESPACE_F64,
  PRODUCER_STALLS_F64,
  PRODUCER_START_TIME_F64,
  PRODUCER_STATE_I32,
  PRODUCER_WAITING_I32,
  PUBLISHED_TAIL_I32,
  RingMemory,
  SPACE_WAKE_I32,
  TAIL_INTENT_I32,
  TAKEOVERS_F64,
} from './ring/memory';
import { DEFAULT_INIT_TIMEOUT_MS, openRing } from './ring/open';
import { occupiedSlots, readSlot, reclaimSlot } from './ring/slots';
import { RingWriter, WriterStart } from './ring/writer';
import { Segment, validateSegmentName } from './segment';
import { followSharedWait } from './shared-wait';

export interface ProducerOptions {
  /** Bytes in the data region; a power of two from 4 KiB to 1 GiB. Default: DEFAULT_CAPACITY (1 MiB). */
  capacity?: number;
  /** Consumer slots (tethered and untethered consumers each take one). Default: DEFAULT_MAX_CONSUMERS (16). */
  maxConsumers?: number;
  /** Largest payload accepted, in bytes; at most capacity/2 - 16. Default: capacity/4 - 16. */
  maxMessageLength?: number;
  /** Permission bits of the segment, applied exactly (the umask cannot change them). Default: 0o600. */
  mode?: number;
  /** Group that owns the segment (share a ring with a group: mode 0o660 and gid). Default: the process's. */
  gid?: number;
  /** Codec for send()/sendAsync(). Default: MessagePack with typed-array and Date extensions. */
  codec?: Codec;
  /** Fault the pages in at creation (MAP_POPULATE). Default: false. */
  prefault?: boolean;
  /** Pin the pages in RAM (mlock; needs `ulimit -l`). Default: false. */
  lock?: boolean;
  /** Ask for transparent huge pages where the kernel allows them for shmem. Default: false. */
  hugePages?: boolean;
  /** Remove the segment's name on close() (consumers keep reading what they have mapped). Default: true. */
  unlinkOnClose?: boolean;
  /** Zero the data region on close(), so no message outlives the producer in memory. Default: false. */
  wipeOnClose?: boolean;
  /**
   * What to do when the name exists and its producer is dead: 'takeover' continues the ring when it is
   * compatible (else replaces it), 'replace' always starts a fresh ring, 'fail' throws SEGMENT_EXISTS.
   * A live producer always gives PRODUCER_ALIVE. Default: 'takeover'.
   */
  existing?: 'takeover' | 'replace' | 'fail';
  /** How often a producer held back by tethered consumers checks whether they are still alive. Default: 500 ms. */
  livenessIntervalMs?: number;
  /** @internal Start positions here (tests of 32-bit wrap-around). Default: 0. */
  startPosition?: number;
  /** @internal Start message sequence numbers here (tests of 32-bit wrap-around). Default: 0. */
  startSequence?: number;
}

export const DEFAULT_MODE = 0o600;
/** How long close() with wipeOnClose waits for tethered consumers to read everything before wiping. */
const WIPE_DRAIN_MS = 1000;
export const DEFAULT_LIVENESS_INTERVAL_MS = 500;
export { DEFAULT_CAPACITY, DEFAULT_MAX_CONSUMERS } from './layout';

const PRODUCER_OPTION_KEYS = [
  'capacity', 'maxConsumers', 'maxMessageLength', 'mode', 'gid', 'codec', 'prefault', 'lock', 'hugePages',
  'unlinkOnClose', 'wipeOnClose', 'existing', 'livenessIntervalMs', 'startPosition', 'startSequence',
] as const;

interface ResolvedProducerOptions {
  capacity: number;
  maxConsumers: number;
  maxMessageLength: number;
  mode: number;
  gid: number | undefined;
  codec: Codec;
  prefault: boolean;
  lock: boolean;
  hugePages: boolean;
  unlinkOnClose: boolean;
  wipeOnClose: boolean;
  existing: 'takeover' | 'replace' | 'fail';
  livenessIntervalMs: number;
  startPosition: number;
  startSequence: number;
}

function resolveOptions(input: unknown): ResolvedProducerOptions {
  const what = 'Producer.create';
  const options = checkOptionsObject(what, input);
  rejectUnknownKeys(what, options, PRODUCER_OPTION_KEYS);
  const capacity = integerOption(what, 'capacity', options.capacity, L.DEFAULT_CAPACITY, L.MIN_CAPACITY, L.MAX_CAPACITY);
  if (!isPowerOfTwo(capacity)) throw new RangeError(`${what}: capacity must be a power of two, got ${capacity}`);
  const maxConsumers = integerOption(what, 'maxConsumers', options.maxConsumers, L.DEFAULT_MAX_CONSUMERS, 1, L.MAX_CONSUMERS_LIMIT);
  const maxMessageLength = integerOption(
    what, 'maxMessageLength', options.maxMessageLength, L.defaultMaxMessageLength(capacity), 1, L.maxMessageLengthLimit(capacity),
  );
  const mode = integerOption(what, 'mode', options.mode, DEFAULT_MODE, 0, 0o777);
  const gid = options.gid === undefined ? undefined : integerOption(what, 'gid', options.gid, 0, 0, 0x7fffffff);
  const codec = options.codec === undefined ? createMessagePackCodec() : (options.codec as Codec);
  if (typeof codec?.encode !== 'function' || typeof codec?.decode !== 'function') {
    throw new TypeError(`${what}: codec must have encode() and decode() methods`);
  }
  const existing = options.existing ?? 'takeover';
  if (existing !== 'takeover' && existing !== 'replace' && existing !== 'fail') {
    throw new RangeError(`${what}: existing must be 'takeover', 'replace' or 'fail', got ${JSON.stringify(existing)}`);
  }
  return {
    capacity,
    maxConsumers,
    maxMessageLength,
    mode,
    gid,
    codec,
    prefault: booleanOption(what, 'prefault', options.prefault, false),
    lock: booleanOption(what, 'lock', options.lock, false),
    hugePages: booleanOption(what, 'hugePages', options.hugePages, false),
    unlinkOnClose: booleanOption(what, 'unlinkOnClose', options.unlinkOnClose, true),
    wipeOnClose: booleanOption(what, 'wipeOnClose', options.wipeOnClose, false),
    existing,
    livenessIntervalMs: durationOption(what, 'livenessIntervalMs', options.livenessIntervalMs, DEFAULT_LIVENESS_INTERVAL_MS, false),
    startPosition: integerOption(what, 'startPosition', options.startPosition ?? 0, 0, -(2 ** 31), 2 ** 32 - 1) & ~(L.RECORD_ALIGNMENT - 1),
    startSequence: integerOption(what, 'startSequence', options.startSequence ?? 0, 0, -(2 ** 31), 2 ** 32 - 1) | 0,
  };
}

/** A record reserved with Producer#claim(): write the payload in place, then commit() or abort(). */
export class Claim {
  private done = false;
  constructor(
    private readonly producer: Producer,
    /** The writable payload bytes, inside the ring. Do not keep it after commit()/abort(). */
    readonly bytes: Uint8Array,
  ) {}

  get length(): number {
    return this.bytes.length;
  }

  /** The payload as a Float32Array (the payload is 16-byte aligned; length must be a multiple of 4). */
  get float32(): Float32Array {
    return new Float32Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >> 2);
  }

  get float64(): Float64Array {
    return new Float64Array(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length >> 3);
  }

  /** Publishes the record, optionally with fewer bytes than claimed. */
  commit(length = this.bytes.length): void {
    if (this.done) throw new Error('this claim was already committed or aborted');
    if (!Number.isInteger(length) || length < 0 || length > this.bytes.length) {
      throw new RangeError(`commit length must be an integer in 0..${this.bytes.length}, got ${length}`);
    }
    this.done = true;
    this.producer._commitClaim(length, this.bytes.length);
  }

  /** Drops the record: nothing is published. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    this.producer._abortClaim();
  }
}

export interface SendOptions {
  /** Cancels the wait for space. */
  signal?: AbortSignal;
  /** Give up waiting for space after this many ms (rejects with TIMEOUT). Default: Infinity. */
  timeout?: number;
}

export interface ProducerStats {
  messagesSent: number;
  bytesSent: number;
  producerStalls: number;
  wakesSent: number;
  consumersReclaimed: number;
  freeBytes: number;
}

export class Producer extends EventEmitter {
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
    this.writer.publishStart();
    this.stalls = this.memory.controlF64[PRODUCER_STALLS_F64];
    this.sendClock = setInterval(() => this.recordSendTime(), 1000);
    this.sendClock.unref();
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
  static create(name: string, options?: ProducerOptions): Producer {
    const resolved = resolveOptions(options);
    validateSegmentName(name);
    const geometry = geometryFor(resolved.capacity, resolved.maxConsumers, resolved.maxMessageLength);
    for (let attempt = 0; attempt < 3; attempt++) {
      const created = tryCreateFresh(name, geometry, resolved);
      if (created) return new Producer(name, created, resolved);
      const existing = tryUseExisting(name, geometry, resolved);
      if (existing) return new Producer(name, existing, resolved);
      // The old segment was unlinked (replaced, or vanished under us): create again.
    }
    throw new ShmRingError('SEGMENT_EXISTS', `${name} kept reappearing while replacing it`, {
      segment: name,
      hint: 'Another process is creating rings under the same name at the same time; give each producer its own name.',
    });
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
  send(value: unknown): boolean {
    this.checkOpen();
    const bytes = this.codec.encode(value);
    return this.publish(L.RecordType.MESSAGE, bytes);
  }

  /** Publishes raw bytes (no codec). Returns false (nothing sent) when the ring is full. */
  sendBytes(bytes: Uint8Array): boolean {
    this.checkOpen();
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`sendBytes: bytes must be a Uint8Array, got ${describe(bytes)}`);
    return this.publish(L.RecordType.BYTES, bytes);
  }

  /**
   * Reserves `length` bytes in the ring for a raw message written in place (zero-copy). Returns undefined
   * when the ring is full. Only one claim may be open at a time; nothing else can be sent until it is
   * committed or aborted.
   */
  claim(length: number): Claim | undefined {
    this.checkOpen();
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`claim: length must be a non-negative integer, got ${length}`);
    this.checkLength(length);
    if (this.claimOpen) throw new Error('claim: a claim is already open; commit() or abort() it first');
    const payloadOffset = this.reserve(L.RecordType.BYTES, length);
    if (payloadOffset < 0) return undefined;
    this.claimOpen = true;
    return new Claim(this, this.memory.dataBytes.subarray(payloadOffset, payloadOffset + length));
  }

  /** Sends `value`, waiting (without blocking the event loop) while tethered consumers hold the ring full. */
  async sendAsync(value: unknown, options?: SendOptions): Promise<void> {
    this.checkOpen();
    const bytes = this.codec.encode(value);
    // encode() may return a shared view; keep our own copy across the wait.
    await this.publishAsync(L.RecordType.MESSAGE, bytes.length === 0 ? bytes : bytes.slice(), options);
  }

  async sendBytesAsync(bytes: Uint8Array, options?: SendOptions): Promise<void> {
    this.checkOpen();
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`sendBytesAsync: bytes must be a Uint8Array, got ${describe(bytes)}`);
    await this.publishAsync(L.RecordType.BYTES, bytes, options);
  }

  /**
   * Sends `value`, blocking the thread while the ring is full, for at most `timeoutMs` (for workers and
   * dedicated processes; never call it on a main thread that serves anything else). Returns false on
   * timeout.
   */
  sendSync(value: unknown, timeoutMs = Infinity): boolean {
    this.checkOpen();
    const bytes = this.codec.encode(value);
    return this.publishSync(L.RecordType.MESSAGE, bytes, timeoutMs);
  }

  sendBytesSync(bytes: Uint8Array, timeoutMs = Infinity): boolean {
    this.checkOpen();
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`sendBytesSync: bytes must be a Uint8Array, got ${describe(bytes)}`);
    return this.publishSync(L.RecordType.BYTES, bytes, timeoutMs);
  }

  get stats(): ProducerStats {
    const doubles = this.memory.controlF64;
    return {
      messagesSent: this.writer.messagesSent,
      bytesSent: this.writer.bytesSent,
      producerStalls: this.stalls,
      wakesSent: this.writer.wakesSent,
      consumersReclaimed: doubles[CONSUMERS_RECLAIMED_F64],
      freeBytes: this.writer.freeBytes,
    };
  }

  get isClosed(): boolean {
    return this.closed;
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
    if (this.closed) return;
    this.recordSendTime();
    this.closed = true;
    clearInterval(this.sendClock);
    if (this.claimOpen) this._abortClaim();
    this.spaceWaiter?.close();
    this.spaceWaiter = undefined;
    const words = this.memory.controlI32;
    // END needs 16 bytes. If tethered consumers hold the ring completely full, give them a moment, but
    // a stuck consumer must not block close(): the state word below tells consumers all the same.
    this.corks = 0;
    this.writer.corked = false;
    this.writer.flush();
    const endOffset = this.reserveForClose();
    if (endOffset >= 0) this.writer.commit(false);
    Atomics.store(words, PRODUCER_STATE_I32, L.ProducerState.CLOSED);
    Atomics.store(words, PRODUCER_WAITING_I32, 0);
    this.writer.wakeConsumers();
    if (this.options.wipeOnClose) this.wipe();
    Atomics.compareExchange(words, PRODUCER_PID_I32, this.identity.pid, 0);
    if (this.options.unlinkOnClose) {
      try {
        Segment.unlink(this.name);
      } catch (error) {
        if (!(error instanceof ShmRingError && error.code === 'SEGMENT_NOT_FOUND')) throw error;
      }
    }
    this.segment.close();
    this.emit('close');
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
  private reclaimDeadConsumers(force: boolean): boolean {
    const now = Date.now();
    if (!force && now - this.lastLivenessCheck < this.options.livenessIntervalMs) return false;
    this.lastLivenessCheck = now;
    let reclaimed = 0;
    for (let index = 0; index < this.maxConsumers; index++) {
      const slot = readSlot(this.memory, index);
      if (slot.pid === 0 || slot.pid === -1) continue;
      if (liveness(slot) !== 'dead') continue;
      if (reclaimSlot(this.memory, index, slot.pid)) reclaimed++;
    }
    if (reclaimed > 0) {
      this.memory.controlF64[CONSUMERS_RECLAIMED_F64] += reclaimed;
      this.emit('consumer-reclaimed', reclaimed);
      this.writer.refreshLimit();
    }
    return reclaimed > 0;
  }

  /**
   * wipeOnClose: zero the data region, after giving tethered consumers a bounded moment to read what they
   * were promised. Whatever is still unread is announced first (FLAGS bit WIPED, and TAIL_INTENT a full
   * ring ahead so untethered readers see themselves lapped): readers count it as lost and end, instead of
   * taking zeroed memory for corruption.
   */
  private wipe(): void {
    const words = this.memory.controlI32;
    const deadline = Date.now() + WIPE_DRAIN_MS;
    for (;;) {
      Atomics.store(words, PRODUCER_WAITING_I32, 1);
      const ticket = Atomics.load(words, SPACE_WAKE_I32);
      this.writer.refreshLimit();
      if (this.writer.freeBytes >= this.capacity || Date.now() >= deadline) break;
      futex.wait(this.memory.control, SPACE_WAKE_I32 << 2, ticket, 5);
    }
    Atomics.store(words, PRODUCER_WAITING_I32, 0);
    Atomics.or(words, FLAGS_I32, L.FLAG_WIPED);
    Atomics.store(words, TAIL_INTENT_I32, (this.writer.committedTail + this.capacity + L.RECORD_ALIGNMENT) | 0);
    this.memory.dataBytes.fill(0);
  }

  private reserveForClose(): number {
    const deadline = Date.now() + 100;
    for (;;) {
      const offset = this.writer.tryReserve(L.RecordType.END, 0);
      if (offset >= 0 || Date.now() >= deadline) return offset;
      this.reclaimDeadConsumers(true);
      futex.wait(this.memory.control, SPACE_WAKE_I32 << 2, Atomics.load(this.memory.controlI32, SPACE_WAKE_I32), 5);
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
      if (signal?.aborted) {
        throw new ShmRingError('ABORTED', `waiting for space in ${this.name} was aborted`, { segment: this.name, cause: signal.reason });
      }
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
        this.checkOpen(); // close() during the wait: CLOSED, with the ring's name, rather than ABORTED
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
    const words = this.memory.controlI32;
    for (;;) {
      if (this.publish(type, bytes)) return true;
      const now = Date.now();
      if (now >= deadline) return false;
      Atomics.store(words, PRODUCER_WAITING_I32, 1);
      const ticket = Atomics.load(words, SPACE_WAKE_I32);
      // Re-check after announcing: a consumer that released before seeing PRODUCER_WAITING did not wake us.
      this.writer.refreshLimit();
      if (this.writer.freeBytes < this.resumeThreshold(bytes.length)) {
        futex.wait(this.memory.control, SPACE_WAKE_I32 << 2, ticket, Math.min(deadline - now, this.options.livenessIntervalMs));
      }
      Atomics.store(words, PRODUCER_WAITING_I32, 0);
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
      onAbort: (reason) => new ShmRingError('ABORTED', `waiting for space in ${this.name} was aborted`, { segment: this.name, cause: reason }),
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
    const words = this.memory.controlI32;
    this.spaceWaiter ??= new AsyncWaiter();
    this.updateSpaceWaiterRef();
    const waiter = this.spaceWaiter;
    try {
      while (!this.closed) {
        Atomics.store(words, PRODUCER_WAITING_I32, 1);
        const ticket = Atomics.load(words, SPACE_WAKE_I32);
        // SYNC POINT: Dekker pair with RingReader#release (store head, then load PRODUCER_WAITING).
        this.writer.refreshLimit();
        if (this.writer.freeBytes >= this.neededBytes || this.writer.blockingSlot === -1) break;
        const { result } = await waiter.wait(
          [{ buffer: this.memory.control, byteOffset: SPACE_WAKE_I32 << 2, expected: ticket }],
          this.options.livenessIntervalMs,
        );
        if (result === 'timed-out') this.reclaimDeadConsumers(true);
      }
    } finally {
      if (!this.closed) Atomics.store(words, PRODUCER_WAITING_I32, 0);
      this.neededBytes = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Creating, taking over and replacing segments.
// ---------------------------------------------------------------------------------------------------

interface Opened {
  segment: Segment;
  memory: RingMemory;
  start: WriterStart;
  tookOver: boolean;
}

function tryCreateFresh(name: string, geometry: RingGeometry, options: ResolvedProducerOptions): Opened | undefined {
  let segment: Segment;
  try {
    segment = Segment.create(name, geometry.segmentLength, {
      mode: options.mode,
      gid: options.gid,
      prefault: options.prefault,
      lock: options.lock,
      hugePages: options.hugePages,
    });
  } catch (error) {
    if (error instanceof ShmRingError && error.code === 'SEGMENT_EXISTS') return undefined;
    throw error;
  }
  try {
    const control = segment.map(0, geometry.controlLength, { writable: true });
    const data = segment.map(geometry.controlLength, geometry.capacity, { writable: true });
    const memory = new RingMemory(name, geometry, control, data);
    const me = currentProcess();
    // Take the producer lock before the header is published: a producer racing us that opens the
    // segment after it is published finds it held.
    lockProducer(memory, me, 0);
    writeHeader(control, geometry, { ...me, createdAtMs: Date.now() });
    const start = options.startPosition | 0;
    return { segment, memory, start: { tail: start, tailIntent: start, oldest: start, sequence: options.startSequence }, tookOver: false };
  } catch (error) {
    segment.close();
    try {
      Segment.unlink(name);
    } catch {
      // already gone
    }
    throw error;
  }
}

/**
 * The name exists. Returns the ring taken over, or undefined after unlinking a segment that had to be
 * replaced (the caller creates again). Throws PRODUCER_ALIVE, NOT_A_RING, FOREIGN_OWNER, SEGMENT_EXISTS.
 */
function tryUseExisting(name: string, geometry: RingGeometry, options: ResolvedProducerOptions): Opened | undefined {
  let opened;
  try {
    opened = openRing(name, { writableData: true, allowForeignOwner: false, initTimeoutMs: DEFAULT_INIT_TIMEOUT_MS });
  } catch (error) {
    if (!(error instanceof ShmRingError)) throw error;
    if (error.code === 'SEGMENT_NOT_FOUND') return undefined; // vanished under us: create again
    if (error.code === 'SEGMENT_TOO_SMALL' && growsWithin(name, DEFAULT_INIT_TIMEOUT_MS)) {
      return undefined; // a creator was between shm_open and ftruncate: look again
    }
    if (
      error.code === 'INCOMPATIBLE_VERSION' ||
      error.code === 'CORRUPT_SEGMENT' ||
      error.code === 'INIT_TIMEOUT' ||
      error.code === 'SEGMENT_TOO_SMALL' // left by a creator killed before ftruncate, or truncated
    ) {
      replaceUnusable(name, options, error);
      return undefined;
    }
    throw error; // NOT_A_RING (never clobber someone else's file), FOREIGN_OWNER, PERMISSION_DENIED...
  }
  const { segment, memory } = opened;
  try {
    const words = memory.controlI32;
    const doubles = memory.controlF64;
    const holder: ProcessIdentity = {
      pid: Atomics.load(words, PRODUCER_PID_I32),
      startTime: doubles[PRODUCER_START_TIME_F64],
      pidNamespace: doubles[PRODUCER_PID_NAMESPACE_F64],
    };
    if (holder.pid !== 0 && liveness(holder) !== 'dead') {
      throw new ShmRingError('PRODUCER_ALIVE', `${name} already has a live producer (pid ${holder.pid})`, {
        segment: name,
        hint: `Only one producer per ring. Stop pid ${holder.pid} first, or give this producer another name (for fan-in, one ring per producer).`,
      });
    }
    if (options.existing === 'fail') {
      throw new ShmRingError('SEGMENT_EXISTS', `${name} exists (left by a producer that is no longer running)`, {
        segment: name,
        hint: "Remove it with `npx shmring rm NAME`, or create with { existing: 'takeover' } to continue it.",
      });
    }
    const sameShape =
      memory.geometry.capacity === geometry.capacity &&
      memory.geometry.maxConsumers === geometry.maxConsumers &&
      memory.geometry.maxMessageLength === geometry.maxMessageLength;
    const start = sameShape && options.existing === 'takeover' ? readWriterStart(memory) : undefined;
    if (start === undefined) {
      segment.close();
      replaceUnusable(name, options, undefined);
      return undefined;
    }
    if (!lockProducer(memory, currentProcess(), holder.pid)) {
      throw new ShmRingError('PRODUCER_ALIVE', `another producer took over ${name} at the same time`, {
        segment: name,
        hint: 'Only one producer per ring; make sure a single process restarts it.',
      });
    }
    Atomics.add(words, PRODUCER_EPOCH_I32, 1);
    doubles[TAKEOVERS_F64] += 1;
    Atomics.store(words, PRODUCER_WAITING_I32, 0);
    return { segment, memory, start, tookOver: true };
  } catch (error) {
    segment.close();
    throw error;
  }
}

/** Unlinks a segment that cannot be continued, unless a live producer still holds it. */
function replaceUnusable(name: string, options: ResolvedProducerOptions, cause: ShmRingError | undefined): void {
  if (options.existing === 'fail') {
    throw new ShmRingError('SEGMENT_EXISTS', `${name} exists and cannot be used${cause ? `: ${cause.message}` : ''}`, {
      segment: name,
      hint: 'Remove it with `npx shmring rm NAME`.',
      cause,
    });
  }
  // Whatever else is wrong with it, a ring whose lock word names a live producer is that producer's:
  // never pull it from under it (someone may have damaged its header; that is for a person to look at).
  const holder = producerInFile(name);
  if (holder !== undefined && liveness(holder) !== 'dead') {
    throw new ShmRingError('PRODUCER_ALIVE', `${name} cannot be used${cause ? ` (${cause.code})` : ''} but its producer (pid ${holder.pid}) is alive`, {
      segment: name,
      hint: `Stop pid ${holder.pid} first; \`npx shmring inspect ${name}\` shows what is wrong with the ring.`,
      cause,
    });
  }
  try {
    Segment.unlink(name);
  } catch (error) {
    if (!(error instanceof ShmRingError && error.code === 'SEGMENT_NOT_FOUND')) throw error;
  }
}

/** The producer identity recorded in a segment's lock words, read with plain file I/O (no mapping). */
function producerInFile(name: string): ProcessIdentity | undefined {
  let fd: number | undefined;
  try {
    fd = fs.openSync(`/dev/shm${name}`, 'r');
    const block = Buffer.alloc(L.PRODUCER_PID_NAMESPACE_OFFSET + 8);
    if (fs.readSync(fd, block, 0, block.length, 0) < block.length) return undefined;
    const pid = block.readInt32LE(L.PRODUCER_PID_OFFSET);
    if (pid <= 0) return undefined;
    return {
      pid,
      startTime: block.readDoubleLE(L.PRODUCER_START_TIME_OFFSET),
      pidNamespace: block.readDoubleLE(L.PRODUCER_PID_NAMESPACE_OFFSET),
    };
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Whether /dev/shm/<name> reaches a page within `ms` (its creator was still sizing it). */
function growsWithin(name: string, ms: number): boolean {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (fs.statSync(`/dev/shm${name}`).size >= L.PAGE_LENGTH) return true;
    } catch {
      return true; // gone: the caller creates it again
    }
    if (Date.now() >= deadline) return false;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
}

/** Takes the producer lock: CAS from `expectedHolder` (0, or a dead producer's pid) to us. */
function lockProducer(memory: RingMemory, me: ProcessIdentity, expectedHolder: number): boolean {
  const words = memory.controlI32;
  if (Atomics.compareExchange(words, PRODUCER_PID_I32, expectedHolder, me.pid) !== expectedHolder) return false;
  memory.controlF64[PRODUCER_START_TIME_F64] = me.startTime;
  memory.controlF64[PRODUCER_PID_NAMESPACE_F64] = me.pidNamespace;
  Atomics.store(words, PRODUCER_STATE_I32, L.ProducerState.LIVE);
  return true;
}

/**
 * The dead producer's published words, validated: they come from shared memory. Returns undefined when
 * they are inconsistent (the ring is then replaced rather than continued).
 *
 * The next sequence number is derived from the records themselves (the last one published, walking from
 * the oldest), not taken from NEXT_SEQUENCE: a producer killed inside commit() may have stored
 * NEXT_SEQUENCE and its counters for a record it never published. The counters are corrected to match.
 */
function readWriterStart(memory: RingMemory): WriterStart | undefined {
  const words = memory.controlI32;
  const tail = Atomics.load(words, PUBLISHED_TAIL_I32);
  const tailIntent = Atomics.load(words, TAIL_INTENT_I32);
  const oldest = Atomics.load(words, OLDEST_POSITION_I32);
  const storedSequence = words[NEXT_SEQUENCE_I32];
  const aligned = (tail & (L.RECORD_ALIGNMENT - 1)) === 0 && (oldest & (L.RECORD_ALIGNMENT - 1)) === 0;
  const intentAhead = distance(tailIntent, tail);
  const retained = distance(tail, oldest);
  if (!aligned || intentAhead < 0 || intentAhead > memory.capacity || retained < 0 || retained > memory.capacity) {
    return undefined;
  }
  const walked = lastPublishedSequence(memory, oldest, tail);
  if (walked === null) return undefined;
  const sequence = walked ?? storedSequence;
  const phantom = distance(storedSequence, sequence);
  if (phantom > 0 && phantom <= 1) {
    // Killed between storing its counters and publishing: uncount the record that never appeared.
    const doubles = memory.controlF64;
    const abandoned = memory.dataI32[((tail & memory.mask) >> 2) + 0];
    doubles[MESSAGES_SENT_F64] = Math.max(0, doubles[MESSAGES_SENT_F64] - phantom);
    if (abandoned >= 0 && abandoned <= memory.geometry.maxMessageLength) {
      doubles[BYTES_SENT_F64] = Math.max(0, doubles[BYTES_SENT_F64] - abandoned);
    }
  }
  return { tail, tailIntent, oldest, sequence };
}

/**
 * Walks the records from `oldest` to `tail`. Returns the sequence the next message must carry, undefined
 * when no message is retained, or null when the records do not add up (a corrupt ring).
 */
function lastPublishedSequence(memory: RingMemory, oldest: number, tail: number): number | undefined | null {
  const { dataI32: data, capacity, mask } = memory;
  const maxSteps = capacity / L.RECORD_ALIGNMENT + 1;
  let next: number | undefined;
  let position = oldest;
  for (let steps = 0; distance(tail, position) > 0; steps++) {
    const offset = position & mask;
    const payloadLength = data[(offset >> 2) + 0];
    const type = data[(offset >> 2) + 1];
    const sequence = data[(offset >> 2) + 2];
    const length = type === L.RecordType.PADDING ? capacity - offset : L.recordLength(payloadLength);
    const valid =
      steps < maxSteps &&
      type >= L.RecordType.MESSAGE &&
      type <= L.RecordType.END &&
      payloadLength >= 0 &&
      payloadLength <= memory.geometry.maxMessageLength &&
      offset + length <= capacity &&
      length <= distance(tail, position);
    if (!valid) return null;
    if (type === L.RecordType.MESSAGE || type === L.RecordType.BYTES) next = (sequence + 1) | 0;
    else if (type === L.RecordType.END) next = sequence;
    position = (position + length) | 0;
  }
  return position === tail ? next : null;
}
