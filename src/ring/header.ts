/**
 * The segment header: writing it when a ring is created, and reading and validating it when a ring is
 * opened. Everything read here comes from shared memory, so every field is checked against the others
 * and against the real size of the segment before anyone uses it.
 */
import { randomBytes } from 'crypto';
import { ShmRingError } from '../errors';
import * as L from './layout';

/** The static shape of a ring, read from (and validated against) its header. */
export interface RingGeometry {
  layoutVersion: number;
  controlLength: number;
  capacity: number;
  maxMessageLength: number;
  maxConsumers: number;
  /** controlLength + capacity: the bytes the segment must have. */
  segmentLength: number;
}

export interface CreatorInfo {
  pid: number;
  startTime: number;
  pidNamespace: number;
  createdAtMs: number;
}

export function isPowerOfTwo(value: number): boolean {
  return Number.isInteger(value) && value > 0 && (value & (value - 1)) === 0;
}

/** Geometry for new ring options; assumes the options were validated by the caller. */
export function geometryFor(capacity: number, maxConsumers: number, maxMessageLength: number): RingGeometry {
  const controlLength = L.controlLength(maxConsumers);
  return {
    layoutVersion: L.LAYOUT_VERSION,
    controlLength,
    capacity,
    maxMessageLength,
    maxConsumers,
    segmentLength: controlLength + capacity,
  };
}

/**
 * Writes the header of a freshly created (zero-filled) control region. The layout version goes in last,
 * with a sequentially consistent store, so an opener that sees a version also sees every field before it.
 */
export function writeHeader(control: ArrayBuffer, geometry: RingGeometry, creator: CreatorInfo): void {
  const view = new DataView(control);
  const bytes = new Uint8Array(control);
  bytes.set(L.MAGIC, L.MAGIC_OFFSET);
  view.setUint32(L.CONTROL_LENGTH_OFFSET, geometry.controlLength, true);
  view.setUint32(L.CAPACITY_OFFSET, geometry.capacity, true);
  view.setUint32(L.MAX_MESSAGE_LENGTH_OFFSET, geometry.maxMessageLength, true);
  view.setUint32(L.MAX_CONSUMERS_OFFSET, geometry.maxConsumers, true);
  view.setUint32(L.FLAGS_OFFSET, 0, true);
  view.setUint32(L.CREATOR_PID_OFFSET, creator.pid, true);
  view.setFloat64(L.CREATOR_START_TIME_OFFSET, creator.startTime, true);
  view.setFloat64(L.CREATED_AT_MS_OFFSET, creator.createdAtMs, true);
  view.setFloat64(L.CREATOR_PID_NAMESPACE_OFFSET, creator.pidNamespace, true);
  bytes.set(randomBytes(L.RING_ID_LENGTH), L.RING_ID_OFFSET);
  // SYNC POINT: publish the header. Pairs with the Atomics.load of LAYOUT_VERSION in readLayoutVersion.
  Atomics.store(new Int32Array(control), L.LAYOUT_VERSION_OFFSET >> 2, geometry.layoutVersion);
}

export function hasMagic(bytes: Uint8Array): boolean {
  if (bytes.length < L.MAGIC.length) return false;
  for (let i = 0; i < L.MAGIC.length; i++) if (bytes[L.MAGIC_OFFSET + i] !== L.MAGIC[i]) return false;
  return true;
}

/** 0 while the creator is still initialising the header. */
export function readLayoutVersion(control: ArrayBuffer): number {
  return Atomics.load(new Int32Array(control, 0, L.HEADER_LENGTH >> 2), L.LAYOUT_VERSION_OFFSET >> 2);
}

/**
 * Validates the header of a ring whose segment is `segmentSize` bytes. Throws NOT_A_RING when the magic
 * is wrong, INCOMPATIBLE_VERSION naming both versions, CORRUPT_SEGMENT when fields disagree with each
 * other or with the segment's size.
 */
export function readGeometry(control: ArrayBuffer, segmentSize: number, name: string): RingGeometry {
  if (control.byteLength < L.HEADER_LENGTH) {
    throw corrupt(name, `the segment is ${segmentSize} bytes, smaller than a ring header (${L.HEADER_LENGTH})`);
  }
  const bytes = new Uint8Array(control);
  if (!hasMagic(bytes)) {
    throw new ShmRingError('NOT_A_RING', `${name} is not a shmring ring (no shmring magic in its first bytes)`, {
      segment: name,
      hint: 'Another program owns this name; pick another ring name, or inspect it with `npx shmring ls` (it lists foreign files in /dev/shm too).',
    });
  }
  const version = readLayoutVersion(control);
  if (version !== L.LAYOUT_VERSION) {
    throw new ShmRingError(
      'INCOMPATIBLE_VERSION',
      `${name} has layout version ${version}; this shmring reads layout version ${L.LAYOUT_VERSION}`,
      {
        segment: name,
        hint:
          'Run producer and consumers from the same shmring release. A producer restarted with this release ' +
          'replaces the old ring when no live process uses it; `npx shmring inspect` shows who does.',
      },
    );
  }
  const view = new DataView(control);
  const controlLength = view.getUint32(L.CONTROL_LENGTH_OFFSET, true);
  const capacity = view.getUint32(L.CAPACITY_OFFSET, true);
  const maxMessageLength = view.getUint32(L.MAX_MESSAGE_LENGTH_OFFSET, true);
  const maxConsumers = view.getUint32(L.MAX_CONSUMERS_OFFSET, true);

  if (maxConsumers < 1 || maxConsumers > L.MAX_CONSUMERS_LIMIT) {
    throw corrupt(name, `max consumers ${maxConsumers} is outside 1..${L.MAX_CONSUMERS_LIMIT}`);
  }
  if (controlLength !== L.controlLength(maxConsumers)) {
    throw corrupt(name, `control length ${controlLength} does not match ${maxConsumers} consumer slots`);
  }
  if (!isPowerOfTwo(capacity) || capacity < L.MIN_CAPACITY || capacity > L.MAX_CAPACITY) {
    throw corrupt(name, `capacity ${capacity} is not a power of two in ${L.MIN_CAPACITY}..${L.MAX_CAPACITY}`);
  }
  if (maxMessageLength < 1 || maxMessageLength > L.maxMessageLengthLimit(capacity)) {
    throw corrupt(name, `max message length ${maxMessageLength} is outside 1..${L.maxMessageLengthLimit(capacity)}`);
  }
  const segmentLength = controlLength + capacity;
  if (segmentLength > segmentSize) {
    throw corrupt(name, `the header describes ${segmentLength} bytes but the segment has only ${segmentSize}`);
  }
  return { layoutVersion: version, controlLength, capacity, maxMessageLength, maxConsumers, segmentLength };
}

/** The ring's instance id (RING_ID) as 32 hex digits: chosen at creation, kept across takeovers. */
export function readRingId(control: ArrayBuffer): string {
  return Buffer.from(control, L.RING_ID_OFFSET, L.RING_ID_LENGTH).toString('hex');
}

export function readCreator(control: ArrayBuffer): CreatorInfo {
  const view = new DataView(control);
  return {
    pid: view.getUint32(L.CREATOR_PID_OFFSET, true),
    startTime: view.getFloat64(L.CREATOR_START_TIME_OFFSET, true),
    pidNamespace: view.getFloat64(L.CREATOR_PID_NAMESPACE_OFFSET, true),
    createdAtMs: view.getFloat64(L.CREATED_AT_MS_OFFSET, true),
  };
}

function corrupt(name: string, detail: string): ShmRingError {
  return new ShmRingError('CORRUPT_SEGMENT', `${name} has a corrupt header: ${detail}`, {
    segment: name,
    hint: 'The segment was damaged or written by something else. `npx shmring inspect NAME` shows it; a restarted producer replaces it.',
  });
}
