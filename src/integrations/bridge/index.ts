/**
 * `shmring/bridge`: a bridge between rings and NATS / JetStream (docs/bridge.md). A separate entry point,
 * so the NATS client (optional dependencies) is only loaded by those who use it.
 */
export { Bridge } from './bridge';
export type { BridgeStatus } from './bridge';
export type { BridgeCounters, BridgeState } from './context';
export { HEADER_RING, HEADER_RING_ID, HEADER_SEQUENCE, HEADER_EPOCH } from './context';
export { landingLogName, LANDING_LOG_PREFIX } from './landing-log';
export {
  DEFAULT_BRIDGE_SERVER,
  DEFAULT_BRIDGE_MAX_BATCH,
  DEFAULT_BRIDGE_MAX_BATCH_BYTES,
  DEFAULT_BRIDGE_MAX_IN_FLIGHT,
  DEFAULT_BRIDGE_LINGER_MS,
  DEFAULT_BRIDGE_STATUS_INTERVAL_MS,
  DEFAULT_BRIDGE_RECONNECT_MIN_MS,
  DEFAULT_BRIDGE_RECONNECT_MAX_MS,
  DEFAULT_BRIDGE_ACK_TIMEOUT_MS,
  DEFAULT_BRIDGE_DUPLICATE_WINDOW_MS,
  renderSubject,
} from './options';
export type { BridgeOptions } from './options';
export { DEFAULT_BRIDGE_MAX_ACK_PENDING } from './nats-to-ring';
