/**
 * JetStream publishes with many in flight, each costing little more than its message: a plain publish
 * whose reply subject is `<inbox>.<id>`, one wildcard subscription that takes every acknowledgement, and
 * one timer that expires the oldest. (The client's `js.publish` makes a request per message, with its own
 * timer and error objects built for each: about half the sending bridge's CPU.) The acknowledgement is
 * JetStream's PubAck JSON, `{ "stream", "seq", "duplicate"? }` or `{ "error": { "code", "description" } }`;
 * a 503 status means no stream (or JetStream) answered.
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/nats-core/lib/core';
import type { NatsModule } from './client';

export type PublishResult = { ack: { seq: number; duplicate: boolean } } | { error: Error };

interface Pending {
  deadline: number;
  resolve: (result: PublishResult) => void;
}

const decoder = new TextDecoder();

export class AsyncPublisher {
  private readonly prefix: string;
  private readonly subscription: Subscription;
  /** By id; a Map keeps insertion order, so the oldest come first. */
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    nats: NatsModule,
    private readonly timeoutMs: number,
  ) {
    this.prefix = nats.createInbox();
    this.subscription = nc.subscribe(`${this.prefix}.*`, { callback: (error, msg) => (error ? undefined : this.onReply(msg)) });
    this.timer = setInterval(() => this.expire(), Math.max(20, Math.min(1000, Math.floor(timeoutMs / 4))));
    this.timer.unref();
  }

  /** Publishes (headers are encoded now: the caller may change them afterwards); never rejects. */
  publish(subject: string, data: Uint8Array, headers: MsgHdrs): Promise<PublishResult> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (this.closed) return resolve({ error: new Error('the publisher is closed') });
      this.pending.set(id, { deadline: Date.now() + this.timeoutMs, resolve });
      try {
        this.nc.publish(subject, data, { headers, reply: `${this.prefix}.${id}` });
      } catch (error) {
        this.pending.delete(id);
        resolve({ error: error as Error });
      }
    });
  }

  private onReply(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefix.length + 1));
    const pending = this.pending.get(id);
    if (pending === undefined) return; // expired meanwhile
    this.pending.delete(id);
    pending.resolve(parseAck(msg));
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, pending] of this.pending) {
      if (pending.deadline > now) break;
      this.pending.delete(id);
      pending.resolve({ error: new Error(`no acknowledgement within ${this.timeoutMs} ms`) });
    }
  }

  /** Fails whatever is still pending and stops listening. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    try {
      this.subscription.unsubscribe();
    } catch {
      // the connection is closed already
    }
    for (const pending of this.pending.values()) pending.resolve({ error: new Error('the publisher is closed') });
    this.pending.clear();
  }
}

function parseAck(msg: Msg): PublishResult {
  if (msg.data.length === 0) {
    const code = msg.headers?.code ?? 0;
    return { error: new Error(code === 503 ? 'no JetStream stream answered (503)' : `empty acknowledgement (status ${code})`) };
  }
  try {
    const reply = JSON.parse(decoder.decode(msg.data)) as { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; description?: string } };
    if (reply.error) return { error: new Error(`JetStream: ${reply.error.description ?? 'error'} (${reply.error.code ?? '?'})`) };
    if (typeof reply.stream !== 'string' || reply.stream === '' || typeof reply.seq !== 'number') return { error: new Error('invalid acknowledgement') };
    return { ack: { seq: reply.seq, duplicate: reply.duplicate === true } };
  } catch (error) {
    return { error: error as Error };
  }
}
