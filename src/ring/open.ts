/**
 * Mapping an existing ring: open the segment, wait (bounded) for its creator to finish the header,
 * validate the header against the segment's real size, then map it.
 *
 * A producer (taking over) maps everything read-write. A consumer maps the control region and the data
 * region read-only, and the consumers' pages of the control region a second time, read-write: so it can
 * write its slot and its sleep flag, but never the producer's words (tail, intent, oldest, counters).
 * A consumer whose user may only read the segment (e.g. a group member on a 0o640 ring) maps everything
 * read-only (`readOnly` in the result): it can then only be an untethered consumer without a slot.
 */
import { ShmRingError } from '../errors';
import { readGeometry, readLayoutVersion, RingGeometry } from './header';
import * as L from './layout';
import { Segment } from '../core/segment';
import { RingMemory } from './memory';

export interface OpenRingOptions {
  /** Producer: everything read-write. Consumer: see the module comment. */
  writableData: boolean;
  /** A consumer that may fall back to a read-only mapping when it cannot open the segment for writing. */
  readOnlyFallback?: boolean;
  allowForeignOwner: boolean;
  /** How long to wait for a creator that is still writing the header. */
  initTimeoutMs: number;
}

export interface OpenedRing {
  segment: Segment;
  memory: RingMemory;
  geometry: RingGeometry;
  /** The segment could only be opened for reading: no slot, no sleep flag (the consumer polls). */
  readOnly: boolean;
}

export const DEFAULT_INIT_TIMEOUT_MS = 2000;

/** Sleeps the thread without spinning (header initialisation takes microseconds; this is a rare path). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function openRing(name: string, options: OpenRingOptions): OpenedRing {
  let segment: Segment;
  let readOnly = false;
  try {
    segment = Segment.open(name, { minSize: L.PAGE_LENGTH, allowForeignOwner: options.allowForeignOwner });
  } catch (error) {
    if (!(options.readOnlyFallback && error instanceof ShmRingError && error.code === 'PERMISSION_DENIED')) throw error;
    segment = Segment.open(name, { minSize: L.PAGE_LENGTH, allowForeignOwner: options.allowForeignOwner, readWrite: false });
    readOnly = true;
  }
  try {
    const probe = segment.map(0, L.PAGE_LENGTH, { writable: false });
    const deadline = Date.now() + options.initTimeoutMs;
    // The creator writes the layout version last; until then the header is not to be trusted.
    while (readLayoutVersion(probe) === 0 && hasMagicOrBlank(probe)) {
      if (Date.now() >= deadline) {
        throw new ShmRingError('INIT_TIMEOUT', `${name} was still being initialised after ${options.initTimeoutMs} ms`, {
          segment: name,
          hint: 'Its creator may have died while creating it. `npx shmring inspect` shows it; `npx shmring gc` removes rings left by dead processes.',
        });
      }
      sleepSync(1);
    }
    const geometry = readGeometry(probe, segment.size, name);
    segment.unmap(probe);
    const producer = options.writableData;
    const control = segment.map(0, geometry.controlLength, { writable: producer });
    const data = segment.map(geometry.controlLength, geometry.capacity, { writable: producer });
    const consumerPages = producer
      ? undefined
      : segment.map(L.CONSUMER_REGION_OFFSET, geometry.controlLength - L.CONSUMER_REGION_OFFSET, { writable: !readOnly });
    return { segment, memory: new RingMemory(name, geometry, control, data, consumerPages), geometry, readOnly };
  } catch (error) {
    segment.close();
    throw error;
  }
}

/** A header still being written is all zeros or has the magic; anything else is not worth waiting for. */
function hasMagicOrBlank(probe: ArrayBuffer): boolean {
  const bytes = new Uint8Array(probe, 0, L.MAGIC.length);
  let blank = true;
  let magic = true;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) blank = false;
    if (bytes[i] !== L.MAGIC[i]) magic = false;
  }
  return blank || magic;
}
