/**
 * What both directions of a bridge share: the connection, the loaded client, counters, the stop signal,
 * header names, and JetStream set-up (stream and subject checks).
 */
import type { NatsConnection } from '@nats-io/nats-core/lib/core';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Codec } from '../../api/codec';
import { apiErrorCode, bridgeFailed, JetStreamModule, NatsModule } from './client';
import { DEFAULT_BRIDGE_DUPLICATE_WINDOW_MS } from './options';

/** Headers every bridged message carries (besides JetStream's Nats-Msg-Id). */
export const HEADER_RING = 'Shmring-Ring';
export const HEADER_RING_ID = 'Shmring-Ring-Id';
export const HEADER_SEQUENCE = 'Shmring-Sequence';
/**
 * The source ring's producer epoch (0 for the creator, +1 per takeover), read by the bridge right after it
 * read the message (with the rest of its batch): the epoch of the producer that wrote it, or a later one
 * when a takeover came in between (records do not carry the epoch). Not part of Nats-Msg-Id: a takeover keeps
 * the ring's sequence numbers, so ringId:sequence stays the message's identity.
 */
export const HEADER_EPOCH = 'Shmring-Epoch';

export type BridgeState = 'starting' | 'connected' | 'disconnected' | 'reconnecting' | 'ended' | 'closed';

export interface BridgeCounters {
  /** Messages handed to NATS (ring → NATS) or written into the ring (NATS → ring). */
  forwarded: number;
  /** Messages acknowledged: by JetStream (ring → NATS) or acknowledged to JetStream after the ring write (NATS → ring). */
  acked: number;
  /** Messages known to be missing: sequence gaps (overwritten in the ring, or dropped by core NATS), failed core publishes. */
  lost: number;
  /** Messages read but not yet acknowledged (ring → NATS), or received but not yet in the ring. */
  pending: number;
  /** Messages JetStream reported as duplicates, or redeliveries the ring side skipped. */
  duplicates: number;
  /** Publish retries after a failure or a timeout (ring → JetStream); consumer re-creations after a delivery went missing (JetStream → ring). */
  retries: number;
  /** The ring sequence of the last message acknowledged (-1: none yet). */
  lastSequence: number;
}

export interface PumpContext {
  readonly nc: NatsConnection;
  readonly nats: NatsModule;
  readonly js: JetStreamModule;
  readonly counters: BridgeCounters;
  readonly signal: AbortSignal;
  isConnected(): boolean;
  /** Resolves when the connection is up (at once if it is), or when the bridge stops. */
  whenConnected(): Promise<void>;
  /** Waits `ms`, or less if the bridge stops. */
  pause(ms: number): Promise<void>;
}

export interface Pump {
  /** Runs until the ring stream ends or the bridge stops; rejects only on a failure that retrying cannot fix. */
  run(): Promise<void>;
}

/** Hands raw payloads through the consumer's receive paths: a copy of the bytes, not a decoded value. */
export const RAW_CODEC: Codec = {
  encode: (value) => value as Uint8Array,
  decode: (bytes) => bytes.slice(),
};

/** Whether a NATS subject filter (with '*' and '>') matches a subject. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;

/**
 * Makes sure `stream` exists and stores `subject`. A missing stream is created (file storage, JetStream's
 * 2-minute de-duplication window) with `createWith` as its subjects. An existing one is used as it is when
 * `mayUpdate` is false (a consumer's filter is checked by the server); otherwise `createWith` is added to
 * its subjects when they do not cover `subject`.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
  createWith: string,
  mayUpdate: boolean,
  ctx: PumpContext,
): Promise<void> {
  const hint = `Check the stream with \`nats stream info ${stream}\`: it must store the subject ${subject}, and this user must be allowed to manage it.`;
  for (let attempt = 0; ; attempt++) {
    try {
      const info = await jsm.streams.info(stream);
      const subjects = info.config.subjects ?? [];
      if (!mayUpdate || subjects.some((filter) => subjectMatches(filter, subject))) return;
      await jsm.streams.update(stream, { subjects: [...subjects, createWith] });
      return;
    } catch (error) {
      if (apiErrorCode(error) !== STREAM_NOT_FOUND) {
        if (attempt < 3 && !ctx.signal.aborted && apiErrorCode(error) === undefined) {
          // Not an answer from JetStream (e.g. a timeout while it elects a leader): ask again.
          await ctx.pause(500);
          continue;
        }
        throw bridgeFailed(`JetStream stream ${stream}`, error, hint);
      }
    }
    try {
      await jsm.streams.add({
        name: stream,
        subjects: [createWith],
        storage: ctx.js.StorageType.File,
        duplicate_window: ctx.nats.nanos(DEFAULT_BRIDGE_DUPLICATE_WINDOW_MS),
      });
      return;
    } catch (error) {
      // Another bridge created it meanwhile: look again.
      if (apiErrorCode(error) === STREAM_NAME_IN_USE && attempt < 3) continue;
      throw bridgeFailed(`creating JetStream stream ${stream}`, error, hint);
    }
  }
}

/** Sequence and ring id from a bridged message's headers, or undefined when it has none. */
export function readOrigin(headers: { get(key: string): string } | undefined): { ringId: string; sequence: number } | undefined {
  if (!headers) return undefined;
  const sequence = Number(headers.get(HEADER_SEQUENCE));
  const ringId = headers.get(HEADER_RING_ID);
  if (!ringId || !Number.isSafeInteger(sequence) || sequence < 0) return undefined;
  return { ringId, sequence };
}
