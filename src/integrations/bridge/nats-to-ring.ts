/**
 * NATS → ring: a subscription feeds a local ring, the bridge being the ring's producer; payload bytes are
 * written as they arrive (`sendBytes`), in order.
 *
 * Core NATS: at most once; gaps in the sequence header of a source ring are counted as lost.
 * JetStream: a durable pull consumer with explicit acks; a message is acknowledged only once it is in
 * the ring, so a restarted bridge is redelivered only what was not. Redeliveries are skipped by the
 * (ringId, sequence) headers, so within one bridge process each message enters the ring once.
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/nats-core/lib/core';
import { Producer } from '../../api/producer';
import { apiErrorCode, bridgeFailed } from './client';
import { ensureStream, Pump, PumpContext, readOrigin } from './context';
import type { NatsToRingOptions } from './options';

const CONSUMER_NOT_FOUND = 10014;
/** Messages the server may have handed us unacknowledged: bounds redelivery after a crash. */
export const DEFAULT_BRIDGE_MAX_ACK_PENDING = 4096;

export class NatsToRing implements Pump {
  private producer: Producer | undefined;
  /** The last sequence written into the ring, per source ring. */
  private readonly lastWritten = new Map<string, number>();
  private stopIterator: (() => void) | undefined;

  constructor(
    private readonly ctx: PumpContext,
    private readonly options: NatsToRingOptions,
  ) {}

  async open(): Promise<void> {
    const { ctx, options } = this;
    if (options.jetstream !== undefined) {
      const jsm = await ctx.js.jetstreamManager(ctx.nc);
      await ensureStream(jsm, options.jetstream, options.subject, options.subject, false, ctx);
      await this.ensureConsumer(jsm);
    }
    this.producer = Producer.create(options.ring, options.ringCapacity === undefined ? {} : { capacity: options.ringCapacity });
  }

  /** Stops taking messages; run() then returns after the message in hand is in the ring. */
  stop(): void {
    this.stopIterator?.();
  }

  async run(): Promise<void> {
    const producer = this.producer;
    if (producer === undefined) throw new Error('NatsToRing.run before open');
    const { ctx, options } = this;
    try {
      if (options.jetstream === undefined) {
        const subscription = ctx.nc.subscribe(options.subject);
        this.stopIterator = () => subscription.unsubscribe();
        if (ctx.signal.aborted) subscription.unsubscribe();
        for await (const message of subscription) await this.deliver(producer, message, undefined);
      } else {
        const consumer = await ctx.js.jetstream(ctx.nc).consumers.get(options.jetstream, options.durable);
        const messages = await consumer.consume({ max_messages: 1024 });
        this.stopIterator = () => void messages.close();
        if (ctx.signal.aborted) void messages.close();
        for await (const message of messages) await this.deliver(producer, message, message);
      }
      // Acknowledgements are publishes: make sure the server has them before we go.
      await ctx.nc.flush().catch(() => undefined);
    } finally {
      producer.close();
    }
  }

  private async deliver(producer: Producer, message: Msg | JsMsg, ack: JsMsg | undefined): Promise<void> {
    const counters = this.ctx.counters;
    const origin = readOrigin(message.headers);
    if (origin !== undefined) {
      const last = this.lastWritten.get(origin.ringId);
      if (last !== undefined && origin.sequence <= last) {
        // A redelivery (acknowledgement lost with a connection): it is in the ring already.
        counters.duplicates++;
        ack?.ack();
        return;
      }
      if (last !== undefined && origin.sequence > last + 1) counters.lost += origin.sequence - last - 1;
    }
    counters.pending = 1;
    if (!producer.sendBytes(message.data)) {
      // The ring is full: hold NATS back (JetStream redelivers nothing meanwhile; core NATS buffers in the client).
      await producer.sendBytesAsync(message.data);
    }
    counters.pending = 0;
    counters.forwarded++;
    if (origin !== undefined) {
      this.lastWritten.set(origin.ringId, origin.sequence);
      counters.lastSequence = origin.sequence;
    }
    if (ack !== undefined) {
      ack.ack();
      counters.acked++;
    }
  }

  private async ensureConsumer(jsm: import('@nats-io/jetstream').JetStreamManager): Promise<void> {
    const { ctx, options } = this;
    const stream = options.jetstream as string;
    try {
      await jsm.consumers.info(stream, options.durable);
      return;
    } catch (error) {
      if (apiErrorCode(error) !== CONSUMER_NOT_FOUND) {
        throw bridgeFailed(`JetStream consumer ${options.durable} on ${stream}`, error, `Check it with \`nats consumer info ${stream} ${options.durable}\`.`);
      }
    }
    try {
      await jsm.consumers.add(stream, {
        durable_name: options.durable,
        ack_policy: ctx.js.AckPolicy.Explicit,
        deliver_policy: ctx.js.DeliverPolicy.All,
        filter_subject: options.subject,
        max_ack_pending: DEFAULT_BRIDGE_MAX_ACK_PENDING,
        ack_wait: ctx.nats.nanos(30_000),
      });
    } catch (error) {
      throw bridgeFailed(
        `creating JetStream consumer ${options.durable} on ${stream}`,
        error,
        'A consumer of that name with another configuration exists: pick another --durable, or delete it (`nats consumer rm`).',
      );
    }
  }
}
