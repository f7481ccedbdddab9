/**
 * shmring: messaging between local processes over a POSIX shared-memory ring buffer.
 * Public exports only; see docs/api.md.
 */
export { Producer, Claim, DEFAULT_MODE, DEFAULT_LIVENESS_INTERVAL_MS } from './producer';
export type { ProducerOptions, SendOptions, ProducerStats } from './producer';
export {
  Consumer,
  DEFAULT_SPIN_MICROSECONDS,
  DEFAULT_PRODUCER_CHECK_INTERVAL_MS,
  DEFAULT_MAX_BATCH,
} from './consumer';
export type { ConsumerOptions, ConsumerStats, ReceiveOptions, WaitStrategy } from './consumer';
export { createReadStream, createWriteStream, DEFAULT_OBJECT_HIGH_WATER_MARK, DEFAULT_BYTE_HIGH_WATER_MARK } from './streams';
export type { ReadStreamOptions, WriteStreamOptions } from './streams';
export {
  Selector,
  DEFAULT_MAX_BATCH_PER_RING,
  DEFAULT_SELECTOR_CHECK_INTERVAL_MS,
  RINGS_PER_WAITER,
  MAX_SELECTOR_RINGS,
} from './selector';
export type { SelectorOptions, SelectorMessage, SelectorStats, RingRemovedReason } from './selector';
export { RingFollower, probeRing, DEFAULT_RESCAN_INTERVAL_MS, DEFAULT_DISCOVERY_INIT_TIMEOUT_MS } from './discovery';
export type { FollowOptions, ProbeResult, RingIdentity } from './discovery';
export { ShmRingError, isShmRingError } from './errors';
export type { ShmRingErrorCode } from './errors';
export { createMessagePackCodec, ExtensionCodec, TYPED_ARRAY_EXTENSIONS } from './codec';
export type { Codec, MessagePackCodecOptions } from './codec';
export { Segment, shmDirectoryStats } from './segment';
export * as futex from './futex';
export { DEFAULT_CAPACITY, DEFAULT_MAX_CONSUMERS, LAYOUT_VERSION } from './layout';
