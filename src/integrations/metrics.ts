/**
 * `shmring/metrics`: every ring's counters as Prometheus metrics, built with prom-client.
 *
 * Values are read at scrape time, in the metrics' collect() callbacks, from the read-only snapshot the CLI
 * uses (src/ring/snapshot.ts): taking one never joins a ring, claims no slot and writes nothing, so a
 * scrape cannot disturb a producer or a consumer. One snapshot of all rings serves every metric of one
 * scrape (it is reused for `cacheMs`).
 *
 * A counter read back from a ring can go down only when the ring was re-created under the same name;
 * Prometheus' rate() treats that as a counter reset, which it is.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { snapshotAll, type ConsumerSnapshot, type RingSnapshot } from '../ring/snapshot';

export interface RingMetricsOptions {
  /** Prefix of every metric name. Default: DEFAULT_METRICS_PREFIX ('shmring_'). */
  prefix?: string;
  /** Only rings whose name starts with this (leading slash optional), e.g. '/logs.'. Default: every ring. */
  ringPrefix?: string;
  /** How long one snapshot of all rings serves the metrics of a scrape, ms. Default: DEFAULT_SNAPSHOT_CACHE_MS (100). */
  cacheMs?: number;
}

export const DEFAULT_METRICS_PREFIX = 'shmring_';
export const DEFAULT_SNAPSHOT_CACHE_MS = 100;

/** Every metric, without its prefix: name, type, help, and what it is labelled by. */
export const RING_METRICS = [
  { name: 'messages_sent_total', type: 'counter', labels: 'ring', help: 'Messages the producers of the ring have published.' },
  { name: 'bytes_sent_total', type: 'counter', labels: 'ring', help: 'Payload bytes the producers of the ring have published.' },
  { name: 'producer_alive', type: 'gauge', labels: 'ring', help: '1 when the ring has a producer process alive (running or stopped), else 0.' },
  { name: 'producer_dead', type: 'gauge', labels: 'ring', help: '1 when the producer process died without closing the ring, else 0.' },
  { name: 'producer_stalls_total', type: 'counter', labels: 'ring', help: 'Times the producer found the ring full because of tethered consumers (held back).' },
  { name: 'wakes_sent_total', type: 'counter', labels: 'ring', help: 'Futex wakes the producer sent to sleeping consumers.' },
  { name: 'consumers', type: 'gauge', labels: 'ring', help: 'Consumers registered in the ring (occupied slots, dead ones until reclaimed).' },
  { name: 'consumers_reclaimed_total', type: 'counter', labels: 'ring', help: 'Slots of dead consumers the producer reclaimed.' },
  { name: 'takeovers_total', type: 'counter', labels: 'ring', help: 'Times a new producer continued the ring after a dead one.' },
  { name: 'capacity_bytes', type: 'gauge', labels: 'ring', help: 'Bytes in the data region of the ring.' },
  { name: 'consumer_lag_bytes', type: 'gauge', labels: 'ring, slot, pid, tethered', help: 'Bytes published and not yet read by the consumer.' },
  { name: 'consumer_received_total', type: 'counter', labels: 'ring, slot, pid, tethered', help: 'Messages the consumer has read.' },
  { name: 'consumer_lost_total', type: 'counter', labels: 'ring, slot, pid, tethered', help: 'Messages overwritten before the (untethered) consumer read them.' },
  { name: 'consumer_alive', type: 'gauge', labels: 'ring, slot, pid, tethered', help: '1 when the consumer process is alive (running or stopped), else 0.' },
] as const;

export interface RingMetrics {
  /** The registry the metrics were added to. */
  registry: Registry;
  /** Removes these metrics from the registry. */
  unregister(): void;
}

type RingLabel = 'ring';
type ConsumerLabel = 'ring' | 'slot' | 'pid' | 'tethered';

function ringFilter(ringPrefix: string | undefined): ((name: string) => boolean) | undefined {
  if (ringPrefix === undefined || ringPrefix === '') return undefined;
  const wanted = ringPrefix.startsWith('/') ? ringPrefix : `/${ringPrefix}`;
  return (name) => name.startsWith(wanted);
}

function isAlive(status: string | undefined): boolean {
  return status === 'alive' || status === 'stopped';
}

function consumerLabels(ring: string, consumer: ConsumerSnapshot): Record<ConsumerLabel, string> {
  return { ring, slot: String(consumer.slot), pid: String(consumer.pid), tethered: String(consumer.tethered) };
}

/**
 * Adds the ring metrics to `registry` (an application's own prom-client registry, or prom-client's
 * default `register`). Nothing is read until the registry is scraped.
 */
export function registerRingMetrics(registry: Registry, options: RingMetricsOptions = {}): RingMetrics {
  if (registry === null || typeof registry !== 'object' || typeof registry.registerMetric !== 'function') {
    throw new TypeError('registerRingMetrics: registry must be a prom-client Registry');
  }
  const { prefix = DEFAULT_METRICS_PREFIX, ringPrefix, cacheMs = DEFAULT_SNAPSHOT_CACHE_MS } = options;
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) {
    throw new RangeError(`registerRingMetrics: prefix must be a valid start of a Prometheus metric name, got ${JSON.stringify(prefix)}`);
  }
  if (!(Number.isFinite(cacheMs) && cacheMs >= 0)) throw new RangeError(`registerRingMetrics: cacheMs must be a non-negative number, got ${cacheMs}`);
  const filter = ringFilter(ringPrefix);

  let cached: { at: number; rings: RingSnapshot[] } | undefined;
  const rings = (): RingSnapshot[] => {
    const now = Date.now();
    if (cached === undefined || now - cached.at > cacheMs) {
      cached = { at: now, rings: snapshotAll(filter).filter((snapshot) => snapshot.kind === 'ring') };
    }
    return cached.rings;
  };

  const created: Array<Counter<string> | Gauge<string>> = [];
  const help = (name: (typeof RING_METRICS)[number]['name']) => RING_METRICS.find((metric) => metric.name === name)!.help;

  /** A counter of one number per ring, set from the snapshot at scrape time. */
  const ringCounter = (name: (typeof RING_METRICS)[number]['name'], value: (ring: RingSnapshot) => number | null | undefined) => {
    created.push(
      new Counter<RingLabel>({
        name: prefix + name,
        help: help(name),
        labelNames: ['ring'],
        registers: [registry],
        collect() {
          this.reset();
          for (const ring of rings()) {
            const v = value(ring);
            // null: the snapshot found the value damaged (reported by `shmring inspect`); no sample.
            if (v !== null && v !== undefined) this.inc({ ring: ring.file.name }, v);
          }
        },
      }),
    );
  };
  const ringGauge = (name: (typeof RING_METRICS)[number]['name'], value: (ring: RingSnapshot) => number | null | undefined) => {
    created.push(
      new Gauge<RingLabel>({
        name: prefix + name,
        help: help(name),
        labelNames: ['ring'],
        registers: [registry],
        collect() {
          this.reset();
          for (const ring of rings()) {
            const v = value(ring);
            if (v !== null && v !== undefined) this.set({ ring: ring.file.name }, v);
          }
        },
      }),
    );
  };
  const consumerMetric = (
    kind: 'counter' | 'gauge',
    name: (typeof RING_METRICS)[number]['name'],
    value: (consumer: ConsumerSnapshot) => number | null,
  ) => {
    const configuration = {
      name: prefix + name,
      help: help(name),
      labelNames: ['ring', 'slot', 'pid', 'tethered'] as ConsumerLabel[],
      registers: [registry],
    };
    if (kind === 'counter') {
      created.push(
        new Counter<ConsumerLabel>({
          ...configuration,
          collect() {
            this.reset();
            for (const ring of rings()) {
              for (const consumer of ring.consumers) {
                const v = value(consumer);
                if (v !== null) this.inc(consumerLabels(ring.file.name, consumer), v);
              }
            }
          },
        }),
      );
    } else {
      created.push(
        new Gauge<ConsumerLabel>({
          ...configuration,
          collect() {
            this.reset();
            for (const ring of rings()) {
              for (const consumer of ring.consumers) {
                const v = value(consumer);
                if (v !== null) this.set(consumerLabels(ring.file.name, consumer), v);
              }
            }
          },
        }),
      );
    }
  };

  ringCounter('messages_sent_total', (ring) => ring.counters?.messagesSent);
  ringCounter('bytes_sent_total', (ring) => ring.counters?.bytesSent);
  ringGauge('producer_alive', (ring) => (isAlive(ring.producer?.status) ? 1 : 0));
  ringGauge('producer_dead', (ring) => (ring.producer?.status === 'dead' ? 1 : 0));
  ringCounter('producer_stalls_total', (ring) => ring.counters?.producerStalls);
  ringCounter('wakes_sent_total', (ring) => ring.counters?.wakesSent);
  ringGauge('consumers', (ring) => ring.consumers.length);
  ringCounter('consumers_reclaimed_total', (ring) => ring.counters?.consumersReclaimed);
  ringCounter('takeovers_total', (ring) => ring.counters?.takeovers);
  ringGauge('capacity_bytes', (ring) => ring.geometry?.capacity);
  consumerMetric('gauge', 'consumer_lag_bytes', (consumer) => consumer.lag);
  consumerMetric('counter', 'consumer_received_total', (consumer) => consumer.received);
  consumerMetric('counter', 'consumer_lost_total', (consumer) => consumer.lost);
  consumerMetric('gauge', 'consumer_alive', (consumer) => (isAlive(consumer.status) ? 1 : 0));

  return {
    registry,
    unregister() {
      for (const metric of created) registry.removeSingleMetric((metric as unknown as { name: string }).name);
    },
  };
}

/** A registry of its own holding only the ring metrics (what `shmring metrics` serves). */
export function createRingMetricsRegistry(options: RingMetricsOptions = {}): Registry {
  const registry = new Registry();
  registerRingMetrics(registry, options);
  return registry;
}
