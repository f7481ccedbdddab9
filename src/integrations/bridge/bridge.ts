/**
 * Bridge: one direction between a local ring and NATS (ring → NATS, or NATS → ring), with its
 * connection, its state, counters and a 'status' event. See docs/bridge.md.
 *
 * Events: 'status' (BridgeStatus, every statusIntervalMs and on each change of state), 'error'
 * (a failure retrying cannot fix; the bridge has stopped), 'end' (the ring's stream ended and every
 * message was handed over), 'close'.
 */
import { EventEmitter } from 'events';
import type { NatsConnection } from '@nats-io/nats-core/lib/core';
import { connectWithBackoff, loadClient } from './client';
import { BridgeCounters, BridgeState, PumpContext } from './context';
import { NatsToRing } from './nats-to-ring';
import { BridgeOptions, ResolvedBridgeOptions, resolveBridgeOptions } from './options';
import { RingToNats } from './ring-to-nats';

export interface BridgeStatus extends BridgeCounters {
  direction: 'ring-to-nats' | 'nats-to-ring';
  state: BridgeState;
  ring: string;
  subject: string;
  jetstream: string | undefined;
  /** The server we are connected to (or were last). */
  server: string | undefined;
  /** Times the connection was lost. */
  disconnects: number;
}

export class Bridge extends EventEmitter {
  private readonly options: ResolvedBridgeOptions;
  private readonly counters: BridgeCounters = { forwarded: 0, acked: 0, lost: 0, pending: 0, duplicates: 0, retries: 0, lastSequence: -1 };
  private readonly abort = new AbortController();
  private state: BridgeState = 'starting';
  private disconnects = 0;
  private server: string | undefined;
  private connection: NatsConnection | undefined;
  private connectedWaiters: (() => void)[] = [];
  private pump: RingToNats | NatsToRing | undefined;
  private running: Promise<void> | undefined;
  /** Settles when the pump has stopped (never rejects). */
  private pumped: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private statusTimer: NodeJS.Timeout | undefined;

  constructor(options: BridgeOptions) {
    super();
    this.options = resolveBridgeOptions(options);
  }

  /** Creates a bridge and starts it. */
  static async start(options: BridgeOptions): Promise<Bridge> {
    const bridge = new Bridge(options);
    await bridge.start();
    return bridge;
  }

  /**
   * Connects, opens the ring (and the JetStream stream and consumer) and starts moving messages.
   * Rejects with BRIDGE_UNREACHABLE when no server answers (unless waitForServer), BRIDGE_FAILED when
   * JetStream refuses the set-up, and the ring's own errors (e.g. SEGMENT_NOT_FOUND).
   */
  async start(): Promise<void> {
    if (this.running || this.closing) throw new Error('Bridge.start: already started');
    const { nats, js } = loadClient();
    const options = this.options;
    const connection = await connectWithBackoff(
      { ...options, name: `shmring-bridge ${options.direction} ${options.ring}` },
      () => this.abort.signal.aborted,
    );
    this.connection = connection;
    this.server = connection.getServer();
    this.watchConnection(connection);
    const ctx: PumpContext = {
      nc: connection,
      nats,
      js,
      counters: this.counters,
      signal: this.abort.signal,
      isConnected: () => this.state === 'connected',
      whenConnected: () => this.whenConnected(),
      pause: (ms) => this.pause(ms),
    };
    const pump = options.direction === 'ring-to-nats' ? new RingToNats(ctx, options) : new NatsToRing(ctx, options);
    try {
      await pump.open();
    } catch (error) {
      await connection.close().catch(() => undefined);
      this.setState('closed');
      throw error;
    }
    this.pump = pump;
    this.setState(connection.isClosed() ? 'closed' : 'connected');
    if (options.statusIntervalMs > 0) {
      this.statusTimer = setInterval(() => this.emit('status', this.status()), options.statusIntervalMs);
      this.statusTimer.unref();
    }
    const pumped = pump.run();
    this.pumped = pumped.catch(() => undefined);
    this.running = pumped.then(
      async () => {
        if (!this.abort.signal.aborted) {
          this.setState('ended');
          this.emit('end');
          await this.close();
        }
      },
      async (error: unknown) => {
        await this.close();
        this.emit('error', error);
      },
    );
  }

  /** Counters and state now. */
  status(): BridgeStatus {
    const o = this.options;
    return {
      direction: o.direction,
      state: this.state,
      ring: o.ring,
      subject: o.subject,
      jetstream: o.jetstream,
      server: this.server,
      disconnects: this.disconnects,
      ...this.counters,
    };
  }

  /** Resolves when the bridge has stopped (its ring ended, close(), or a failure: see 'error'). */
  async finished(): Promise<void> {
    await this.running;
    await this.closing;
  }

  /**
   * Stops: no new message is taken; the batch in hand is published and acknowledged (JetStream, while
   * the server answers), acknowledgements are flushed, the ring is closed, the connection drained.
   * Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.abort.abort();
    if (this.pump instanceof NatsToRing) this.pump.stop();
    this.wakeConnectedWaiters();
    // Not `running`: that one ends by calling close() itself.
    await this.pumped;
    clearInterval(this.statusTimer);
    const connection = this.connection;
    if (connection && !connection.isClosed()) {
      await connection.flush().catch(() => undefined);
      await connection.close().catch(() => undefined);
    }
    if (this.state !== 'ended') this.setState('closed');
    this.emit('status', this.status());
    this.emit('close');
  }

  private setState(state: BridgeState): void {
    if (this.state === state || this.state === 'closed') return;
    this.state = state;
    if (state === 'connected') this.wakeConnectedWaiters();
    this.emit('status', this.status());
  }

  private watchConnection(connection: NatsConnection): void {
    void (async () => {
      for await (const event of connection.status()) {
        switch (event.type) {
          case 'disconnect':
            this.disconnects++;
            this.setState('disconnected');
            break;
          case 'reconnecting':
            this.setState('reconnecting');
            break;
          case 'reconnect':
            this.server = connection.getServer();
            this.setState('connected');
            break;
          default:
            break;
        }
      }
    })().catch(() => undefined);
  }

  private whenConnected(): Promise<void> {
    if (this.state === 'connected' || this.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  private wakeConnectedWaiters(): void {
    const waiters = this.connectedWaiters;
    this.connectedWaiters = [];
    for (const wake of waiters) wake();
  }

  private pause(ms: number): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.abort.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
