/**
 * Starting and ending a pair of processes in any order: Producer#waitForConsumers, Consumer.connect (an
 * async open that never blocks the event loop), and what consumers see when a producer's process ends
 * without close(): a normal exit closes it, a kill does not.
 */
import * as fs from 'fs';
import { AbortError, Consumer, Producer, ShmRingError } from '../../src';
import { runFixture, within } from '../support/children';
import { segmentExists } from '../support/names';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

function child(mode: string, name: string, extra: object = {}) {
  return runFixture('lifecycle-child.js', [JSON.stringify({ mode, name, ...extra })]);
}

async function reportOf(run: ReturnType<typeof child>, predicate: (m: any) => boolean): Promise<any> {
  try {
    return await run.waitForLine((m) => predicate(m) || m.error !== undefined, 20000);
  } catch (error) {
    const { stdout, stderr } = await within(run.exited, 5000, 'child exit').catch(() => ({ stdout: '?', stderr: '?' }));
    throw new Error(`${(error as Error).message}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  }
}

describe('Producer#waitForConsumers', () => {
  it('resolves once a consumer in another process has joined, and every message sent then reaches it (5 runs)', async () => {
    for (let run = 0; run < 5; run++) {
      const name = ringName(`wait-${run}`);
      const producer = track(Producer.create(name, { capacity: 4096 }));
      const consumer = child('consume', name);
      await expect(within(producer.waitForConsumers(1, { timeout: 20000 }), 25000, 'waitForConsumers')).resolves.toBe(1);
      producer.send({ run });
      producer.close();
      expect(await reportOf(consumer, (m) => m.done)).toEqual({ done: true, values: [{ run }] });
    }
  });

  it('resolves at once when enough consumers are there, and counts only joined ones', async () => {
    const name = ringName('wait-now');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    track(Consumer.open(name));
    track(Consumer.open(name, { tethered: false }));
    await expect(producer.waitForConsumers(2)).resolves.toBe(2);
    await expect(producer.waitForConsumers(0)).resolves.toBe(2);
  });

  it('rejects with TIMEOUT, with an AbortError carrying the reason, and with CLOSED', async () => {
    const name = ringName('wait-fail');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    await expect(producer.waitForConsumers(1, { timeout: 30 })).rejects.toMatchObject({ name: 'ShmRingError', code: 'TIMEOUT', segment: name });
    const controller = new AbortController();
    const aborted = producer.waitForConsumers(1, { signal: controller.signal });
    const reason = new Error('stop');
    controller.abort(reason);
    const error = await aborted.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    const closing = producer.waitForConsumers(1);
    producer.close();
    await expect(within(closing, 5000, 'waitForConsumers')).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(producer.waitForConsumers(1)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('rejects bad arguments with Node codes', async () => {
    const producer = track(Producer.create(ringName('wait-args'), { capacity: 4096, maxConsumers: 4 }));
    await expect(producer.waitForConsumers(5)).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    await expect(producer.waitForConsumers('1' as never)).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    await expect(producer.waitForConsumers(1, { timout: 5 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});

describe('Consumer.connect', () => {
  it('waits for a ring that a timer of the same process creates: the event loop keeps running meanwhile', async () => {
    const name = ringName('connect');
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    let producer: Producer | undefined;
    const timer = setTimeout(() => {
      producer = track(Producer.create(name, { capacity: 4096 }));
    }, 50);
    try {
      const consumer = track(await within(Consumer.connect(name, { timeout: 20000 }), 25000, 'connect'));
      expect(producer).toBeDefined();
      expect(ticks).toBeGreaterThan(0);
      producer!.send({ after: 'join' });
      expect(consumer.tryReceive()).toEqual({ after: 'join' });
    } finally {
      clearInterval(ticker);
      clearTimeout(timer);
    }
  });

  it('passes the consumer options on', async () => {
    const name = ringName('connect-options');
    track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(await Consumer.connect(name, { tethered: false, timeout: 1000 }));
    expect(consumer.tethered).toBe(false);
  });

  it('rejects with TIMEOUT, and with an AbortError (also when aborted before the call)', async () => {
    const name = ringName('connect-missing');
    await expect(Consumer.connect(name, { timeout: 30 })).rejects.toMatchObject({ name: 'ShmRingError', code: 'TIMEOUT', segment: name });
    const controller = new AbortController();
    const pending = Consumer.connect(name, { signal: controller.signal });
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    await expect(Consumer.connect(name, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
  });

  it('rejects at once for a failure other than a missing ring (a name that is not a ring)', async () => {
    const name = ringName('connect-foreign');
    fs.writeFileSync(`/dev/shm${name}`, Buffer.alloc(8192, 0x41), { mode: 0o600 });
    const error = await within(Consumer.connect(name, { timeout: 20000 }), 10000, 'connect').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShmRingError);
    expect((error as ShmRingError).code).toBe('NOT_A_RING');
  });

  it('rejects argument errors instead of throwing them, with Node codes', async () => {
    const bad = Consumer.connect('no-slash', { timeout: 10 });
    await expect(bad).rejects.toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    await expect(Consumer.connect(ringName('x'), { openTimeout: 10 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(Consumer.connect(ringName('x'), { timeout: -1 })).rejects.toBeInstanceOf(RangeError);
  });
});

describe('a producer process that ends without close()', () => {
  async function joined(name: string): Promise<{ consumer: Consumer; values: Promise<unknown[]> }> {
    const consumer = track(await within(Consumer.connect(name, { timeout: 20000 }), 25000, 'connect'));
    const values = (async () => {
      const seen: unknown[] = [];
      for await (const value of consumer) seen.push(value);
      return seen;
    })();
    return { consumer, values };
  }

  it.each(['natural', 'process-exit'])('exiting normally (%s) closes the producer: consumers end cleanly, the segment is unlinked', async (exit) => {
    const name = ringName(`exit-${exit}`);
    const producer = child('produce', name, { exit });
    const { values } = await joined(name);
    await expect(within(values, 20000, 'the end of stream')).resolves.toEqual([{ hello: 'world' }]);
    const { code, stderr } = await within(producer.exited, 10000, 'producer exit');
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(segmentExists(name)).toBe(false);
  });

  it('with closeOnExit: false, consumers get PRODUCER_DIED and the segment stays', async () => {
    const name = ringName('exit-no-close');
    const producer = child('produce', name, { exit: 'natural', options: { closeOnExit: false } });
    const { values } = await joined(name);
    await expect(within(values, 20000, 'the failure')).rejects.toMatchObject({ code: 'PRODUCER_DIED' });
    expect((await within(producer.exited, 10000, 'producer exit')).code).toBe(0);
    expect(segmentExists(name)).toBe(true);
  });

  it('killed with SIGKILL: consumers read what it sent, then get PRODUCER_DIED', async () => {
    const name = ringName('exit-kill');
    const producer = child('produce', name, { exit: 'hang' });
    const { consumer, values } = await joined(name);
    await reportOf(producer, (m) => m.sent);
    producer.process.kill('SIGKILL');
    await expect(within(values, 20000, 'the failure')).rejects.toMatchObject({ code: 'PRODUCER_DIED' });
    expect(consumer.received).toBe(1);
    expect(segmentExists(name)).toBe(true);
  });
});
