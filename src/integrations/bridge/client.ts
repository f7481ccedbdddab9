/**
 * The NATS client, loaded only when a bridge starts: `@nats-io/transport-node` and `@nats-io/jetstream`
 * are optional dependencies, so `import 'shmring'` (and every other `shmring` command) never loads them,
 * and an install without them fails here with BRIDGE_CLIENT_MISSING and what to install.
 *
 * Also: connecting with backoff, and NATS's errors turned into ShmRingError codes with hints.
 */
import type * as NatsTransport from '@nats-io/transport-node';
import type * as NatsJetStream from '@nats-io/jetstream';
import type * as NatsCore from '@nats-io/nats-core/lib/internal_mod';
import type { NatsConnection } from '@nats-io/nats-core/lib/core';
import { ShmRingError } from '../../errors';

// The transport's own typings re-export nats-core through a subpath that TypeScript's commonjs
// resolution cannot follow: take the types from nats-core directly (the objects are the same).
export type NatsModule = typeof NatsTransport & typeof NatsCore;
export type JetStreamModule = typeof NatsJetStream;

let loaded: { nats: NatsModule; js: JetStreamModule } | undefined;

export function loadClient(): { nats: NatsModule; js: JetStreamModule } {
  if (loaded) return loaded;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const nats = require('@nats-io/transport-node') as NatsModule;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const js = require('@nats-io/jetstream') as JetStreamModule;
    loaded = { nats, js };
    return loaded;
  } catch (cause) {
    throw new ShmRingError('BRIDGE_CLIENT_MISSING', `the NATS bridge needs @nats-io/transport-node and @nats-io/jetstream: ${(cause as Error).message}`, {
      cause,
      hint: 'Install them beside shmring: `npm install @nats-io/transport-node@~3.3 @nats-io/jetstream@~3.3` (they are optional dependencies; `--omit=optional` leaves them out).',
    });
  }
}

export interface ConnectOptions {
  servers: string[];
  reconnectMinMs: number;
  reconnectMaxMs: number;
  waitForServer: boolean;
  name: string;
}

/** The first and the longest wait between attempts, doubling in between, with ±20% jitter. */
export function backoff(minMs: number, maxMs: number): { next(): number; reset(): void } {
  let attempt = 0;
  return {
    next() {
      const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt++, 30));
      return Math.round(base * (0.8 + Math.random() * 0.4));
    },
    reset() {
      attempt = 0;
    },
  };
}

export function unreachable(servers: string[], cause: unknown): ShmRingError {
  const where = servers.join(', ');
  return new ShmRingError('BRIDGE_UNREACHABLE', `no server at ${where}: is nats-server running? (${(cause as Error)?.message ?? cause})`, {
    cause,
    hint: `Start nats-server (with -js for JetStream) at ${where}, or pass the right --server; the bridge retries by itself once it has connected, and from the start with waitForServer.`,
  });
}

/**
 * Connects, retrying forever with backoff once connected (the client reconnects by itself, with our
 * delays). The first attempt fails with BRIDGE_UNREACHABLE unless `waitForServer`.
 */
export async function connectWithBackoff(options: ConnectOptions, isStopped: () => boolean): Promise<NatsConnection> {
  const { nats } = loadClient();
  const delays = backoff(options.reconnectMinMs, options.reconnectMaxMs);
  for (;;) {
    try {
      const connection = await nats.connect({
        servers: options.servers,
        name: options.name,
        maxReconnectAttempts: -1,
        reconnectDelayHandler: () => delays.next(),
        reconnectJitter: 0,
        timeout: 5000,
        // Publishes made while disconnected wait in the client (bounded) and are sent after reconnecting.
        reconnectBufSize: 64 << 20,
        // No stack captured for every request (each JetStream publish is one): it cost about half the
        // sending bridge's CPU, and a failed publish is retried by the bridge, not debugged from its trace.
        noAsyncTraces: true,
      });
      void (async () => {
        for await (const status of connection.status()) if (status.type === 'reconnect') delays.reset();
      })();
      return connection;
    } catch (cause) {
      if (!options.waitForServer || isStopped()) throw unreachable(options.servers, cause);
      await new Promise((resolve) => setTimeout(resolve, delays.next()));
    }
  }
}

/** A JetStream API error's numeric code (e.g. 10059: stream not found), when it is one. */
export function apiErrorCode(error: unknown): number | undefined {
  const e = error as { api_error?: { err_code?: number }; code?: number | string };
  return e?.api_error?.err_code ?? (typeof e?.code === 'number' ? e.code : undefined);
}

export function bridgeFailed(what: string, cause: unknown, hint: string): ShmRingError {
  return new ShmRingError('BRIDGE_FAILED', `${what}: ${(cause as Error)?.message ?? cause}`, { cause, hint });
}
