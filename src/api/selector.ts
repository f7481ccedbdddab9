/**
 * Fan-in: one consumer of many rings, sleeping on all of them with one futex_waitv.
 *
 *   producer process ─▶ ring ─┐
 *   producer process ─▶ ring ─┼─▶ Selector (one native waiter thread per 127 rings) ─▶ 'message' / for await
 *   producer process ─▶ ring ─┘
 *
 * Each ring is read by an ordinary Consumer (the selector owns it). A wakeup drains every ring round-robin,
 * at most `maxBatchPerRing` messages from each per round, so a flooding ring cannot starve the others.
 * Rings whose producer closed or died are drained to their last message, then dropped.
 *
 * Size: one class whose state (rings, waiter words, round-robin cursor) all its methods share; the
 * discovery of rings by prefix already lives apart, in discovery.ts.
 */
import { EventEmitter } from 'events';
import { Consumer, ConsumerOptions } from './consumer';
import { AbortError, isShmRingError, ShmRingError, invalidArgType, invalidArgValue, outOfRange } from '../errors';
import { AsyncWaiter, FutexWord, MAX_WAIT_WORDS } from '../core/futex';
import {
  booleanOption,
  checkOptionsObject,
  durationOption,
  integerOption,
  rejectUnknownKeys,
} from './options';
import { validateSegmentName } from '../core/segment';
import { FollowOptions, RingFollower, FOLLOW_OPTION_KEYS } from './discovery';
import type { RingRemovedReason, SeenRings } from './fanin-types';

export interface SelectorOptions {
  /** Most messages taken from one ring before the selector moves on to the next ring. Default: DEFAULT_MAX_BATCH_PER_RING (256). */
  maxBatchPerRing?: number;
  /**
   * How long (ms) a wait with no wakeup lasts before the selector checks that the producers of its idle
   * rings are still alive (a killed producer is noticed within about this time). Default:
   * DEFAULT_SELECTOR_CHECK_INTERVAL_MS (1000).
   */
  checkIntervalMs?: number;
  /** Options for the Consumer that add(name) opens (and that follow() opens, under its own). Default: {}. */
  consumer?: ConsumerOptions;
  /**
   * Close the selector (ending iteration) when its last ring is dropped and it follows no prefix, as a
   * Consumer ends when its producer closes. Default: true.
   */
  closeWhenEmpty?: boolean;
  /** Whether a waiting selector keeps the process alive. Default: true. */
  ref?: boolean;
}

/** A message and the name of the ring it came from. */
export interface SelectorMessage<T = unknown> {
  ring: string;
  value: T;
}

/** Typed 'message' events: a Selector<Metric> emits Metric values (and the ring's name). */
export interface Selector<T = unknown> {
  on(event: 'message', listener: (value: T, ring: string) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'message', listener: (value: T, ring: string) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export type { RingRemovedReason } from './fanin-types';

export interface SelectorStats {
  /** Rings in the selector now. */
  rings: number;
  /** Messages delivered, all rings together. */
  received: number;
  /** Waits that ended because a ring was woken (or a word had already moved). */
  wakeups: number;
  /** Waits that ended by timing out (followed by a liveness check of idle rings). */
  timeouts: number;
  /** Native waiter threads in use: ceil(rings / RINGS_PER_WAITER), at least 1 once the selector waited. */
  waiterThreads: number;
}

export const DEFAULT_MAX_BATCH_PER_RING = 256;
export const DEFAULT_SELECTOR_CHECK_INTERVAL_MS = 1000;
/** Rings one native waiter thread (one futex_waitv) watches; more rings are sharded over more threads. */
export const RINGS_PER_WAITER = MAX_WAIT_WORDS;
/** Most rings one selector accepts (32 waiter threads). */
export const MAX_SELECTOR_RINGS = RINGS_PER_WAITER * 32;

const SELECTOR_OPTION_KEYS = ['maxBatchPerRing', 'checkIntervalMs', 'consumer', 'closeWhenEmpty', 'ref'] as const;

interface ResolvedSelectorOptions {
  maxBatchPerRing: number;
  checkIntervalMs: number;
  consumer: ConsumerOptions;
  closeWhenEmpty: boolean;
  ref: boolean;
}

function resolveOptions(what: string, options: Record<string, unknown>): ResolvedSelectorOptions {
  const consumer = checkOptionsObject(`${what}: consumer`, options.consumer) as ConsumerOptions;
  return {
    maxBatchPerRing: integerOption(what, 'maxBatchPerRing', options.maxBatchPerRing, DEFAULT_MAX_BATCH_PER_RING, 1, 1 << 30),
    checkIntervalMs: durationOption(what, 'checkIntervalMs', options.checkIntervalMs, DEFAULT_SELECTOR_CHECK_INTERVAL_MS, false),
    consumer,
    closeWhenEmpty: booleanOption(what, 'closeWhenEmpty', options.closeWhenEmpty, true),
    ref: booleanOption(what, 'ref', options.ref, true),
  };
}

interface RingEntry {
  readonly name: string;
  readonly consumer: Consumer;
  removed: boolean;
}

type Deliver = (value: unknown, ring: string) => void;

/** Thrown through Consumer#drain when a 'message' listener throws, to tell it apart from ring errors. */
class ListenerFailure {
  constructor(readonly error: unknown) {}
}

function isWaitInterrupted(error: unknown): boolean {
  return error instanceof AbortError || isShmRingError(error, 'CLOSED');
}

const nextTurn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Reads many rings as one stream of `{ ring, value }`. Events: 'message' (value, ring), 'ring-added'
 * (ring), 'ring-removed' (ring, reason, error?), 'warning' (error), 'error' (error), 'close'.
 */
export class Selector<T = unknown> extends EventEmitter implements AsyncIterable<SelectorMessage<T>> {
  private readonly options: ResolvedSelectorOptions;
  private readonly entries = new Map<string, RingEntry>();
  /** Round-robin order; `cursor` is where the next round starts. */
  private order: RingEntry[] = [];
  private cursor = 0;
  private readonly waiters: AsyncWaiter[] = [];
  private readonly followers = new Set<RingFollower>();
  /** Closed followers that added rings still in the selector (told when those rings are dropped). */
  private readonly closedFollowers = new Set<RingFollower>();
  /** Identities of ring instances discovery has already handled (shared by every follower). */
  private readonly seen: SeenRings = new Map();
  /** Messages read for an iterator but not yet yielded (kept here so a `break` loses none). */
  private pending: SelectorMessage[] = [];
  private pendingHead = 0;
  private sleepPromise: Promise<void> | undefined;
  private wakeIdle: (() => void) | undefined;
  private closed = false;
  private flowing = false;
  private pumping = false;
  private refed: boolean;
  private counters = { received: 0, wakeups: 0, timeouts: 0 };

  constructor(options?: SelectorOptions) {
    super();
    const what = 'new Selector';
    const input = checkOptionsObject(what, options);
    rejectUnknownKeys(what, input, SELECTOR_OPTION_KEYS);
    this.options = resolveOptions(what, input);
    this.refed = this.options.ref;
    this.on('newListener', (event: string | symbol) => {
      if (event === 'message') queueMicrotask(() => this.resume());
    });
  }

  /**
   * A selector that follows every ring whose name starts with `prefix` (see follow()). Takes the
   * selector's options and follow()'s together.
   */
  static follow<T = unknown>(prefix: string, options?: SelectorOptions & FollowOptions): Selector<T> {
    const what = 'Selector.follow';
    const input = checkOptionsObject(what, options);
    rejectUnknownKeys(what, input, [...new Set([...SELECTOR_OPTION_KEYS, ...FOLLOW_OPTION_KEYS])]);
    const selectorOptions: Record<string, unknown> = {};
    const followOptions: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(input)) {
      if ((SELECTOR_OPTION_KEYS as readonly string[]).includes(key)) selectorOptions[key] = value;
      // `consumer` belongs to both; the selector's copy already applies to followed rings.
      else followOptions[key] = value;
    }
    const selector = new Selector<T>(selectorOptions as SelectorOptions);
    selector.follow(prefix, followOptions as FollowOptions);
    return selector;
  }

  /**
   * Adds a ring: opens a Consumer on `name` (with the selector's `consumer` options, then these), or
   * takes an open Consumer. The selector owns the consumer from then on and closes it when the ring is
   * dropped. Throws what Consumer.open throws; RangeError when the ring is already here.
   */
  add(ring: string | Consumer<T>, consumerOptions?: ConsumerOptions): Consumer<T> {
    if (this.closed) throw new ShmRingError('CLOSED', 'Selector.add: the selector is closed');
    let name: string;
    if (typeof ring === 'string') {
      validateSegmentName(ring);
      name = ring;
      checkOptionsObject('Selector.add', consumerOptions);
    } else if (ring instanceof Consumer) {
      if (consumerOptions !== undefined) throw invalidArgValue('Selector.add: consumerOptions apply only when adding by name');
      if (ring.isClosed) throw invalidArgValue(`Selector.add: the consumer of ${ring.name} is closed`);
      name = ring.name;
    } else {
      throw invalidArgType(`Selector.add: ring must be a ring name or a Consumer, got ${ring === null ? 'null' : typeof ring}`);
    }
    if (this.entries.has(name)) throw invalidArgValue(`Selector.add: ${name} is already in this selector`, 'range');
    if (this.entries.size >= MAX_SELECTOR_RINGS) {
      throw outOfRange(`Selector.add: a selector holds at most ${MAX_SELECTOR_RINGS} rings, cannot add ${name}`);
    }
    const consumer: Consumer<T> = typeof ring === 'string' ? Consumer.open<T>(name, { ...this.options.consumer, ...consumerOptions }) : ring;
    const entry: RingEntry = { name, consumer, removed: false };
    this.entries.set(name, entry);
    this.order.push(entry);
    // The kernel tells the consumer when its producer exits: wake up and drain/drop the ring at once
    // rather than at the next periodic check.
    consumer._onProducerExit(() => this.interruptWait());
    // A pending wait does not watch the new ring: restart it (the ring may already hold messages).
    this.interruptWait();
    this.emit('ring-added', name);
    return consumer;
  }

  /** Drops a ring now (without draining it) and closes its consumer. Returns false when it was not here. */
  remove(name: string): boolean {
    const entry = this.entries.get(name);
    if (entry === undefined) return false;
    this.drop(entry, 'removed');
    return true;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Names of the rings in the selector, in round-robin order. */
  get rings(): string[] {
    return this.order.map((entry) => entry.name);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The consumer reading `name` (owned by the selector: do not read from it). */
  consumer(name: string): Consumer<T> | undefined {
    return this.entries.get(name)?.consumer as Consumer<T> | undefined;
  }

  get stats(): SelectorStats {
    return { rings: this.entries.size, ...this.counters, waiterThreads: this.waiters.filter((w) => !w.closed).length };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Follows every ring whose name starts with `prefix` (e.g. '/telemetry.'): adds the ones that exist,
   * then new ones as producers create them (watching /dev/shm, plus a periodic rescan). Segments that
   * are not rings, or cannot be opened, are reported with a 'warning' event and skipped. A ring that was
   * dropped is not added again unless it was re-created (or a new producer took it over).
   */
  follow(prefix: string, options?: FollowOptions): RingFollower {
    if (this.closed) throw new ShmRingError('CLOSED', 'Selector.follow: the selector is closed');
    const follower = new RingFollower(
      {
        has: (name) => this.entries.has(name),
        add: (name, consumerOptions) => {
          // Discovery finds a ring some time after its producer started: read it from its oldest message.
          this.add(name, { from: 'oldest', ...this.options.consumer, ...consumerOptions });
        },
        warn: (error) => this.emit('warning', error),
        followerClosed: (closed) => this.followerClosed(closed),
        isRefed: () => this.refed,
      },
      this.seen,
      prefix,
      options,
    );
    this.followers.add(follower);
    follower.start();
    return follower;
  }

  /** Starts (or restarts) the 'message' event flow; adding a 'message' listener does it too. */
  resume(): this {
    if (this.closed || this.flowing) return this;
    this.flowing = true;
    if (!this.pumping) void this.pump();
    return this;
  }

  /** Stops the 'message' event flow (messages wait in their rings). */
  pause(): this {
    this.flowing = false;
    return this;
  }

  /** A waiting selector keeps the process alive (the default). */
  ref(): this {
    this.refed = true;
    for (const waiter of this.waiters) waiter.ref();
    for (const follower of this.followers) follower.ref();
    return this;
  }

  /** A waiting selector does not keep the process alive. */
  unref(): this {
    this.refed = false;
    for (const waiter of this.waiters) waiter.unref();
    for (const follower of this.followers) follower.unref();
    return this;
  }

  /**
   * Stops following, closes every ring's consumer and the waiter threads. Messages already read for an
   * iterator are still yielded; anything still in the rings stays there. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.flowing = false;
    for (const follower of [...this.followers]) follower.close();
    for (const entry of this.order) this.release(entry);
    this.entries.clear();
    this.order = [];
    for (const waiter of this.waiters) waiter.close();
    this.wakeIdle?.();
    this.emit('close');
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SelectorMessage<T>> {
    const queue: Deliver = (value, ring) => {
      this.pending.push({ ring, value });
    };
    let yieldFirst = false;
    for (;;) {
      if (this.pendingHead < this.pending.length) {
        const message = this.pending[this.pendingHead]!;
        this.pending[this.pendingHead++] = undefined as unknown as SelectorMessage;
        if (this.pendingHead === this.pending.length) {
          this.pending = [];
          this.pendingHead = 0;
        }
        yield message as SelectorMessage<T>;
        continue;
      }
      if (this.closed) return;
      // `for await` resumes on microtasks only: without this, a flood would starve timers and I/O.
      if (yieldFirst) await nextTurn();
      const { delivered, more } = this.round(queue);
      yieldFirst = more;
      if (delivered === 0 && !more) await this.waitForData();
    }
  }

  // -------------------------------------------------------------------------------------------------

  /**
   * One round-robin pass: up to maxBatchPerRing messages from each ring. Drops the rings that ended.
   * `more` is true when some ring may still hold messages (it gave a full batch).
   */
  private round(deliver: Deliver): { delivered: number; more: boolean } {
    const ring = this.order.slice();
    const count = ring.length;
    const max = this.options.maxBatchPerRing;
    let delivered = 0;
    let more = false;
    if (count === 0) return { delivered, more };
    const start = this.cursor % count;
    this.cursor = start + 1;
    for (let k = 0; k < count; k++) {
      const entry = ring[(start + k) % count]!;
      if (entry.removed) continue;
      const name = entry.name;
      if (entry.consumer.isClosed) {
        // Closed behind our back (add() was given an open Consumer): nothing more can come from it.
        this.drop(entry, 'removed');
        continue;
      }
      let taken = 0;
      try {
        taken = entry.consumer.drain((value) => {
          taken++;
          try {
            deliver(value, name);
          } catch (error) {
            throw new ListenerFailure(error);
          }
        }, max);
      } catch (error) {
        delivered += taken;
        this.counters.received += taken;
        if (error instanceof ListenerFailure) throw error.error;
        this.ringFailed(entry, error);
        continue;
      }
      delivered += taken;
      this.counters.received += taken;
      if (this.closed) break;
      if (taken >= max) more = true;
      // Ended after delivering some: a failure (PRODUCER_DIED...) is thrown by the next read, so read again
      // before calling it a clean close.
      else if (entry.consumer.ended && !entry.removed) {
        if (taken > 0) more = true;
        else this.drop(entry, 'closed');
      }
    }
    return { delivered, more };
  }

  /** An error from a ring's consumer: the ring is dropped if it cannot go on, else reported. */
  private ringFailed(entry: RingEntry, error: unknown): void {
    if (entry.removed || this.closed) return;
    if (entry.consumer.ended) {
      const reason = isShmRingError(error, 'PRODUCER_DIED') ? 'producer-died' : 'failed';
      this.drop(entry, reason, error as Error);
    } else {
      // E.g. a message the codec cannot decode: that message is skipped, the ring goes on.
      this.emit('warning', error);
    }
  }

  private drop(entry: RingEntry, reason: RingRemovedReason, error?: Error): void {
    if (entry.removed) return;
    this.entries.delete(entry.name);
    this.order = this.order.filter((e) => e !== entry);
    this.release(entry);
    this.interruptWait();
    // Closed followers too: a follower closed for a drain still owes the rings it added their unlinkDead.
    for (const follower of [...this.followers, ...this.closedFollowers]) follower.ringDropped(entry.name, reason);
    for (const follower of this.closedFollowers) if (!follower.ownsRings) this.closedFollowers.delete(follower);
    if (error === undefined) this.emit('ring-removed', entry.name, reason);
    else this.emit('ring-removed', entry.name, reason, error);
    this.closeIfEmpty();
  }

  private release(entry: RingEntry): void {
    entry.removed = true;
    try {
      entry.consumer.close();
    } catch (error) {
      this.emit('warning', error);
    }
  }

  private followerClosed(follower: RingFollower): void {
    this.followers.delete(follower);
    if (follower.ownsRings) this.closedFollowers.add(follower);
    this.closeIfEmpty();
  }

  private closeIfEmpty(): void {
    if (this.options.closeWhenEmpty && !this.closed && this.entries.size === 0 && this.followers.size === 0) this.close();
  }

  private interruptWait(): void {
    for (const waiter of this.waiters) waiter.cancel();
    const wake = this.wakeIdle;
    this.wakeIdle = undefined;
    wake?.();
  }

  /** Resolves when some ring may have data, the ring set changed, or the selector closed. Shared. */
  private waitForData(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.sleepPromise ??= this.sleep().finally(() => {
      this.sleepPromise = undefined;
    });
    return this.sleepPromise;
  }

  private async sleep(): Promise<void> {
    const ring = this.order.slice();
    if (ring.length === 0) {
      // Nothing to wait on: a follower (or add()) brings rings. Its watcher, not this promise, keeps
      // the process alive.
      await new Promise<void>((resolve) => {
        this.wakeIdle = resolve;
      });
      return;
    }
    const words: FutexWord[] = [];
    // A read-only consumer cannot announce that it sleeps, so nobody wakes it: poll at its pace.
    // SYNC POINT: announce a sleeper on every ring, then re-check every tail (the Dekker pair with each
    // producer's publish). A ring with data means no sleep at all.
    const fenceOwed: Consumer[] = [];
    for (const entry of ring) if (entry.consumer._announceSleep()) fenceOwed.push(entry.consumer);
    // Rings of C producers (docs/protocol.md, "The publish fence"): one membarrier between the
    // announcements and the re-checks is a barrier in every such producer at once. When the kernel refuses
    // it, every ring that asked must learn that its wakes cannot be trusted.
    if (fenceOwed.length > 0 && !fenceOwed[0]!._fence()) {
      for (const consumer of fenceOwed.slice(1)) consumer._fence();
    }
    for (const entry of ring) {
      const word = entry.consumer._sleepWord();
      if (word === undefined) return;
      words.push(word);
    }
    // After the announcements: one may have found that a wake cannot be trusted (_pollIntervalMs).
    let timeoutMs = this.options.checkIntervalMs;
    for (const entry of ring) timeoutMs = Math.min(timeoutMs, entry.consumer._pollIntervalMs);
    let timedOut = false;
    try {
      const shards = Math.ceil(words.length / RINGS_PER_WAITER);
      const waits: Promise<{ result: string }>[] = [];
      for (let s = 0; s < shards; s++) {
        waits.push(this.waiter(s).wait(words.slice(s * RINGS_PER_WAITER, (s + 1) * RINGS_PER_WAITER), timeoutMs));
      }
      if (waits.length === 1) {
        timedOut = (await waits[0]!).result === 'timed-out';
      } else {
        for (const wait of waits) wait.catch(() => undefined);
        try {
          timedOut = (await Promise.race(waits)).result === 'timed-out';
        } finally {
          // The other shards' threads are still asleep: stop them (their promises reject, ignored).
          for (let s = 0; s < shards; s++) this.waiters[s]!.cancel();
        }
      }
    } catch (error) {
      if (!isWaitInterrupted(error)) throw error;
    }
    if (timedOut) {
      this.counters.timeouts++;
      this.checkIdleRings();
    } else {
      this.counters.wakeups++;
    }
  }

  private waiter(index: number): AsyncWaiter {
    let waiter = this.waiters[index];
    if (waiter === undefined) {
      waiter = new AsyncWaiter();
      if (!this.refed) waiter.unref();
      this.waiters[index] = waiter;
    }
    return waiter;
  }

  /**
   * After a quiet interval: asks each idle ring's consumer to check its producer. A dead or closed one
   * shows up in the next round, which drains what is left and drops the ring.
   */
  private checkIdleRings(): void {
    for (const entry of this.order) {
      try {
        entry.consumer._checkProducer();
      } catch {
        // PRODUCER_DIED and the like: the consumer remembers it and its next drain() throws it.
      }
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    const emitMessage: Deliver = (value, ring) => {
      this.emit('message', value, ring);
    };
    try {
      while (this.flowing && !this.closed) {
        let more = false;
        try {
          while (this.pendingHead < this.pending.length && this.flowing) {
            const message = this.pending[this.pendingHead++]!;
            emitMessage(message.value, message.ring);
          }
          if (this.pendingHead >= this.pending.length) {
            this.pending = [];
            this.pendingHead = 0;
          }
          if (!this.flowing) break;
          more = this.round(emitMessage).more;
        } catch (error) {
          // A 'message' listener threw: report it and go on with the other messages.
          if (this.closed) break;
          this.emit('error', error);
          more = true;
        }
        if (!this.flowing || this.closed) break;
        if (more) await nextTurn();
        else await this.waitForData();
      }
    } catch (error) {
      // The wait itself failed (e.g. futex_waitv missing): nothing more can be received.
      this.flowing = false;
      if (!this.closed) {
        this.emit('error', error);
        this.close();
      }
    } finally {
      this.pumping = false;
    }
  }
}
