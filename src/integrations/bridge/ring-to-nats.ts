/**
 * ring → NATS: a consumer of a local ring publishes each message's bytes (as they are in the ring) to one
 * subject, in batches bounded by count, bytes and time.
 *
 * Core NATS: at most once. Messages missing from the ring's sequence (overwritten before we read them,
 * untethered) and publishes that fail are counted as lost.
 *
 * JetStream: at least once on the wire, exactly once into the stream. Every publish carries
 * `Nats-Msg-Id: <ringId>:<sequence>`, so a retry inside the stream's de-duplication window is stored
 * once. Publishes are pipelined: up to maxInFlight await their acknowledgement while the next batches
 * are read and published, and acknowledgements are taken in order; on a failure everything in flight is
 * let settle, then published again from the first unacknowledged message (in order), after the
 * connection is back. While we wait, our tethered slot holds the ring's producer back. A restarted bridge
 * reads the stream's last message on the subject, and continues after its sequence (from the oldest
 * message still in the ring; what was overwritten meanwhile is counted as lost).
 */
import type { MsgHdrs } from '@nats-io/nats-core/lib/core';
import { AsyncPublisher, PublishResult } from './async-publisher';
import { Consumer } from '../../api/consumer';
import { AbortError, ShmRingError } from '../../errors';
import { ensureStream, HEADER_EPOCH, HEADER_RING, HEADER_RING_ID, HEADER_SEQUENCE, Pump, PumpContext, RAW_CODEC, readOrigin } from './context';
import type { RingToNatsOptions } from './options';

/** JetStream's de-duplication header. */
const HEADER_MSG_ID = 'Nats-Msg-Id';

interface Outgoing {
  sequence: number;
  data: Uint8Array;
  /** The ring's producer epoch when the message was read. */
  epoch: number;
}

/** A publish awaiting its acknowledgement; `result` never rejects. */
interface InFlight extends Outgoing {
  result: Promise<PublishResult>;
}

export class RingToNats implements Pump {
  private consumer: Consumer | undefined;
  /** Sequences up to this one are already in the stream (resume after a restart). */
  private resumeAfter = -1;
  private lastRead = -1;
  private ringId = '';
  /** JetStream publishes awaiting their acknowledgement, oldest first. */
  private inFlight: InFlight[] = [];
  /** A message taken from the ring by hasData(), first in the next batch. */
  private peeked: { data: Uint8Array; sequence: number } | undefined;
  private headers: MsgHdrs | undefined;
  /** A batch read while the connection was down: published first once it is back. */
  private held: Outgoing[] | undefined;

  constructor(
    private readonly ctx: PumpContext,
    private readonly options: RingToNatsOptions,
  ) {}

  /** Opens the ring and, with JetStream, the stream and the resume point. Throws what cannot be retried. */
  async open(): Promise<void> {
    const { ctx, options } = this;
    this.consumer = await this.openRing();
    this.ringId = this.consumer.ringId;
    if (options.jetstream === undefined) return;
    const jsm = await ctx.js.jetstreamManager(ctx.nc);
    await ensureStream(jsm, options.jetstream, options.subject, options.streamSubject, true, ctx);
    const last = await jsm.streams.getMessage(options.jetstream, { last_by_subj: options.subject });
    const origin = readOrigin(last?.header);
    if (origin !== undefined && origin.ringId === this.ringId) {
      this.resumeAfter = origin.sequence;
      this.lastRead = origin.sequence;
      ctx.counters.lastSequence = origin.sequence;
    }
  }

  /**
   * Consumer.open, waiting up to openTimeout for the ring, also while its producer is still sizing it
   * (SEGMENT_TOO_SMALL, INIT_TIMEOUT: a ring caught in creation).
   */
  private async openRing(): Promise<Consumer> {
    const { options } = this;
    const deadline = Date.now() + options.openTimeout;
    for (;;) {
      try {
        return Consumer.open(options.ring, {
          tethered: options.tethered,
          // With JetStream, what the stream lacks may still be in the ring: start at the oldest, skip what is in.
          from: options.jetstream === undefined ? 'next' : 'oldest',
          codec: RAW_CODEC,
          openTimeout: Math.max(0, Math.min(100, deadline - Date.now())),
          // A producer that dies and is restarted takes the ring over: keep bridging it.
          waitForRestartMs: Infinity,
        });
      } catch (error) {
        const retry = error instanceof ShmRingError && ['SEGMENT_NOT_FOUND', 'SEGMENT_TOO_SMALL', 'INIT_TIMEOUT'].includes(error.code);
        if (!retry || Date.now() >= deadline || this.ctx.signal.aborted) throw error;
        await this.ctx.pause(10);
      }
    }
  }

  async run(): Promise<void> {
    const consumer = this.consumer;
    if (consumer === undefined) throw new Error('RingToNats.run before open');
    const { ctx, options } = this;
    const js = options.jetstream === undefined ? undefined : new AsyncPublisher(ctx.nc, ctx.nats, options.ackTimeoutMs);
    let previousFlush: Promise<void> | undefined;
    try {
      while (!ctx.signal.aborted) {
        // Disconnected: read nothing. A tethered slot then holds the producer back; an untethered one
        // is overwritten and the gap is counted when we read again.
        if (!ctx.isConnected()) {
          if (js !== undefined) await this.settle(js, 0);
          await ctx.whenConnected();
        }
        if (ctx.signal.aborted) break;
        // With JetStream: room in the pipeline for a whole batch; and nothing left unacknowledged before
        // a wait for the ring (so counters and the resume point are current while the ring is quiet).
        if (js !== undefined) {
          await this.settle(js, options.maxInFlight - options.maxBatch);
          if (this.inFlight.length > 0 && !this.hasData(consumer)) await this.settle(js, 0);
        }
        const batch = this.held ?? (await this.nextBatch(consumer));
        this.held = undefined;
        if (batch === undefined) break; // end of the ring's stream
        if (batch.length === 0) continue;
        if (!ctx.isConnected()) {
          // The connection broke while we read: publishing now could reach the server on the next
          // connection ahead of what was lost with this one. Hold the batch; publish it once what is in
          // flight has settled (or been published again, in order) on the new connection.
          this.held = batch;
          continue;
        }
        if (js === undefined) {
          this.publishCore(batch);
          // At most two batches unconfirmed by the server: bounds the client's buffer.
          const flush = ctx.nc.flush().catch(() => undefined);
          await previousFlush;
          previousFlush = flush;
        } else {
          this.publishPipelined(js, batch);
        }
      }
      await previousFlush;
      if (js !== undefined) await this.settle(js, 0);
    } finally {
      js?.close();
      consumer.close();
    }
  }

  /** Whether the ring has a message for us now (peeked: it is kept for the next batch). */
  private hasData(consumer: Consumer): boolean {
    if (this.peeked !== undefined) return true;
    const data = consumer.tryReceive() as Uint8Array | undefined;
    if (data === undefined) return false;
    this.peeked = { data, sequence: consumer.lastSequence };
    return true;
  }

  /** Publishes the batch without waiting: its acknowledgements are taken by settle(). */
  private publishPipelined(js: AsyncPublisher, batch: Outgoing[]): void {
    const counters = this.ctx.counters;
    for (const message of batch) {
      this.inFlight.push({ ...message, result: this.publishOne(js, message) });
      counters.forwarded++;
      counters.pending++;
    }
  }

  private publishOne(js: AsyncPublisher, message: Outgoing): InFlight['result'] {
    const { sequence, data, epoch } = message;
    const headers = this.headersFor(sequence, epoch);
    headers.set(HEADER_MSG_ID, `${this.ringId}:${sequence}`);
    return js.publish(this.options.subject, data, headers);
  }

  /**
   * Takes acknowledgements in order until at most `keep` publishes are in flight. On a failure, lets
   * everything in flight settle and publishes again from the first unacknowledged message, in order,
   * until all of them are acknowledged (or the bridge stops).
   */
  private async settle(js: AsyncPublisher, keep: number): Promise<void> {
    const counters = this.ctx.counters;
    while (this.inFlight.length > keep) {
      const first = this.inFlight[0]!;
      const result = await first.result;
      if ('ack' in result) {
        this.inFlight.shift();
        if (result.ack.duplicate) counters.duplicates++;
        counters.acked++;
        counters.pending--;
        counters.lastSequence = first.sequence;
        continue;
      }
      const rest = this.inFlight.splice(0);
      await Promise.all(rest.map((m) => m.result));
      await this.publishJetStream(js, rest);
      if (this.ctx.signal.aborted) return;
    }
  }

  /**
   * Up to maxBatch messages / maxBatchBytes read from the ring (copies), skipping those already in the
   * stream; [] when the wait was cut short; undefined at the end of the ring's stream.
   */
  private async nextBatch(consumer: Consumer): Promise<Outgoing[] | undefined> {
    const { ctx, options } = this;
    const batch: Outgoing[] = [];
    let bytes = 0;
    const take = (data: Uint8Array, sequence = consumer.lastSequence) => {
      if (sequence <= this.resumeAfter) return;
      // Sequences count every message of the ring: a gap is what was overwritten before we read it.
      if (this.lastRead >= 0 && sequence > this.lastRead + 1) ctx.counters.lost += sequence - this.lastRead - 1;
      this.lastRead = sequence;
      batch.push({ sequence, data, epoch: 0 });
      bytes += data.length;
    };
    if (this.peeked !== undefined) {
      const { data, sequence } = this.peeked;
      this.peeked = undefined;
      take(data, sequence);
    }
    const fill = () => {
      while (batch.length < options.maxBatch && bytes < options.maxBatchBytes) {
        const data = consumer.tryReceive() as Uint8Array | undefined;
        if (data === undefined) return;
        take(data);
      }
    };
    fill();
    if (batch.length === 0) {
      let first: Uint8Array | undefined;
      try {
        first = (await consumer.receive({ signal: ctx.signal, timeout: 1000 })) as Uint8Array | undefined;
      } catch (error) {
        // Nothing within the second (TIMEOUT), or the bridge is stopping (AbortError): look again.
        if ((error instanceof ShmRingError && error.code === 'TIMEOUT') || error instanceof AbortError) return [];
        throw error;
      }
      if (first === undefined) return consumer.ended ? undefined : [];
      take(first);
      fill();
    }
    if (options.lingerMs > 0 && batch.length < options.maxBatch && bytes < options.maxBatchBytes) {
      const deadline = Date.now() + options.lingerMs;
      while (batch.length < options.maxBatch && bytes < options.maxBatchBytes && Date.now() < deadline && !consumer.ended) {
        const next = (await consumer.receive({ timeout: Math.max(0, deadline - Date.now()) }).catch(() => undefined)) as Uint8Array | undefined;
        if (next === undefined) break;
        take(next);
        fill();
      }
    }
    // Read after the messages, once per batch: each was written by this epoch or an earlier one (see HEADER_EPOCH).
    const epoch = consumer.producerEpoch;
    for (const message of batch) message.epoch = epoch;
    return batch;
  }

  /** The headers of one message: one object, changed for each (publish encodes them at once). */
  private headersFor(sequence: number, epoch: number): MsgHdrs {
    let headers = this.headers;
    if (headers === undefined) {
      headers = this.ctx.nats.headers();
      headers.set(HEADER_RING, this.options.ring);
      headers.set(HEADER_RING_ID, this.ringId);
      this.headers = headers;
    }
    headers.set(HEADER_EPOCH, String(epoch));
    headers.set(HEADER_SEQUENCE, String(sequence));
    return headers;
  }

  private publishCore(batch: Outgoing[]): void {
    const { ctx, options } = this;
    for (const message of batch) {
      try {
        ctx.nc.publish(options.subject, message.data, { headers: this.headersFor(message.sequence, message.epoch) });
        ctx.counters.forwarded++;
        ctx.counters.lastSequence = message.sequence;
      } catch {
        // Closed or draining connection, or a full reconnect buffer: at most once means counted, not retried.
        ctx.counters.lost++;
      }
    }
  }

  /**
   * The recovery after a failed publish: publishes `batch` (whose first publish failed, and everything
   * after it) again, from its first unacknowledged message, in order, once the connection is back, until
   * JetStream has acknowledged every message of it. Those that did land the first time are dropped by
   * JetStream as duplicates (Nats-Msg-Id).
   */
  private async publishJetStream(js: AsyncPublisher, batch: Outgoing[]): Promise<void> {
    const { ctx, options } = this;
    const counters = ctx.counters;
    let from = 0;
    for (let attempt = 1; from < batch.length; attempt++) {
      counters.retries++;
      await ctx.pause(Math.min(options.reconnectMaxMs, options.reconnectMinMs * 2 ** Math.min(attempt - 1, 10)));
      if (!ctx.isConnected()) await ctx.whenConnected();
      // Stopping with messages unacknowledged: they are still in the ring (or counted), and a restarted
      // bridge resumes after the stream's last message.
      if (ctx.signal.aborted) return;
      const results = await Promise.all(batch.slice(from).map((message) => this.publishOne(js, message)));
      // Everything up to the first failure is in the stream; publish again from there, in order.
      let i = 0;
      for (; i < results.length; i++) {
        const result = results[i]!;
        if ('error' in result) break;
        if (result.ack.duplicate) counters.duplicates++;
        counters.acked++;
        counters.pending--;
        counters.lastSequence = batch[from + i]!.sequence;
      }
      from += i;
    }
  }
}
