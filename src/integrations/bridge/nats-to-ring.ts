/**
 * NATS → ring: a subscription feeds a local ring, the bridge being the ring's producer; payload bytes are
 * written as they arrive, in order.
 *
 * Core NATS: at most once; gaps in the sequence header of a source ring are counted as lost.
 *
 * JetStream: exactly once into the ring, also across a crash of this bridge. The bridge writes the
 * stream's messages strictly in stream order, a batch (what one read of the socket brought, at most
 * 1024) at a time: first each message's entry in the landing log (ring sequence → stream sequence and
 * source; src/integrations/bridge/landing-log.ts), then the records with one publish (`sendBytesBatch`),
 * then one acknowledgement of the batch's last message (ack policy "all"). At every start it reads in the
 * landing log which stream message is the last one in its ring and re-creates its durable consumer to
 * deliver from the one after it; a gap in JetStream's delivery sequence (a delivery lost with a
 * connection) does the same while it runs. So nothing is written twice and nothing is skipped, whatever
 * was acknowledged. See docs/bridge.md.
 */
import * as fs from 'fs';
import type { ConsumerMessages, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/nats-core/lib/core';
import { Producer } from '../../api/producer';
import { SHM_DIRECTORY } from '../../errors';
import { apiErrorCode, bridgeFailed } from './client';
import { ensureStream, Pump, PumpContext, readOrigin } from './context';
import { LandingLog, SourceKey } from './landing-log';
import type { NatsToRingOptions } from './options';

const CONSUMER_NOT_FOUND = 10014;
/** Messages the server may have handed us unacknowledged: bounds redelivery after a crash. */
export const DEFAULT_BRIDGE_MAX_ACK_PENDING = 4096;
/** Messages asked for per pull, and the most the bridge lands with one publish. */
const PULL_BATCH = 1024;

interface Landing {
  data: Uint8Array;
  streamSequence: number;
  source: SourceKey | undefined;
}

export class NatsToRing implements Pump {
  private producer: Producer | undefined;
  private log: LandingLog | undefined;
  private jsm: JetStreamManager | undefined;
  /** The last source sequence written into the ring, per source ring (skips a source's repeats, counts its gaps). */
  private readonly lastWritten = new Map<string, number>();
  private stopIterator: (() => void) | undefined;
  private stopped = false;
  // JetStream delivery.
  /** The stream sequence of the last message handled (written into the ring, or skipped). */
  private lastStreamSequence = 0;
  /** The delivery sequence the next message from the current consumer must carry. */
  private nextDelivery = 1;
  private queue: JsMsg[] = [];
  private wakeRunner: (() => void) | undefined;
  private messages: ConsumerMessages | undefined;
  /** The current consumer's delivery ended (deleted under us, the stream gone): start it again. */
  private consumerEnded = false;
  /** The last message handled (ack-all: acknowledging it covers those before). */
  private lastHandled: JsMsg | undefined;

  constructor(
    private readonly ctx: PumpContext,
    private readonly options: NatsToRingOptions,
  ) {}

  async open(): Promise<void> {
    const { ctx, options } = this;
    let ackFloor = 0;
    if (options.jetstream !== undefined) {
      const jsm = await ctx.js.jetstreamManager(ctx.nc);
      await ensureStream(jsm, options.jetstream, options.subject, options.subject, false, ctx);
      ackFloor = await this.ackFloor(jsm);
      this.jsm = jsm;
    }
    const producer = Producer.create(options.ring, options.ringCapacity === undefined ? {} : { capacity: options.ringCapacity });
    try {
      if (options.jetstream !== undefined) {
        const stat = fs.statSync(`${SHM_DIRECTORY}${options.ring}`);
        const log = LandingLog.open(options.ring, producer.ringId, { mode: stat.mode & 0o7777, gid: stat.gid });
        this.log = log;
        const state = log.recover(producer.nextSequence);
        for (const [source, sequence] of state.lastBySource) this.lastWritten.set(source, sequence);
        // The ring says where it ends in the stream; a new ring (or log) starts after what was acknowledged.
        this.lastStreamSequence = state.lastStreamSequence > 0 ? state.lastStreamSequence : ackFloor;
      }
    } catch (error) {
      this.log?.close(false);
      producer.close();
      throw error;
    }
    this.producer = producer;
  }

  /** Stops taking messages; run() then returns after the batch in hand is in the ring. */
  stop(): void {
    this.stopped = true;
    this.stopIterator?.();
    this.wakeRunner?.();
  }

  async run(): Promise<void> {
    const producer = this.producer;
    if (producer === undefined) throw new Error('NatsToRing.run before open');
    const { ctx, options } = this;
    let clean = false;
    try {
      if (options.jetstream === undefined) {
        await this.runCore(producer);
      } else {
        await this.runJetStream(producer);
      }
      // Acknowledgements are publishes: make sure the server has them before we go.
      await ctx.nc.flush().catch(() => undefined);
      clean = true;
    } finally {
      producer.close();
      // A clean stop removes the ring's name (the producer's default), so its log goes with it.
      this.log?.close(clean);
    }
  }

  /** The durable consumer's ack floor (stream sequence), 0 when it does not exist. */
  private async ackFloor(jsm: JetStreamManager): Promise<number> {
    const { options } = this;
    try {
      const info = await jsm.consumers.info(options.jetstream as string, options.durable);
      return info.ack_floor?.stream_seq ?? 0;
    } catch (error) {
      if (apiErrorCode(error) === CONSUMER_NOT_FOUND) return 0;
      throw bridgeFailed(`JetStream consumer ${options.durable} on ${options.jetstream}`, error, `Check it with \`nats consumer info ${options.jetstream} ${options.durable}\`.`);
    }
  }

  /**
   * (Re-)creates the durable consumer so that it delivers from the message after the last one handled,
   * and starts consuming. Retries (with backoff) while the server does not answer.
   */
  private async startConsuming(): Promise<void> {
    const { ctx, options } = this;
    const stream = options.jetstream as string;
    const jsm = this.jsm as JetStreamManager;
    for (let attempt = 0; !this.stopped; attempt++) {
      if (attempt > 0) {
        await ctx.pause(Math.min(options.reconnectMaxMs, options.reconnectMinMs * 2 ** Math.min(attempt - 1, 10)));
        if (!ctx.isConnected()) await ctx.whenConnected();
        if (this.stopped) return;
      }
      try {
        await jsm.consumers.delete(stream, options.durable).catch((error: unknown) => {
          if (apiErrorCode(error) !== CONSUMER_NOT_FOUND) throw error;
        });
        const start = this.lastStreamSequence + 1;
        await jsm.consumers.add(stream, {
          durable_name: options.durable,
          ack_policy: ctx.js.AckPolicy.All,
          ...(start > 1 ? { deliver_policy: ctx.js.DeliverPolicy.StartSequence, opt_start_seq: start } : { deliver_policy: ctx.js.DeliverPolicy.All }),
          filter_subject: options.subject,
          max_ack_pending: DEFAULT_BRIDGE_MAX_ACK_PENDING,
          ack_wait: ctx.nats.nanos(30_000),
        });
        const consumer = await ctx.js.jetstream(ctx.nc, { timeout: options.ackTimeoutMs }).consumers.get(stream, options.durable);
        this.nextDelivery = 1;
        this.queue = [];
        const messages = await consumer.consume({
          max_messages: PULL_BATCH,
          // Called synchronously for each message of a socket read: the runner lands them as one batch.
          callback: (message) => {
            this.queue.push(message);
            this.wakeRunner?.();
          },
        });
        this.messages = messages;
        this.consumerEnded = false;
        this.stopIterator = () => void messages.close();
        const ended = () => {
          if (this.messages !== messages) return;
          this.consumerEnded = true;
          this.wakeRunner?.();
        };
        void messages.closed().then(ended, ended);
        return;
      } catch (error) {
        if (apiErrorCode(error) !== undefined && apiErrorCode(error) !== CONSUMER_NOT_FOUND && attempt >= 3) {
          throw bridgeFailed(
            `creating JetStream consumer ${options.durable} on ${stream}`,
            error,
            'The bridge owns its durable consumer and re-creates it at every start: give each bridge its own --durable, and let this user manage consumers.',
          );
        }
      }
    }
  }

  private async stopConsuming(): Promise<void> {
    const messages = this.messages;
    this.messages = undefined;
    if (messages === undefined) return;
    await messages.close().catch(() => undefined);
  }

  private async runJetStream(producer: Producer): Promise<void> {
    await this.startConsuming();
    while (!this.stopped) {
      if (this.queue.length === 0) {
        if (this.consumerEnded) {
          // The consumer went away under us (deleted, or the stream): start again after the last message.
          await this.stopConsuming();
          await this.ctx.pause(this.options.reconnectMinMs);
          await this.startConsuming();
          continue;
        }
        await new Promise<void>((resolve) => (this.wakeRunner = resolve));
        this.wakeRunner = undefined;
        continue;
      }
      const batch = this.queue.splice(0, PULL_BATCH);
      const gap = await this.deliverBatch(producer, batch);
      if (gap) {
        // A delivery went missing (lost with a connection): re-create the consumer after the last message handled.
        this.ctx.counters.retries++;
        await this.stopConsuming();
        await this.startConsuming();
      }
    }
    await this.stopConsuming();
    // Acknowledge what was handled again, and wait for the server to confirm it: a ring created anew
    // after this clean stop (which removes the ring) starts after it.
    const reply = (this.lastHandled as { reply?: string } | undefined)?.reply;
    if (reply) await this.ctx.nc.request(reply, new TextEncoder().encode('+ACK'), { timeout: this.options.ackTimeoutMs }).catch(() => undefined);
  }

  /**
   * Lands the batch's messages that follow the last one handled (landing-log entries first, then one
   * publish), then acknowledges the last. Returns true when the delivery sequence had a gap: the messages
   * from the gap on were not handled.
   */
  private async deliverBatch(producer: Producer, batch: JsMsg[]): Promise<boolean> {
    const counters = this.ctx.counters;
    const landings: Landing[] = [];
    let gap = false;
    let handled: JsMsg | undefined;
    for (const message of batch) {
      const info = message.info;
      if (info.deliverySequence !== this.nextDelivery) {
        gap = true;
        break;
      }
      this.nextDelivery++;
      const streamSequence = info.streamSequence;
      if (streamSequence <= this.lastStreamSequence) {
        // Delivered again (its acknowledgement was late): handled already.
        counters.duplicates++;
        continue;
      }
      this.lastStreamSequence = streamSequence;
      handled = message;
      const source = readOrigin(message.headers);
      if (!this.admit(source, message.data.length, producer)) continue;
      landings.push({ data: message.data, streamSequence, source });
    }
    if (landings.length > 0) await this.land(producer, landings);
    if (handled !== undefined) {
      // Ack-all: one acknowledgement for the batch. (The ring and its landing log, not this, decide where
      // a restarted bridge resumes; the ack floor only matters for a ring created anew.)
      handled.ack();
      this.lastHandled = handled;
      counters.acked = counters.forwarded;
    }
    return gap;
  }

  private async land(producer: Producer, landings: Landing[]): Promise<void> {
    const counters = this.ctx.counters;
    const log = this.log as LandingLog;
    const first = producer.nextSequence;
    for (let i = 0; i < landings.length; i++) log.record(first + i, landings[i]!.streamSequence, landings[i]!.source);
    counters.pending = landings.length;
    // A full ring holds NATS back (the server delivers at most max ack pending meanwhile). The sequences
    // stay those the log recorded: this bridge is the ring's only producer.
    await sendAll(producer, landings.map((l) => l.data));
    counters.pending = 0;
    counters.forwarded += landings.length;
  }

  /**
   * Core NATS: the messages of one socket read are written with one publish (one wake of the ring's
   * readers), as with JetStream; what arrives while the ring is full waits in the client.
   */
  private async runCore(producer: Producer): Promise<void> {
    const { ctx, options } = this;
    let queue: Msg[] = [];
    let ended = false;
    const subscription = ctx.nc.subscribe(options.subject, {
      callback: (error, message) => {
        if (error) ended = true;
        else queue.push(message);
        this.wakeRunner?.();
      },
    });
    this.stopIterator = () => subscription.unsubscribe();
    if (ctx.signal.aborted || this.stopped) subscription.unsubscribe();
    void subscription.closed.then(() => {
      ended = true;
      this.wakeRunner?.();
    });
    for (;;) {
      if (queue.length === 0) {
        if (ended || this.stopped) break;
        await new Promise<void>((resolve) => (this.wakeRunner = resolve));
        this.wakeRunner = undefined;
        continue;
      }
      const batch = queue;
      queue = [];
      await this.deliverCore(producer, batch);
    }
  }

  /**
   * Whether a message goes into the ring: not when its source message was written already (the stream
   * holds it twice, published again after the de-duplication window, or core NATS delivered it twice),
   * nor when it can never fit the ring (counted lost: a bigger --ring-capacity fits it). Counts the
   * source messages missed before it.
   */
  private admit(source: ReturnType<typeof readOrigin>, length: number, producer: Producer): boolean {
    const counters = this.ctx.counters;
    if (source !== undefined) {
      const last = this.lastWritten.get(source.ringId);
      if (last !== undefined && source.sequence <= last) {
        counters.duplicates++;
        return false;
      }
      if (last !== undefined && source.sequence > last + 1) counters.lost += source.sequence - last - 1;
      this.lastWritten.set(source.ringId, source.sequence);
      counters.lastSequence = source.sequence;
    }
    if (length > producer.maxMessageLength) {
      counters.lost++;
      return false;
    }
    return true;
  }

  private async deliverCore(producer: Producer, batch: Msg[]): Promise<void> {
    const counters = this.ctx.counters;
    const list: Uint8Array[] = [];
    for (const message of batch) {
      if (!this.admit(readOrigin(message.headers), message.data.length, producer)) continue;
      list.push(message.data);
    }
    counters.pending = list.length;
    await sendAll(producer, list); // a full ring: core NATS buffers in the client meanwhile
    counters.pending = 0;
    counters.forwarded += list.length;
  }

}

/** Writes every payload into the ring, in order, in batches, waiting for space when the ring is full. */
async function sendAll(producer: Producer, list: Uint8Array[]): Promise<void> {
  let sent = producer.sendBytesBatch(list);
  while (sent < list.length) {
    await producer.sendBytesAsync(list[sent]!);
    sent++;
    if (sent < list.length) sent += producer.sendBytesBatch(list.slice(sent));
  }
}
