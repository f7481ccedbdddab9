/**
 * The consumer's Node API across real processes: for await, the 'message' event form, receive() with a
 * signal and a timeout, receiveSync(), close() and disposal.
 */
import { Consumer, Producer, ShmRingError } from '../../src';
import { runFixture, within } from '../support/children';
import { trackRings } from '../support/teardown';
import { untilAsleep, waitUntil } from '../support/waits';

const { ringName, track } = trackRings();

/** Sends { i } for i in 0..count-1, waiting for space when tethered consumers hold the ring full. */
async function sendSequence(producer: Producer, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (!producer.send({ i })) await producer.sendAsync({ i }, { timeout: 10000 });
  }
}

function child(mode: string, name: string, extra: object = {}) {
  return runFixture('api-child.js', [JSON.stringify({ mode, name, ...extra })]);
}

describe('for await', () => {
  it('a consumer in another process receives every message in order, then ends when the producer closes', async () => {
    const name = ringName('iterate');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const reader = child('iterate', name);
    await reader.waitForLine((m) => m.ready || m.error);
    await sendSequence(producer, 3000); // ~60 laps of a 4 KiB ring
    producer.close();
    const done = await reader.waitForLine((m) => m.done || m.error);
    expect(done).toEqual({ done: true, count: 3000, ordered: true, ended: true, lost: 0 });
    expect((await within(reader.exited, 10000, 'child exit')).code).toBe(0);
  });

  it('reads what was sent before close() even when the consumer only starts reading afterwards', async () => {
    const name = ringName('before-close');
    const producer = track(Producer.create(name, { capacity: 65536 }));
    const consumer = track(Consumer.open(name));
    for (let i = 0; i < 100; i++) expect(producer.send({ i })).toBe(true);
    producer.close();
    const values: unknown[] = [];
    for await (const value of consumer) values.push(value);
    expect(values).toEqual(Array.from({ length: 100 }, (_, i) => ({ i })));
    expect(consumer.ended).toBe(true);
  });
});

describe("the 'message' event form", () => {
  it('delivers every message across processes, then emits end', async () => {
    const name = ringName('events');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const reader = child('events', name);
    await reader.waitForLine((m) => m.ready || m.error);
    await sendSequence(producer, 3000);
    producer.close();
    const done = await reader.waitForLine((m) => m.done || m.error);
    expect(done).toMatchObject({ done: true, count: 3000, ordered: true });
    expect((await within(reader.exited, 10000, 'child exit')).code).toBe(0);
  });

  it('delivers everything waiting in the ring per wakeup (batches of up to maxBatch), not one per turn', async () => {
    const name = ringName('batches');
    const producer = track(Producer.create(name, { capacity: 1 << 20 }));
    const reader = child('events', name, { goFirst: true, options: { maxBatch: 1000 } });
    await reader.waitForLine((m) => m.ready || m.error);
    for (let i = 0; i < 3000; i++) expect(producer.send({ i })).toBe(true);
    reader.process.kill('SIGUSR1');
    producer.close();
    const done = await reader.waitForLine((m) => m.done || m.error);
    expect(done).toMatchObject({ done: true, count: 3000, ordered: true });
    // 3000 waiting messages in batches of 1000 (+ the end): a handful of synchronous runs.
    expect(done.batches).toBeLessThanOrEqual(5);
  });

  it('pause() stops the flow with messages left in the ring, resume() delivers them', async () => {
    const name = ringName('pause');
    const producer = track(Producer.create(name, { capacity: 65536 }));
    const consumer = track(Consumer.open(name));
    const got: unknown[] = [];
    consumer.on('message', (value) => {
      got.push(value);
      if (got.length === 5) consumer.pause();
    });
    for (let i = 0; i < 20; i++) producer.send({ i });
    await waitUntil(() => got.length >= 5, 'five messages delivered');
    // Paused: the sixth message is still in the ring, not delivered (tryReceive takes it from there).
    expect(got).toHaveLength(5);
    expect(consumer.tryReceive()).toEqual({ i: 5 });
    expect(got).toHaveLength(5);
    const ended = new Promise((resolve) => consumer.once('end', resolve));
    consumer.resume();
    producer.close();
    await within(ended, 5000, "'end'");
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => ({ i })).filter(({ i }) => i !== 5));
  });
});

describe('receive()', () => {
  it('rejects with TIMEOUT when the timeout passes with nothing sent (as sendAsync does)', async () => {
    const name = ringName('timeout');
    track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    await expect(within(consumer.receive({ timeout: 50 }), 5000, 'receive')).rejects.toMatchObject({ name: 'ShmRingError', code: 'TIMEOUT', segment: name });
    // The consumer is still usable after a timed-out receive.
    expect(consumer.tryReceive()).toBeUndefined();
  });

  it('resolves with a message sent while it waits', async () => {
    const name = ringName('receive');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    const pending = consumer.receive({ timeout: 15000 });
    await untilAsleep(name);
    producer.send('hello');
    await expect(within(pending, 16000, 'receive')).resolves.toBe('hello');
  });

  it('rejects with an AbortError (code ABORT_ERR, cause: the reason) when the signal aborts while it waits', async () => {
    const name = ringName('abort');
    track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    const controller = new AbortController();
    const pending = consumer.receive({ signal: controller.signal });
    const reason = new Error('stop');
    await untilAsleep(name);
    controller.abort(reason);
    await expect(within(pending, 5000, 'receive')).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    // The consumer is still usable after an aborted receive.
    expect(consumer.tryReceive()).toBeUndefined();
  });

  it('rejects with an AbortError when the signal was aborted before the call', async () => {
    const name = ringName('preabort');
    track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    await expect(consumer.receive({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  // BUG (src/ring/reader.ts): an untethered reader has no expected sequence until its first delivery, so
  // the messages it missed when lapped before its first read are not counted (lost stays 0). Passes once
  // fixed; then turn it into a plain it().
  it('an untethered consumer lapped before its first read counts exactly what it missed', () => {
    const name = ringName('lapped-first');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name, { tethered: false }));
    for (let i = 0; i < 2000; i++) producer.send({ i });
    const first = consumer.tryReceive() as { i: number };
    expect(consumer.lost).toBe(first.i);
  });

  it('resolves undefined at the end of stream', async () => {
    const name = ringName('receive-end');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    producer.send(1);
    producer.close();
    await expect(consumer.receive({ timeout: 5000 })).resolves.toBe(1);
    await expect(consumer.receive({ timeout: 5000 })).resolves.toBeUndefined();
    expect(consumer.ended).toBe(true);
  });

  it('rejects a bad timeout before waiting', async () => {
    const name = ringName('bad-timeout');
    track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    await expect(consumer.receive({ timeout: -1 })).rejects.toBeInstanceOf(RangeError);
  });
});

describe('receiveSync()', () => {
  it('blocks in a child process until each message arrives, then returns undefined at the end', async () => {
    const name = ringName('sync');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const reader = child('sync', name);
    await reader.waitForLine((m) => m.ready || m.error);
    await sendSequence(producer, 1000);
    producer.close();
    const done = await reader.waitForLine((m) => m.done || m.error);
    expect(done).toEqual({ done: true, count: 1000, ordered: true, ended: true });
  });

  it('returns undefined after the timeout when nothing is sent', () => {
    const name = ringName('sync-timeout');
    track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    expect(consumer.receiveSync(20)).toBeUndefined();
    expect(consumer.ended).toBe(false);
  });
});

describe('close() and disposal', () => {
  it('close() is idempotent and later reads throw CLOSED', () => {
    const name = ringName('close');
    track(Producer.create(name, { capacity: 4096 }));
    const consumer = Consumer.open(name);
    let closes = 0;
    consumer.on('close', () => closes++);
    consumer.close();
    consumer.close();
    expect(closes).toBe(1);
    expect(consumer.isClosed).toBe(true);
    expect(() => consumer.tryReceive()).toThrow(ShmRingError);
    try {
      consumer.tryReceive();
    } catch (error) {
      expect((error as ShmRingError).code).toBe('CLOSED');
    }
  });

  it('close() ends a pending for await and a pending receive()', async () => {
    const name = ringName('close-pending');
    track(Producer.create(name, { capacity: 4096 }));
    const consumer = Consumer.open(name);
    const iterated = (async () => {
      let count = 0;
      for await (const _ of consumer) count++;
      return count;
    })();
    const received = consumer.receive();
    await untilAsleep(name);
    consumer.close();
    await expect(within(iterated, 5000, 'for await')).resolves.toBe(0);
    await expect(within(received, 5000, 'receive')).resolves.toBeUndefined();
  });

  it('Symbol.dispose and Symbol.asyncDispose close the consumer', async () => {
    const name = ringName('dispose');
    track(Producer.create(name, { capacity: 4096 }));
    const first = Consumer.open(name);
    first[Symbol.dispose]();
    expect(first.isClosed).toBe(true);
    const second = Consumer.open(name);
    await second[Symbol.asyncDispose]();
    expect(second.isClosed).toBe(true);
    let leftBlock: Consumer | undefined;
    {
      using third = Consumer.open(name);
      expect(third.isClosed).toBe(false);
      leftBlock = third;
    }
    // Leaving the block disposed of it.
    expect(leftBlock.isClosed).toBe(true);
  });
});
