/**
 * Bridge options: their documentation, defaults, validation (once, in the Bridge constructor), and the
 * subject template.
 */
import * as os from 'os';
import {
  booleanOption,
  checkOptionsObject,
  describe,
  durationOption,
  integerOption,
  rejectUnknownKeys,
} from '../../api/options';

export const DEFAULT_BRIDGE_SERVER = 'nats://127.0.0.1:4222';
export const DEFAULT_BRIDGE_MAX_BATCH = 256;
export const DEFAULT_BRIDGE_MAX_BATCH_BYTES = 1 << 20;
/** ring → JetStream: publishes awaiting their acknowledgement at most. */
export const DEFAULT_BRIDGE_MAX_IN_FLIGHT = 4096;
export const DEFAULT_BRIDGE_LINGER_MS = 0;
export const DEFAULT_BRIDGE_STATUS_INTERVAL_MS = 1000;
export const DEFAULT_BRIDGE_RECONNECT_MIN_MS = 100;
export const DEFAULT_BRIDGE_RECONNECT_MAX_MS = 5000;
export const DEFAULT_BRIDGE_ACK_TIMEOUT_MS = 5000;
/** JetStream's de-duplication window asked for when the bridge creates the stream (2 minutes, NATS's default). */
export const DEFAULT_BRIDGE_DUPLICATE_WINDOW_MS = 120_000;

export interface BridgeOptions {
  /** NATS server URL(s). Default: DEFAULT_BRIDGE_SERVER ('nats://127.0.0.1:4222'). */
  servers?: string | string[];
  /** ring → NATS: the local ring to read (as a consumer). Exactly one of fromRing/fromSubject. */
  fromRing?: string;
  /**
   * ring → NATS: the subject to publish to; `{host}` and `{ring}` are replaced by this host's name and the
   * ring's name (without the leading '/', dots as '_', so each stays one subject token).
   * Default: 'shmring.{host}.{ring}'.
   */
  toSubject?: string;
  /** NATS → ring: the subject (wildcards allowed) to subscribe to. */
  fromSubject?: string;
  /** NATS → ring: the local ring to feed (the bridge creates it, or takes it over, as its producer). */
  toRing?: string;
  /** Use this JetStream stream (created when missing, covering the subject). Default: none (core NATS). */
  jetstream?: string;
  /** NATS → ring with JetStream: the durable consumer's name. Default: 'shmring-' + the ring's name. */
  durable?: string;
  /** ring → NATS: hold the ring's producer back rather than lose messages. Default: true. */
  tethered?: boolean;
  /** ring → NATS: messages read from the ring and published at once. Default: DEFAULT_BRIDGE_MAX_BATCH (256). */
  maxBatch?: number;
  /**
   * ring → JetStream: publishes awaiting their acknowledgement at most (the pipeline; at least maxBatch).
   * Default: DEFAULT_BRIDGE_MAX_IN_FLIGHT (4096).
   */
  maxInFlight?: number;
  /** ring → NATS: bytes per batch. Default: DEFAULT_BRIDGE_MAX_BATCH_BYTES (1 MiB). */
  maxBatchBytes?: number;
  /** ring → NATS: wait up to this long (ms) for a batch to fill before sending a partial one. Default: 0. */
  lingerMs?: number;
  /** JetStream: how long to wait for a publish's acknowledgement before retrying. Default: DEFAULT_BRIDGE_ACK_TIMEOUT_MS (5000). */
  ackTimeoutMs?: number;
  /** NATS → ring: capacity of the ring the bridge creates. Default: the ring's default (1 MiB). */
  ringCapacity?: number;
  /** ring → NATS: wait this long (ms) for the ring to be created. Default: 0. */
  openTimeout?: number;
  /** Host name put into `{host}`. Default: os.hostname(). */
  host?: string;
  /** First and longest wait between reconnection attempts (doubling in between), in ms. Default: 100 and 5000. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Keep trying when no server answers at start instead of failing with BRIDGE_UNREACHABLE. Default: false. */
  waitForServer?: boolean;
  /** How often the 'status' event fires, in ms (0: only on changes of state). Default: DEFAULT_BRIDGE_STATUS_INTERVAL_MS (1000). */
  statusIntervalMs?: number;
}

export const BRIDGE_OPTION_KEYS = [
  'servers', 'fromRing', 'toSubject', 'fromSubject', 'toRing', 'jetstream', 'durable', 'tethered', 'maxBatch', 'maxInFlight',
  'maxBatchBytes', 'lingerMs', 'ackTimeoutMs', 'ringCapacity', 'openTimeout', 'host', 'reconnectMinMs',
  'reconnectMaxMs', 'waitForServer', 'statusIntervalMs',
] as const;

interface Common {
  servers: string[];
  jetstream: string | undefined;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  waitForServer: boolean;
  statusIntervalMs: number;
  ackTimeoutMs: number;
}

export interface RingToNatsOptions extends Common {
  direction: 'ring-to-nats';
  ring: string;
  subject: string;
  /** The template with '*' for {host} and {ring}: what a stream the bridge creates stores. */
  streamSubject: string;
  tethered: boolean;
  maxBatch: number;
  maxInFlight: number;
  maxBatchBytes: number;
  lingerMs: number;
  openTimeout: number;
}

export interface NatsToRingOptions extends Common {
  direction: 'nats-to-ring';
  ring: string;
  subject: string;
  durable: string;
  ringCapacity: number | undefined;
}

export type ResolvedBridgeOptions = RingToNatsOptions | NatsToRingOptions;

/** One subject token from a name: NATS separates tokens with '.', and '*', '>' and spaces are special. */
export function subjectToken(name: string): string {
  return name.replace(/^\//, '').replace(/[.*>\s]/g, '_') || '_';
}

/** The subject for a ring, from a template with `{host}` and `{ring}`. */
export function renderSubject(template: string, ring: string, host: string): string {
  return template.replaceAll('{host}', subjectToken(host)).replaceAll('{ring}', subjectToken(ring));
}

function stringOption(what: string, key: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${what}: ${key} must be a non-empty string, got ${describe(value)}`);
  return value;
}

function checkSubject(what: string, key: string, subject: string, wildcards: boolean): void {
  const tokens = subject.split('.');
  const bad = tokens.find((t) => t.length === 0 || /\s/.test(t) || (!wildcards && (t === '*' || t === '>')));
  if (bad !== undefined) throw new RangeError(`${what}: ${key} is not a valid NATS subject${wildcards ? '' : ' to publish to'}, got '${subject}'`);
}

export function resolveBridgeOptions(input: unknown): ResolvedBridgeOptions {
  const what = 'new Bridge';
  const options = checkOptionsObject(what, input);
  rejectUnknownKeys(what, options, BRIDGE_OPTION_KEYS);
  const serversInput = options.servers ?? DEFAULT_BRIDGE_SERVER;
  const servers = Array.isArray(serversInput) ? serversInput : [serversInput];
  if (servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new TypeError(`${what}: servers must be a URL or a non-empty array of URLs, got ${describe(serversInput)}`);
  }
  const reconnectMinMs = durationOption(what, 'reconnectMinMs', options.reconnectMinMs, DEFAULT_BRIDGE_RECONNECT_MIN_MS, false);
  const common: Common = {
    servers: servers as string[],
    jetstream: stringOption(what, 'jetstream', options.jetstream),
    reconnectMinMs,
    reconnectMaxMs: Math.max(reconnectMinMs, durationOption(what, 'reconnectMaxMs', options.reconnectMaxMs, DEFAULT_BRIDGE_RECONNECT_MAX_MS, false)),
    waitForServer: booleanOption(what, 'waitForServer', options.waitForServer, false),
    statusIntervalMs: durationOption(what, 'statusIntervalMs', options.statusIntervalMs, DEFAULT_BRIDGE_STATUS_INTERVAL_MS, false),
    ackTimeoutMs: durationOption(what, 'ackTimeoutMs', options.ackTimeoutMs, DEFAULT_BRIDGE_ACK_TIMEOUT_MS, false),
  };
  if (common.jetstream !== undefined && /[.*>\s]/.test(common.jetstream)) {
    throw new RangeError(`${what}: jetstream must be a stream name without '.', '*', '>' or spaces, got '${common.jetstream}'`);
  }
  const fromRing = stringOption(what, 'fromRing', options.fromRing);
  const toRing = stringOption(what, 'toRing', options.toRing);
  const fromSubject = stringOption(what, 'fromSubject', options.fromSubject);
  if ((fromRing === undefined) === (toRing === undefined)) {
    throw new TypeError(`${what}: give exactly one direction: { fromRing, toSubject } or { fromSubject, toRing }`);
  }
  if (fromRing !== undefined) {
    if (fromSubject !== undefined || options.durable !== undefined || options.ringCapacity !== undefined) {
      throw new TypeError(`${what}: fromSubject, durable and ringCapacity belong to the NATS → ring direction (toRing)`);
    }
    const host = stringOption(what, 'host', options.host) ?? os.hostname();
    const template = stringOption(what, 'toSubject', options.toSubject) ?? 'shmring.{host}.{ring}';
    const subject = renderSubject(template, fromRing, host);
    checkSubject(what, 'toSubject', subject, false);
    const maxBatch = integerOption(what, 'maxBatch', options.maxBatch, DEFAULT_BRIDGE_MAX_BATCH, 1, 1 << 16);
    const streamSubject = template.replace(/[^.]*\{(host|ring)\}[^.]*/g, '*');
    return {
      ...common,
      direction: 'ring-to-nats',
      ring: fromRing,
      subject,
      streamSubject,
      tethered: booleanOption(what, 'tethered', options.tethered, true),
      maxBatch,
      maxInFlight: Math.max(maxBatch, integerOption(what, 'maxInFlight', options.maxInFlight, DEFAULT_BRIDGE_MAX_IN_FLIGHT, 1, 1 << 20)),
      maxBatchBytes: integerOption(what, 'maxBatchBytes', options.maxBatchBytes, DEFAULT_BRIDGE_MAX_BATCH_BYTES, 1, 1 << 30),
      lingerMs: durationOption(what, 'lingerMs', options.lingerMs, DEFAULT_BRIDGE_LINGER_MS, false),
      openTimeout: durationOption(what, 'openTimeout', options.openTimeout, 0),
    };
  }
  const ring = toRing as string;
  for (const key of ['toSubject', 'tethered', 'maxBatch', 'maxInFlight', 'maxBatchBytes', 'lingerMs', 'openTimeout', 'host'] as const) {
    if (options[key] !== undefined) throw new TypeError(`${what}: ${key} belongs to the ring → NATS direction (fromRing)`);
  }
  if (fromSubject === undefined) throw new TypeError(`${what}: toRing needs fromSubject`);
  checkSubject(what, 'fromSubject', fromSubject, true);
  const durable = stringOption(what, 'durable', options.durable) ?? `shmring-${subjectToken(ring)}`;
  if (/[.*>\s]/.test(durable)) throw new RangeError(`${what}: durable must be a name without '.', '*', '>' or spaces, got '${durable}'`);
  return {
    ...common,
    direction: 'nats-to-ring',
    ring,
    subject: fromSubject,
    durable,
    ringCapacity: options.ringCapacity === undefined ? undefined : integerOption(what, 'ringCapacity', options.ringCapacity, 0, 4096, 2 ** 30),
  };
}
