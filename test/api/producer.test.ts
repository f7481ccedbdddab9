/**
 * The producer's Node API: send() reports a full ring and 'drain' follows, sendAsync() waits for space
 * (with a signal and a timeout), claim()/commit(), close() and disposal. The consumer holding the ring
 * full is a real tethered consumer in another process.
 */
import { Consumer, Producer, ShmRingError } from '../../src';
import { Child, runFixture, within } from '../support/children';
import { segmentExists } from '../support/names';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

/** A producer on a 4 KiB ring, filled up by a tethered consumer in a child that reads nothing until told. */
async function fullRing(tag: string): Promise<{ name: string; producer: Producer; holder: Child; sent: number }> {
  const name = ringName(tag);
  const producer = track(Producer.create(name, { capacity: 4096 }));
  const holder = runFixture('api-child.js', [JSON.stringify({ mode: 'hold', name })]);
  await holder.waitForLine((m) => m.ready || m.error);
  let sent = 0;
  while (producer.send({ i: sent })) {
    sent++;
    if (sent > 10000) throw new Error('the ring never filled: is the consumer tethered?');
  }
  return { name, producer, holder, sent };
}

describe('send() and drain', () => {
  it("returns false while a tethered consumer holds the ring full, and 'drain' follows once it reads", async () => {
    const { producer, holder, sent } = await fullRing('drain');
    expect(sent).toBeGreaterThan(10);
    expect(producer.send({ i: sent })).toBe(false);
    expect(producer.stats.producerStalls).toBeGreaterThan(0);
    const drained = new Promise<void>((resolve) => producer.once('drain', resolve));
    holder.process.kill('SIGUSR1');
    await within(drained, 10000, "'drain'");
    expect(producer.send({ i: sent })).toBe(true);
    producer.close();
    const done = await holder.waitForLine((m) => m.done || m.error);
    expect(done).toEqual({ done: true, count: sent + 1, ordered: true });
  });

  it('sends to untethered consumers without ever reporting full', () => {
    const name = ringName('untethered');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name, { tethered: false }));
    for (let i = 0; i < 2000; i++) expect(producer.send({ i })).toBe(true);
    // Lapped many times over: it resumes at the oldest message still in the ring.
    expect((consumer.tryReceive() as { i: number }).i).toBeGreaterThan(1000);
  });
});

describe('sendAsync()', () => {
  it('waits for space and resolves once the consumer reads', async () => {
    const { producer, holder, sent } = await fullRing('send-async');
    let settled = false;
    const pending = producer.sendAsync({ i: sent }).finally(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false);
    holder.process.kill('SIGUSR1');
    await within(pending, 10000, 'sendAsync');
    producer.close();
    const done = await holder.waitForLine((m) => m.done || m.error);
    expect(done).toEqual({ done: true, count: sent + 1, ordered: true });
  });

  it('rejects with an AbortError when its signal aborts, and sends nothing', async () => {
    const { producer, holder, sent } = await fullRing('send-abort');
    const controller = new AbortController();
    const pending = producer.sendAsync({ i: 'aborted' }, { signal: controller.signal });
    const reason = new Error('stop');
    setTimeout(() => controller.abort(reason), 30);
    await expect(within(pending, 5000, 'sendAsync')).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason, segment: producer.name });
    holder.process.kill('SIGUSR1');
    producer.close();
    const done = await holder.waitForLine((m) => m.done || m.error);
    expect(done).toEqual({ done: true, count: sent, ordered: true });
  });

  it('rejects with code TIMEOUT when no space comes in time', async () => {
    const { producer } = await fullRing('send-timeout');
    await expect(within(producer.sendAsync('late', { timeout: 50 }), 5000, 'sendAsync')).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('resolves at once when there is space', async () => {
    const name = ringName('send-async-free');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    await producer.sendAsync({ hello: 'world' });
    await producer.sendBytesAsync(new Uint8Array([1, 2, 3]));
    expect(consumer.tryReceive()).toEqual({ hello: 'world' });
    expect(consumer.tryReceive()).toEqual(new Uint8Array([1, 2, 3]));
  });
});

describe('sendSync()', () => {
  it('blocks until the consumer makes room, or returns false after its timeout', async () => {
    const { producer } = await fullRing('send-sync');
    expect(producer.sendSync('late', 30)).toBe(false);
  });
});

describe('claim()', () => {
  it('hands out a Float32Array view inside the ring; commit() publishes it, abort() drops it', () => {
    const name = ringName('claim');
    const producer = track(Producer.create(name, { capacity: 65536 }));
    const consumer = track(Consumer.open(name));
    const claim = producer.claim(1024 * 4)!;
    expect(claim).toBeDefined();
    const samples = claim.float32;
    expect(samples).toHaveLength(1024);
    for (let i = 0; i < samples.length; i++) samples[i] = Math.sin(i / 10);
    claim.commit();
    const dropped = producer.claim(16)!;
    dropped.abort();
    expect(() => dropped.commit()).toThrow(/already committed or aborted/);
    const bytes = consumer.tryReceiveBytes()!;
    const received = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    expect(received[10]).toBeCloseTo(Math.sin(1), 6);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
  });
});

describe('close() and disposal', () => {
  it('close() is idempotent, unlinks the segment, and later sends throw CLOSED', () => {
    const name = ringName('close');
    const producer = Producer.create(name, { capacity: 4096 });
    let closes = 0;
    producer.on('close', () => closes++);
    producer.close();
    producer.close();
    expect(closes).toBe(1);
    expect(producer.isClosed).toBe(true);
    expect(segmentExists(name)).toBe(false);
    let error: unknown;
    try {
      producer.send(1);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ShmRingError);
    expect((error as ShmRingError).code).toBe('CLOSED');
  });

  it('close() while sendAsync() waits for space rejects it rather than leaving it pending', async () => {
    const { producer } = await fullRing('close-pending');
    const pending = producer.sendAsync('never');
    setTimeout(() => producer.close(), 20);
    await expect(within(pending, 5000, 'sendAsync')).rejects.toBeInstanceOf(ShmRingError);
  });

  // BUG (src/api/producer.ts): the pending wait is rejected by the AsyncWaiter's own close() ('ABORTED', "the
  // wait was aborted", no segment name) rather than with CLOSED. Passes once fixed; then make it an it().
  it('close() while sendAsync() waits for space rejects it with code CLOSED', async () => {
    const { producer } = await fullRing('close-pending-code');
    const pending = producer.sendAsync('never');
    setTimeout(() => producer.close(), 20);
    await expect(within(pending, 5000, 'sendAsync')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('Symbol.dispose and Symbol.asyncDispose close the producer', async () => {
    const first = Producer.create(ringName('dispose'), { capacity: 4096 });
    first[Symbol.dispose]();
    expect(first.isClosed).toBe(true);
    const second = Producer.create(ringName('async-dispose'), { capacity: 4096 });
    await second[Symbol.asyncDispose]();
    expect(second.isClosed).toBe(true);
    const name = ringName('using');
    {
      using third = Producer.create(name, { capacity: 4096 });
      expect(segmentExists(name)).toBe(true);
      expect(third.isClosed).toBe(false);
    }
    expect(segmentExists(name)).toBe(false);
  });
});
