/**
 * Discovery for a Selector: follow every ring whose name starts with a prefix (e.g. '/telemetry.').
 *
 * POSIX shared-memory names are files in /dev/shm, so the follower lists that directory, watches it
 * (inotify through fs.watch) and rescans it periodically, because inotify on tmpfs can miss events (a
 * watch set up after a ring was created, an overflowing event queue, containers sharing /dev/shm).
 *
 * Before opening anything it reads the first page itself: a segment just created is empty or has a blank
 * header for a few microseconds, and Consumer.open would block the event loop waiting for it. Such a
 * segment is retried shortly; one that stays blank, or is not a ring, is reported once with a 'warning'.
 *
 * A ring instance is identified by (device, inode, creation time from its header): a ring that was dropped
 * is added again only when it was re-created. A producer that restarts and takes over the same segment
 * continues the same instance: to keep reading across such restarts, open with
 * `consumer: { waitForRestartMs }` so the ring is not dropped meanwhile (re-adding it would deliver again
 * what the ring still holds).
 */
import * as fs from 'fs';
import type { ConsumerOptions } from './consumer';
import { SHM_DIRECTORY, ShmRingError, invalidArgType } from '../errors';
import { hasMagic } from '../ring/header';
import * as L from '../ring/layout';
import { booleanOption, checkOptionsObject, durationOption, rejectUnknownKeys } from './options';
import { Segment } from '../core/segment';
import type { FollowerHost, RingIdentity, RingRemovedReason, SeenRings } from './fanin-types';
export type { FollowerHost, RingIdentity, SeenRings } from './fanin-types';

export interface FollowOptions {
  /**
   * Options for the Consumer opened on each ring found (over the selector's `consumer` options).
   * Default: { from: 'oldest' }, so what a producer sent before it was discovered is not missed.
   */
  consumer?: ConsumerOptions;
  /** Period (ms) of the full rescan of /dev/shm that backs up fs.watch. Default: DEFAULT_RESCAN_INTERVAL_MS (1000). */
  rescanIntervalMs?: number;
  /** Watch /dev/shm for new rings (fs.watch); with false, only the periodic rescan finds them. Default: true. */
  watch?: boolean;
  /** How long (ms) a matching segment may stay empty or uninitialised before it is reported. Default: DEFAULT_DISCOVERY_INIT_TIMEOUT_MS (2000). */
  initTimeoutMs?: number;
  /**
   * Unlink a ring once it was drained and dropped because its producer died (a crashed application
   * leaves its ring behind otherwise). Only the instance that was read is unlinked, never a re-created one.
   * Default: false.
   */
  unlinkDead?: boolean;
}

export const DEFAULT_RESCAN_INTERVAL_MS = 1000;
export const DEFAULT_DISCOVERY_INIT_TIMEOUT_MS = 2000;
export const FOLLOW_OPTION_KEYS = ['consumer', 'rescanIntervalMs', 'watch', 'initTimeoutMs', 'unlinkDead'] as const;

/** How soon a segment that is still being created is looked at again. */
const INIT_RETRY_MS = 10;

export type ProbeResult =
  | { kind: 'gone' }
  | { kind: 'initialising'; identity: RingIdentity }
  | { kind: 'ring'; identity: RingIdentity }
  | { kind: 'not-a-ring'; identity: RingIdentity; error: ShmRingError };

interface ResolvedFollowOptions {
  consumer: ConsumerOptions;
  rescanIntervalMs: number;
  watch: boolean;
  initTimeoutMs: number;
  unlinkDead: boolean;
}

function resolveOptions(input: unknown): ResolvedFollowOptions {
  const what = 'Selector#follow';
  const options = checkOptionsObject(what, input);
  rejectUnknownKeys(what, options, FOLLOW_OPTION_KEYS);
  const consumer = checkOptionsObject(`${what}: consumer`, options.consumer) as ConsumerOptions;
  return {
    consumer,
    rescanIntervalMs: durationOption(what, 'rescanIntervalMs', options.rescanIntervalMs, DEFAULT_RESCAN_INTERVAL_MS, false),
    watch: booleanOption(what, 'watch', options.watch, true),
    initTimeoutMs: durationOption(what, 'initTimeoutMs', options.initTimeoutMs, DEFAULT_DISCOVERY_INIT_TIMEOUT_MS, false),
    unlinkDead: booleanOption(what, 'unlinkDead', options.unlinkDead, false),
  };
}

function validatePrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string' || !prefix.startsWith('/') || prefix.indexOf('/', 1) !== -1 || prefix.includes('\0')) {
    throw invalidArgType(`Selector#follow: prefix must be '/' followed by the start of ring names (no other '/'), got ${JSON.stringify(prefix)}`);
  }
}

function sameIdentity(a: RingIdentity | undefined, b: RingIdentity): boolean {
  return a !== undefined && a.instance === b.instance;
}

/**
 * Looks at /dev/shm/<name> without joining anything: is it a ring ready to open, one still being
 * created, gone, or not a ring at all? Reads the file (tmpfs), never maps it.
 */
export function probeRing(name: string): ProbeResult {
  const path = SHM_DIRECTORY + name;
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO someone left in /dev/shm must not block the collector.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'gone' };
    let instance = `unopenable:${code}`;
    try {
      const st = fs.lstatSync(path);
      instance = `unopenable:${st.dev}:${st.ino}:${st.mtimeMs}`;
    } catch {
      return { kind: 'gone' };
    }
    const denied = code === 'EACCES' || code === 'EPERM';
    return {
      kind: 'not-a-ring',
      identity: { instance },
      error: new ShmRingError(denied ? 'PERMISSION_DENIED' : 'NOT_A_RING', `${name} cannot be read (${code}); not following it`, {
        segment: name,
        syscall: 'open',
        errno: (error as NodeJS.ErrnoException).errno,
        hint: denied ? 'The ring belongs to another user: run the collector as that user, or create rings with a shared group (mode 0o660, gid).' : undefined,
      }),
    };
  }
  try {
    const st = fs.fstatSync(fd);
    const fileInstance = `${st.dev}:${st.ino}`;
    if (!st.isFile()) {
      return notARing(name, `${fileInstance}:${st.mtimeMs}`, 'is not a regular file');
    }
    // shm_open creates the file empty; the creator's ftruncate gives it its size at once.
    if (st.size === 0) return { kind: 'initialising', identity: { instance: `init:${fileInstance}` } };
    if (st.size < L.PAGE_LENGTH) return notARing(name, `${fileInstance}:${st.mtimeMs}`, `is ${st.size} bytes, smaller than any ring`);
    const page = Buffer.alloc(L.PAGE_LENGTH);
    const read = fs.readSync(fd, page, 0, L.PAGE_LENGTH, 0);
    if (read < L.PAGE_LENGTH) return { kind: 'gone' };
    const bytes = new Uint8Array(page.buffer, page.byteOffset, page.length);
    if (!hasMagic(bytes)) {
      const blank = bytes.subarray(0, L.MAGIC.length).every((b) => b === 0);
      if (blank) return { kind: 'initialising', identity: { instance: `init:${fileInstance}` } };
      return notARing(name, `${fileInstance}:${st.mtimeMs}`, 'is not a shmring segment (no magic)');
    }
    // The creator writes the layout version last (see writeHeader): until then, nothing else is final.
    if (page.readInt32LE(L.LAYOUT_VERSION_OFFSET) === 0) {
      return { kind: 'initialising', identity: { instance: `init:${fileInstance}` } };
    }
    // tmpfs reuses inode numbers: the creation time from the header tells a re-created ring apart.
    const createdAtMs = page.readDoubleLE(L.CREATED_AT_MS_OFFSET);
    return { kind: 'ring', identity: { instance: `${fileInstance}:${createdAtMs}` } };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'gone' };
    return notARing(name, `unreadable:${code}`, `cannot be read (${code})`);
  } finally {
    fs.closeSync(fd);
  }
}

function notARing(name: string, instance: string, why: string): ProbeResult {
  return {
    kind: 'not-a-ring',
    identity: { instance },
    error: new ShmRingError('NOT_A_RING', `${name} ${why}; not following it`, { segment: name }),
  };
}

/** Follows one prefix for one selector. Made by Selector#follow(); close() stops following. */
export class RingFollower {
  readonly prefix: string;
  private readonly fileStart: string;
  private readonly options: ResolvedFollowOptions;
  private readonly host: FollowerHost<RingFollower>;
  private readonly seen: SeenRings;
  /** Rings this follower added that are still in the selector, with the instance that was added. */
  private readonly owned = new Map<string, RingIdentity>();
  /** Segments found still being created: name -> when first seen. */
  private readonly initialising = new Map<string, number>();
  private readonly queued = new Set<string>();
  private watcher: fs.FSWatcher | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  private closed = false;

  /** @internal Use Selector#follow(). */
  constructor(host: FollowerHost<RingFollower>, seen: SeenRings, prefix: string, options?: FollowOptions) {
    validatePrefix(prefix);
    this.options = resolveOptions(options);
    this.prefix = prefix;
    this.fileStart = prefix.slice(1);
    this.host = host;
    this.seen = seen;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  start(): void {
    // Not synchronously: listeners attached right after follow() must see the first 'ring-added' and
    // 'warning' events.
    process.nextTick(() => this.scan());
    if (this.options.watch) {
      try {
        this.watcher = fs.watch(SHM_DIRECTORY, { persistent: true }, (_event, filename) => this.onEvent(filename));
        this.watcher.on('error', (error) => {
          // The rescan keeps discovery going without the watch.
          this.host.warn(new ShmRingError('SYSTEM_ERROR', `watching ${SHM_DIRECTORY} failed: ${error.message}`, { cause: error }));
          this.watcher?.close();
          this.watcher = undefined;
        });
      } catch (error) {
        this.host.warn(new ShmRingError('SYSTEM_ERROR', `cannot watch ${SHM_DIRECTORY}: ${(error as Error).message}; rescanning every ${this.options.rescanIntervalMs} ms`, { cause: error }));
      }
    }
    this.rescanTimer = setInterval(() => this.scan(), this.options.rescanIntervalMs);
    if (this.host.isRefed()) this.ref();
    else this.unref();
  }

  /** Lists /dev/shm now and adds the matching rings not yet followed. */
  scan(): void {
    if (this.closed) return;
    let files: string[];
    try {
      files = fs.readdirSync(SHM_DIRECTORY);
    } catch (error) {
      this.host.warn(new ShmRingError('SYSTEM_ERROR', `cannot list ${SHM_DIRECTORY}: ${(error as Error).message}`, { cause: error }));
      return;
    }
    const present = new Set<string>();
    for (const file of files) {
      if (!file.startsWith(this.fileStart)) continue;
      const name = `/${file}`;
      present.add(name);
      this.consider(name);
      if (this.closed) return;
    }
    // Forget names that are gone, so the memory stays bounded and a re-creation is judged afresh.
    for (const name of this.seen.keys()) {
      if (this.matches(name) && !present.has(name) && !this.host.has(name)) this.seen.delete(name);
    }
    for (const name of this.initialising.keys()) if (!present.has(name)) this.initialising.delete(name);
  }

  /** Stops following (rings already added stay in the selector). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.host.followerClosed(this);
  }

  /** @internal */
  ref(): void {
    this.watcher?.ref();
    this.rescanTimer?.ref();
    this.retryTimer?.ref();
  }

  /** @internal */
  unref(): void {
    this.watcher?.unref();
    this.rescanTimer?.unref();
    this.retryTimer?.unref();
  }

  /**
   * @internal Called by the selector when any ring left it: remember the instance dropped, so it is not
   * added again, and unlink it when its producer died and `unlinkDead` is set.
   */
  ringDropped(name: string, reason: RingRemovedReason): void {
    const added = this.owned.get(name);
    this.owned.delete(name);
    if (!this.matches(name)) return;
    if (this.closed) {
      // Following has stopped: nothing is added again, but a ring we added whose producer died is still
      // unlinked when asked (a collector draining on shutdown must not leave crashed producers' rings).
      if (reason === 'producer-died' && this.options.unlinkDead && added !== undefined) this.unlinkInstance(name, added);
      return;
    }
    const probe = probeRing(name);
    if (probe.kind !== 'ring') return;
    const now = probe.identity;
    // Same segment as the one we read: that instance is done. A re-created segment under the name is
    // new: look at it again.
    if (added !== undefined && !sameIdentity(added, now)) {
      this.queue(name);
      return;
    }
    this.seen.set(name, now);
    if (reason === 'producer-died' && this.options.unlinkDead && added !== undefined) this.unlinkInstance(name, added);
  }

  /** Whether rings this follower added are still in its selector. */
  get ownsRings(): boolean {
    return this.owned.size > 0;
  }

  /** Unlinks `name` if it is still the instance that was read (never a re-created one). */
  private unlinkInstance(name: string, added: RingIdentity): void {
    const probe = probeRing(name);
    if (probe.kind !== 'ring' || !sameIdentity(added, probe.identity)) return;
    try {
      Segment.unlink(name);
      this.seen.delete(name);
    } catch (error) {
      if (!(error instanceof ShmRingError && error.code === 'SEGMENT_NOT_FOUND')) this.host.warn(error as Error);
    }
  }

  private matches(name: string): boolean {
    return name.startsWith(this.prefix);
  }

  private onEvent(filename: string | Buffer | null): void {
    if (this.closed) return;
    if (filename === null || filename === undefined) {
      this.scan();
      return;
    }
    const file = filename.toString();
    if (file.startsWith(this.fileStart)) this.queue(`/${file}`);
  }

  /** Coalesces the burst of inotify events one creation makes (create, modify...) into one look. */
  private queue(name: string): void {
    this.queued.add(name);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const names = [...this.queued];
      this.queued.clear();
      for (const queued of names) this.consider(queued);
    });
  }

  private consider(name: string): void {
    if (this.closed || this.host.has(name)) return;
    const probe = probeRing(name);
    switch (probe.kind) {
      case 'gone':
        this.initialising.delete(name);
        return;
      case 'initialising': {
        const now = Date.now();
        const first = this.initialising.get(name) ?? now;
        this.initialising.set(name, first);
        if (now - first < this.options.initTimeoutMs) {
          this.retrySoon();
        } else if (!sameIdentity(this.seen.get(name), probe.identity)) {
          this.seen.set(name, probe.identity);
          this.host.warn(new ShmRingError('INIT_TIMEOUT', `${name} stayed uninitialised for ${this.options.initTimeoutMs} ms; not following it (yet)`, {
            segment: name,
            hint: 'Its creator may have died while creating it: `npx shmring gc` removes rings left by dead processes.',
          }));
        }
        return;
      }
      case 'not-a-ring':
        this.initialising.delete(name);
        if (sameIdentity(this.seen.get(name), probe.identity)) return;
        this.seen.set(name, probe.identity);
        this.host.warn(probe.error);
        return;
      case 'ring': {
        this.initialising.delete(name);
        if (sameIdentity(this.seen.get(name), probe.identity)) return;
        this.seen.set(name, probe.identity);
        try {
          this.host.add(name, this.options.consumer);
          this.owned.set(name, probe.identity);
        } catch (error) {
          // Gone meanwhile, other owner, no free slot, other version...: report once per instance.
          if (!(error instanceof ShmRingError && error.code === 'SEGMENT_NOT_FOUND')) this.host.warn(error as Error);
        }
        return;
      }
    }
  }

  private retrySoon(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      for (const name of [...this.initialising.keys()]) this.consider(name);
    }, INIT_RETRY_MS);
    if (!this.host.isRefed()) this.retryTimer.unref();
  }
}
