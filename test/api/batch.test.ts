/**
 * The batch paths (issue 14): Producer#sendBatch / sendBytesBatch publish many records with one store of
 * the tail and at most one wake; Consumer#poll hands a run of messages to a handler without allocating.
 * Across processes, including a producer killed while a batch is half written.
 */
import { Consumer, Producer } from '../../src';
import { runFixture, within } from '../support/children';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

const counter = (value: number): Uint8Array => {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, value, true);
  return bytes;
};
const counterAt = (bytes: Uint8Array, offset: number): number => new DataView(bytes.buffer, bytes.byteOffset + offset, 8).getFloat64(0, true);

describe('Consumer#poll', () => {
  it.each([true, false])('hands every message, in order, with its sequence, as a view it does not allocate (tethered: %p)', (tethered) => {
    const name = ringName(`poll-${tethered}`);
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name, { tethered }));
    const seen: number[] = [];
    const sequences: number[] = [];
    const sources = new Set<Uint8Array>();
    let total = 0;
    for (let round = 0; round < 50; round++) {
      expect(producer.sendBytesBatch([counter(round * 3), counter(round * 3 + 1), counter(round * 3 + 2)])).toBe(3);
      producer.send({ ignored: round }); // MessagePack messages are handed over raw too
      total += consumer.poll((bytes, offset, length, sequence) => {
        sources.add(bytes);
        sequences.push(sequence);
        if (length === 8) seen.push(counterAt(bytes, offset));
      });
    }
    expect(total).toBe(200);
    expect(seen).toEqual(Array.from({ length: 150 }, (_, i) => i));
    expect(sequences).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // One buffer for all: the ring itself (tethered) or the consumer's copy buffer (untethered).
    expect(sources.size).toBe(1);
    expect(consumer.poll(() => {})).toBe(0);
  });

  it('stops at limit, then at the end of stream; a failure after delivered messages is thrown by the next call', () => {
    const name = ringName('poll-end');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    producer.sendBytesBatch([counter(1), counter(2), counter(3)]);
    expect(consumer.poll(() => {}, 2)).toBe(2);
    producer.abort(new Error('gone'));
    expect(consumer.poll(() => {})).toBe(1);
    expect(() => consumer.poll(() => {})).toThrow(expect.objectContaining({ code: 'PRODUCER_ABORTED' }));
    expect(() => consumer.poll(undefined as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('Producer#sendBatch / sendBytesBatch', () => {
  it('returns how many fit when tethered consumers hold the ring full, and the rest follows after drain', async () => {
    const name = ringName('batch-full');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    const values = Array.from({ length: 200 }, (_, i) => ({ i, pad: 'x'.repeat(40) }));
    const received: unknown[] = [];
    let sent = 0;
    let rounds = 0;
    while (sent < values.length) {
      const now = producer.sendBatch(values.slice(sent));
      expect(now).toBeGreaterThan(0);
      sent += now;
      rounds++;
      if (sent === values.length) break;
      expect(now).toBeLessThan(values.length);
      const drained = new Promise((resolve) => producer.once('drain', resolve));
      consumer.drain((value) => received.push(value));
      await within(drained, 5000, 'drain');
    }
    consumer.drain((value) => received.push(value));
    expect(rounds).toBeGreaterThan(1);
    expect(received).toEqual(values);
  });

  it('wakes a sleeping consumer in another process once per batch, not once per message', async () => {
    const name = ringName('batch-wake');
    const producer = track(Producer.create(name, { capacity: 1 << 16 }));
    const sleeper = runFixture('ring-correctness-child.js', ['sleeper', JSON.stringify({ name, count: 1000 })]);
    await sleeper.waitForLine((m) => m.ready);
    const before = producer.stats.wakesSent;
    for (let batch = 0; batch < 10; batch++) {
      expect(producer.sendBytesBatch(Array.from({ length: 100 }, (_, i) => counter(batch * 100 + i)))).toBe(100);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await sleeper.waitForLine((m) => m.received === 1000, 15000);
    expect(producer.stats.wakesSent - before).toBeLessThanOrEqual(10);
    expect(producer.stats.messagesSent).toBe(1000);
  });

  it('a producer killed while batches are half written: every published message arrives once, in order, and a restarted producer carries on with exact counters', async () => {
    const name = ringName('batch-kill');
    const child = runFixture('ring-correctness-child.js', ['batchLoop', JSON.stringify({ name, batch: 64, capacity: 65536 })]);
    await child.waitForLine((m) => m.ready);
    const consumer = track(Consumer.open(name, { from: 'oldest' }));
    const got: number[] = [];
    const take = () => consumer.poll((bytes, offset) => got.push(counterAt(bytes, offset)));
    const deadline = Date.now() + 10000;
    while (got.length < 50_000 && Date.now() < deadline) {
      take();
      await new Promise((resolve) => setImmediate(resolve));
    }
    child.process.kill('SIGKILL');
    await within(child.exited, 10000, 'producer exit');
    const restarted = track(Producer.create(name, { capacity: 65536 }));
    expect(restarted.tookOver).toBe(true);
    while (take() > 0);
    // Exactly what was published: contiguous from 0, and the counters agree with it.
    expect(got.length).toBeGreaterThan(1000);
    expect(got.findIndex((value, i) => value !== i)).toBe(-1);
    expect(restarted.stats.messagesSent).toBe(got.length);
    restarted.sendBytes(counter(got.length));
    take();
    expect(got[got.length - 1]).toBe(got.length - 1);
  });
});
