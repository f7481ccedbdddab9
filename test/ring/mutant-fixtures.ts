/**
 * What the in-process `mutants-*` tests of the ring share: one small ring geometry and its messages, and a
 * way to reach an endpoint's mapping (to write damage, or read a word, at offsets named in layout.ts).
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import { ShmRingError } from '../../src';
import type { Consumer, Producer } from '../../src';
import * as L from '../../src/ring/layout';
import type { RingMemory } from '../../src/ring/memory';

export const CAPACITY = 4096;
export const MAX_CONSUMERS = 4;
/** 48-byte payloads: 64-byte records, 64 to a ring. */
export const PAYLOAD = 48;
export const RECORD = L.recordLength(PAYLOAD);
export const PER_RING = CAPACITY / RECORD;

/** Message n: PAYLOAD bytes, each n & 255. */
export function message(n: number): Uint8Array {
  return new Uint8Array(PAYLOAD).fill(n & 255);
}

/** The ring mapping of a producer or consumer (a private field: these tests read and damage its words). */
export function memoryOf(endpoint: Producer | Consumer): RingMemory {
  return (endpoint as unknown as { memory: RingMemory }).memory;
}

/** The file behind segment `name` in /dev/shm. */
export function segmentPath(name: string): string {
  return `/dev/shm${name}`;
}

/** Reads a 32-bit word of segment `name` with plain file I/O. */
export function readI32(name: string, offset: number): number {
  const fd = fs.openSync(segmentPath(name), 'r');
  try {
    const word = Buffer.alloc(4);
    fs.readSync(fd, word, 0, 4, offset);
    return word.readInt32LE(0);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a double (a counter or a time) of segment `name` with plain file I/O. */
export function readF64(name: string, offset: number): number {
  const fd = fs.openSync(segmentPath(name), 'r');
  try {
    const word = Buffer.alloc(8);
    fs.readSync(fd, word, 0, 8, offset);
    return word.readDoubleLE(0);
  } finally {
    fs.closeSync(fd);
  }
}

function writeAt(name: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(segmentPath(name), 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes a 32-bit word of segment `name` with plain file I/O (damage, or a state to plant). */
export function writeI32(name: string, offset: number, value: number): void {
  const word = Buffer.alloc(4);
  word.writeInt32LE(value | 0, 0);
  writeAt(name, offset, word);
}

/** Writes a double (a counter or a time) of segment `name`. */
export function writeF64(name: string, offset: number, value: number): void {
  const word = Buffer.alloc(8);
  word.writeDoubleLE(value, 0);
  writeAt(name, offset, word);
}

/** Writes a 64-bit position or sequence (low word, high word) of segment `name`. */
export function writePair(name: string, offset: number, value: number): void {
  writeI32(name, offset, value % L.HIGH_WORD);
  writeI32(name, offset + 4, Math.floor(value / L.HIGH_WORD));
}

/** The pid of a process that has exited and been reaped. */
export async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

/** 'ok', the code of the ShmRingError `fn` threw, or the text of anything else. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    return error instanceof ShmRingError ? error.code : String(error);
  }
}
