/**
 * Named POSIX shared-memory segments (shm_open in /dev/shm) and their mappings.
 *
 * Zeroed memory: a segment made by `Segment.create` reads as zeros everywhere, because tmpfs hands
 * out zero-filled pages for a new file (ftruncate + posix_fallocate of a fresh O_EXCL file).
 */
import * as fs from 'fs';
import { ShmRingError, fromSystemError, SHM_DIRECTORY, invalidArgType, invalidArgValue, outOfRange } from '../errors';
import { native, NativeMapOptions } from './native';
import { validateSegmentName } from './names';

/** Default permission bits of a new segment: owner read/write only. */
export const DEFAULT_SEGMENT_MODE = 0o600;
// The name rule lives in names.ts (no native addon), so the command states the same limit in the same words.
export { MAX_SEGMENT_NAME_BYTES, validateSegmentName } from './names';

export interface MapDefaults {
  /** Prefault every page at map time (MAP_POPULATE). Default false. */
  prefault?: boolean;
  /** Pin the pages in RAM (mlock); fails with LIMIT_EXCEEDED when `ulimit -l` is too low. Default false. */
  lock?: boolean;
  /** Ask for transparent huge pages (madvise MADV_HUGEPAGE), best effort. Default false. */
  hugePages?: boolean;
}

export interface CreateSegmentOptions extends MapDefaults {
  /** Permission bits, applied exactly (the umask does not narrow them). Default 0o600. */
  mode?: number;
  /** Group to own the segment (with a mode like 0o660 lets that group open it). Default: unchanged. */
  gid?: number;
}

export interface OpenSegmentOptions extends MapDefaults {
  /** Refuse a segment smaller than this many bytes (SEGMENT_TOO_SMALL). Default 0. */
  minSize?: number;
  /** Accept a segment owned by another user. Default false (FOREIGN_OWNER). */
  allowForeignOwner?: boolean;
  /** Open for writing as well as reading. Default true. */
  readWrite?: boolean;
}

export interface MapOptions extends MapDefaults {
  /** Map writable. Default: true when the segment was opened read-write. */
  writable?: boolean;
}

export interface SegmentStat {
  size: number;
  uid: number;
  gid: number;
  /** Permission bits only (mode & 0o7777). */
  mode: number;
  ino: number;
  dev: number;
}

const CREATE_KEYS = ['mode', 'gid', 'prefault', 'lock', 'hugePages'];
const OPEN_KEYS = ['minSize', 'allowForeignOwner', 'readWrite', 'prefault', 'lock', 'hugePages'];
const MAP_KEYS = ['writable', 'prefault', 'lock', 'hugePages'];

export function checkOptionKeys(options: object | undefined, allowed: readonly string[], what: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw invalidArgType(`${what}: options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw invalidArgValue(`${what}: unknown option ${JSON.stringify(key)} (known: ${allowed.join(', ')})`);
    }
  }
}

function checkInteger(value: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw outOfRange(`${what} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

function checkBoolean(value: unknown, what: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') {
    throw invalidArgType(`${what} must be a boolean, got ${typeof value}`);
  }
  return value;
}

function resolveMapDefaults(options: MapDefaults, what: string): MapDefaults {
  return {
    prefault: checkBoolean(options.prefault, `${what}: prefault`) ?? false,
    lock: checkBoolean(options.lock, `${what}: lock`) ?? false,
    hugePages: checkBoolean(options.hugePages, `${what}: hugePages`) ?? false,
  };
}

function toStat(raw: { size: number; uid: number; gid: number; mode: number; ino: number; dev: number }): SegmentStat {
  return { size: raw.size, uid: raw.uid, gid: raw.gid, mode: raw.mode & 0o7777, ino: raw.ino, dev: raw.dev };
}

function closeQuietly(fd: number): void {
  try {
    native.close(fd);
  } catch {
    // nothing useful to do: the original error matters more
  }
}

function formatMode(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** Page size of this machine; mapping offsets must be a multiple of it. */
export const PAGE_SIZE: number = native.pageSize();

/** Total and free bytes of /dev/shm (statfs). */
export function shmDirectoryStats(): { totalBytes: number; freeBytes: number } {
  const stats = fs.statfsSync(SHM_DIRECTORY);
  return { totalBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize };
}

/** Unmaps a buffer made by `Segment#map` (detaching it). Idempotent. */
export function unmap(buffer: ArrayBuffer): void {
  native.munmap(buffer);
}

// Closes the fd of a Segment that was garbage-collected without close(); its mappings have their own
// finalizers in the addon.
const fdRegistry = new FinalizationRegistry<number>((fd) => closeQuietly(fd));

/** An open named shared-memory segment: a file descriptor plus the mappings made through it. */
export class Segment {
  /** Segment name, e.g. '/telemetry'. */
  readonly name: string;
  /** Size in bytes (from fstat when opened). */
  readonly size: number;
  readonly ownerUid: number;
  readonly ownerGid: number;
  /** Permission bits (mode & 0o7777). */
  readonly mode: number;
  /** Whether the fd was opened read-write. */
  readonly readWrite: boolean;

  private _fd: number;
  private _closed = false;
  private readonly _mapDefaults: MapDefaults;
  // Weak, so a mapping the caller drops is still unmapped by the GC while the segment stays open.
  private readonly _mappings = new Set<WeakRef<ArrayBuffer>>();
  private readonly _token = {};

  private constructor(name: string, fd: number, stat: SegmentStat, readWrite: boolean, mapDefaults: MapDefaults) {
    this.name = name;
    this._fd = fd;
    this.size = stat.size;
    this.ownerUid = stat.uid;
    this.ownerGid = stat.gid;
    this.mode = stat.mode;
    this.readWrite = readWrite;
    this._mapDefaults = mapDefaults;
    fdRegistry.register(this, fd, this._token);
  }

  /**
   * Creates a new segment of `size` bytes (zero-filled), failing with SEGMENT_EXISTS if the name is
   * taken. Space is reserved now (posix_fallocate), so a full /dev/shm fails here with NO_SPACE rather
   * than with SIGBUS on first touch. Any failure after shm_open removes the half-made segment.
   */
  static create(name: string, size: number, options: CreateSegmentOptions = {}): Segment {
    validateSegmentName(name);
    checkOptionKeys(options, CREATE_KEYS, 'Segment.create');
    checkInteger(size, 'Segment.create: size', 1);
    const mode = checkInteger(options.mode ?? DEFAULT_SEGMENT_MODE, 'Segment.create: mode', 0, 0o7777);
    const gid = options.gid === undefined ? undefined : checkInteger(options.gid, 'Segment.create: gid', 0, 0xfffffffe);
    const mapDefaults = resolveMapDefaults(options, 'Segment.create');

    let fd: number;
    try {
      fd = native.shmOpen(name, { create: true, exclusive: true, readWrite: true }, mode);
    } catch (err) {
      throw fromSystemError(err, { segment: name, size });
    }
    try {
      // shm_open applied mode & ~umask; set exactly what was asked.
      native.fchmod(fd, mode);
      if (gid !== undefined) native.fchown(fd, -1, gid);
      native.ftruncate(fd, size);
      native.fallocate(fd, size);
      return new Segment(name, fd, toStat(native.fstat(fd)), true, mapDefaults);
    } catch (err) {
      try {
        native.shmUnlink(name);
      } catch {
        // already gone
      }
      closeQuietly(fd);
      throw fromSystemError(err, { segment: name, size });
    }
  }

  /**
   * Opens an existing segment. Refuses one smaller than `minSize` (SEGMENT_TOO_SMALL) or owned by another
   * user unless `allowForeignOwner` (FOREIGN_OWNER).
   */
  static open(name: string, options: OpenSegmentOptions = {}): Segment {
    validateSegmentName(name);
    checkOptionKeys(options, OPEN_KEYS, 'Segment.open');
    const minSize = checkInteger(options.minSize ?? 0, 'Segment.open: minSize', 0);
    const allowForeignOwner = checkBoolean(options.allowForeignOwner, 'Segment.open: allowForeignOwner') ?? false;
    const readWrite = checkBoolean(options.readWrite, 'Segment.open: readWrite') ?? true;
    const mapDefaults = resolveMapDefaults(options, 'Segment.open');

    let fd: number;
    try {
      fd = native.shmOpen(name, { create: false, exclusive: false, readWrite }, 0);
    } catch (err) {
      throw fromSystemError(err, { segment: name });
    }
    try {
      const stat = toStat(native.fstat(fd));
      const myUid = effectiveUid();
      if (!allowForeignOwner && myUid !== undefined && stat.uid !== myUid) {
        throw new ShmRingError(
          'FOREIGN_OWNER',
          `segment ${name} is owned by uid ${stat.uid}${userName(stat.uid)} (mode ${formatMode(stat.mode)}), ` +
            `not by this process's uid ${myUid}${userName(myUid)}`,
          {
            segment: name,
            syscall: 'fstat',
            hint: 'another user created it; if you trust that user, pass `allowForeignOwner: true`',
          },
        );
      }
      if (stat.size < minSize) {
        throw new ShmRingError(
          'SEGMENT_TOO_SMALL',
          `segment ${name} is ${stat.size} bytes but at least ${minSize} bytes are needed`,
          {
            segment: name,
            syscall: 'fstat',
            hint: 'it may still be being created, or was made by an incompatible program; check it with ' +
              `\`npx shmring inspect ${name}\``,
          },
        );
      }
      return new Segment(name, fd, stat, readWrite, mapDefaults);
    } catch (err) {
      closeQuietly(fd);
      throw fromSystemError(err, { segment: name });
    }
  }

  /** Removes the name; existing mappings stay valid until unmapped. */
  static unlink(name: string): void {
    validateSegmentName(name);
    try {
      native.shmUnlink(name);
    } catch (err) {
      throw fromSystemError(err, { segment: name });
    }
  }

  static exists(name: string): boolean {
    validateSegmentName(name);
      return fs.existsSync(`${SHM_DIRECTORY}${name}`);
  }

  /** The file descriptor (for advisory locks and the like); throws CLOSED after close(). */
  get fd(): number {
    this._checkOpen('fd');
    return this._fd;
  }

  get closed(): boolean {
    return this._closed;
  }

  /**
   * Maps `length` bytes from `offset` (a multiple of PAGE_SIZE) as an ArrayBuffer over the shared
   * pages. Unmapped by close(), by unmap(buffer), or by the GC once unreachable.
   */
  map(offset = 0, length?: number, options: MapOptions = {}): ArrayBuffer {
    checkOptionKeys(options, MAP_KEYS, 'Segment.map');
    this._checkOpen('map');
    checkInteger(offset, 'Segment.map: offset', 0);
    if (offset % PAGE_SIZE !== 0) {
      throw outOfRange(`Segment.map: offset must be a multiple of the page size ${PAGE_SIZE}, got ${offset}`);
    }
    const mapLength = length ?? this.size - offset;
    checkInteger(mapLength, 'Segment.map: length', 1);
    if (offset + mapLength > this.size) {
      throw outOfRange(
        `Segment.map: offset + length (${offset} + ${mapLength}) exceeds the segment size ${this.size}`,
      );
    }
    const writable = checkBoolean(options.writable, 'Segment.map: writable') ?? this.readWrite;
    if (writable && !this.readWrite) {
      throw invalidArgValue(`Segment.map: ${this.name} was opened read-only (readWrite: false), cannot map writable`);
    }
    const defaults = this._mapDefaults;
    const nativeOptions: NativeMapOptions = {
      populate: checkBoolean(options.prefault, 'Segment.map: prefault') ?? defaults.prefault ?? false,
      lock: checkBoolean(options.lock, 'Segment.map: lock') ?? defaults.lock ?? false,
      hugePages: checkBoolean(options.hugePages, 'Segment.map: hugePages') ?? defaults.hugePages ?? false,
    };
    let buffer: ArrayBuffer;
    try {
      buffer = native.mmap(this._fd, offset, mapLength, writable, nativeOptions);
    } catch (err) {
      throw fromSystemError(err, { segment: this.name, size: mapLength });
    }
    this._pruneMappings();
    this._mappings.add(new WeakRef(buffer));
    return buffer;
  }

  /** Unmaps (and detaches) one buffer made by map(). Idempotent. */
  unmap(buffer: ArrayBuffer): void {
    native.munmap(buffer);
    for (const ref of this._mappings) {
      if (ref.deref() === buffer) this._mappings.delete(ref);
    }
  }

  /** A fresh fstat of the segment. */
  stat(): SegmentStat {
    this._checkOpen('stat');
    try {
      return toStat(native.fstat(this._fd));
    } catch (err) {
      throw fromSystemError(err, { segment: this.name });
    }
  }

  /** Unmaps every mapping made through this segment and closes the fd. Idempotent. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    fdRegistry.unregister(this._token);
    for (const ref of this._mappings) {
      const buffer = ref.deref();
      if (buffer !== undefined) native.munmap(buffer);
    }
    this._mappings.clear();
    const fd = this._fd;
    this._fd = -1;
    try {
      native.close(fd);
    } catch (err) {
      throw fromSystemError(err, { segment: this.name });
    }
  }

  private _checkOpen(what: string): void {
    if (this._closed) {
      throw new ShmRingError('CLOSED', `Segment.${what}: segment ${this.name} is closed`, { segment: this.name });
    }
  }

  private _pruneMappings(): void {
    for (const ref of this._mappings) {
      const buffer = ref.deref();
      if (buffer === undefined || buffer.byteLength === 0) this._mappings.delete(ref);
    }
  }
}

/** The uid the owner check compares a segment's owner with: this process's effective uid. */
let effectiveUid = (): number | undefined => process.geteuid?.();

/**
 * @internal Test seam, not exported from the package: makes the owner check see `uid` as this process's
 * effective uid (undefined: the real one again), so tests can exercise FOREIGN_OWNER without a second
 * user or root. Returns the function that restores the real uid.
 */
export function _setEffectiveUidForTesting(uid: number | undefined): () => void {
  effectiveUid = uid === undefined ? () => process.geteuid?.() : () => uid;
  return () => {
    effectiveUid = () => process.geteuid?.();
  };
}

function userName(uid: number): string {
  try {
      for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields.length > 2 && Number(fields[2]) === uid) return ` (${fields[0]})`;
    }
  } catch {
    // no passwd file: the uid alone will do
  }
  return '';
}
