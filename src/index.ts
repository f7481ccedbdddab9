/**
 * shmring: messaging between local processes over a POSIX shared-memory ring buffer.
 * Public exports only; see docs/api.md.
 */
export { Producer, Claim, DEFAULT_MODE, DEFAULT_LIVENESS_INTERVAL_MS } from './api/producer';
export type { ProducerOptions, SendOptions, ProducerStats } from './api/producer';
export type { WaitForConsumersOptions } from './api/wait-consumers';
export {
  Consumer,
  DEFAULT_SPIN_MICROSECONDS,
  DEFAULT_PRODUCER_CHECK_INTERVAL_MS,
  DEFAULT_MAX_BATCH,
} from './api/consumer';
export type { ConsumerOptions, ConsumerStats, ReceiveOptions, WaitStrategy, ConnectOptions } from './api/consumer';
export { createReadStream, createWriteStream, DEFAULT_OBJECT_HIGH_WATER_MARK, DEFAULT_BYTE_HIGH_WATER_MARK } from './api/streams';
export type { ReadStreamOptions, WriteStreamOptions } from './api/streams';
export {
  Selector,
  DEFAULT_MAX_BATCH_PER_RING,
  DEFAULT_SELECTOR_CHECK_INTERVAL_MS,
  RINGS_PER_WAITER,
  MAX_SELECTOR_RINGS,
} from './api/selector';
export type { SelectorOptions, SelectorMessage, SelectorStats, RingRemovedReason } from './api/selector';
export { RingFollower, probeRing, DEFAULT_RESCAN_INTERVAL_MS, DEFAULT_DISCOVERY_INIT_TIMEOUT_MS } from './api/discovery';
export type { FollowOptions, ProbeResult, RingIdentity } from './api/discovery';
export { ShmRingError, isShmRingError, AbortError } from './errors';
export type { ShmRingErrorCode, ArgumentErrorCode } from './errors';
export { createMessagePackCodec, ExtensionCodec, TYPED_ARRAY_EXTENSIONS, MAX_ENCODE_DEPTH } from './api/codec';
export type { Codec, MessagePackCodecOptions } from './api/codec';
export { Segment, shmDirectoryStats } from './core/segment';
export * as futex from './core/futex';
export { DEFAULT_CAPACITY, DEFAULT_MAX_CONSUMERS, LAYOUT_VERSION } from './ring/layout';
