/**
 * createReadStream/createWriteStream: stream.pipeline() across processes, backpressure mapped to the ring,
 * end and error propagation, and who closes what.
 */
import { pipeline, Readable, Writable } from 'stream';
import { promisify } from 'util';
import { createHash, randomBytes } from 'crypto';
import { Consumer, createReadStream, createWriteStream, Producer, ShmRingError } from '../../src';
import { runFixture, within } from '../support/children';
import { segmentExists } from '../support/names';
import { trackRings } from '../support/teardown';

const pipelineAsync = promisify(pipeline);
const { ringName, track } = trackRings();

function numbers(count: number): Readable {
  return Readable.from((function* () {
    for (let i = 0; i < count; i++) yield { i, pad: 'q'.repeat(40) };
  })());
}

describe('stream.pipeline across processes', () => {
  it('a Readable source piped into createWriteStream reaches a createReadStream pipeline in another process', async () => {
    const name = ringName('pipe-out');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const reader = runFixture('api-child.js', [JSON.stringify({ mode: 'streamRead', name })]);
    await reader.waitForLine((m) => m.ready || m.error);
    await within(pipelineAsync(numbers(3000), createWriteStream(producer)), 15000, 'pipeline');
    expect(producer.isClosed).toBe(true); // end() closed it: the reader's stream ends
    const done = await reader.waitForLine((m) => m.done || m.error);
    expect(done).toEqual({ done: true, count: 3000, ordered: true, bytes: 0, consumerClosed: true });
    expect(segmentExists(name)).toBe(false);
  });

  it('a producer process writing through createWriteStream reaches a createReadStream pipeline here', async () => {
    const name = ringName('pipe-in');
    const writer = runFixture('api-child.js', [JSON.stringify({ mode: 'streamWrite', name, count: 3000 })]);
    await writer.waitForLine((m) => m.ready || m.error);
    const consumer = track(Consumer.open(name));
    const seen: number[] = [];
    const sink = new Writable({
      objectMode: true,
      highWaterMark: 2,
      write(chunk: { i: number }, _encoding, callback) {
        seen.push(chunk.i);
        // A slow sink now and then: the ring fills and the producer process waits.
        if (chunk.i % 500 === 0) setTimeout(callback, 20);
        else callback();
      },
    });
    writer.process.kill('SIGUSR1');
    await within(pipelineAsync(createReadStream(consumer), sink), 15000, 'pipeline');
    expect(seen).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(consumer.isClosed).toBe(true);
    const done = await writer.waitForLine((m) => m.done || m.error);
    expect(done.closed).toBe(true);
    expect(done.stalls).toBeGreaterThan(0);
  });

  it('carries raw bytes with objectMode: false on both sides', async () => {
    const name = ringName('pipe-bytes');
    const writer = runFixture('api-child.js', [JSON.stringify({ mode: 'streamWrite', name, count: 500, objectMode: false })]);
    await writer.waitForLine((m) => m.ready || m.error);
    const consumer = track(Consumer.open(name));
    const chunks: Buffer[] = [];
    writer.process.kill('SIGUSR1');
    await within(
      pipelineAsync(createReadStream(consumer, { objectMode: false }), new Writable({
        write(chunk: Buffer, _encoding, callback) {
          chunks.push(chunk);
          callback();
        },
      })),
      15000,
      'pipeline',
    );
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(500 * 100);
    for (let i = 0; i < 500; i++) expect(all[i * 100 + 99]).toBe(i & 0xff);
  });
});

describe('createReadStream', () => {
  it('pulls from the ring only while the stream wants more (backpressure leaves messages in the ring)', async () => {
    const name = ringName('read-bp');
    const producer = track(Producer.create(name, { capacity: 65536 }));
    const consumer = track(Consumer.open(name));
    for (let i = 0; i < 200; i++) producer.send({ i });
    const stream = createReadStream(consumer, { highWaterMark: 4 });
    stream.on('readable', () => {}); // fills the buffer, reads nothing
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(consumer.received).toBeLessThanOrEqual(8);
    expect(stream.readableLength).toBeLessThanOrEqual(8);
    stream.removeAllListeners('readable');
    producer.close();
    const values: Array<{ i: number }> = [];
    for await (const value of stream) values.push(value as { i: number });
    expect(values.map((v) => v.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  });

  it('is destroyed with PRODUCER_DIED when the producer process is killed', async () => {
    const name = ringName('read-died');
    const producerChild = runFixture('api-child.js', [JSON.stringify({ mode: 'produceAndWait', name, count: 5 })]);
    await producerChild.waitForLine((m) => m.ready || m.error);
    const consumer = track(Consumer.open(name, { from: 'oldest' }));
    const stream = createReadStream(consumer);
    const values: unknown[] = [];
    stream.on('data', (value) => values.push(value));
    const failed = new Promise<Error>((resolve) => stream.on('error', resolve));
    await within(new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (values.length === 5) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    }), 5000, 'the 5 messages');
    producerChild.process.kill('SIGKILL');
    const error = await within(failed, 10000, 'stream error');
    expect(error).toBeInstanceOf(ShmRingError);
    expect((error as ShmRingError).code).toBe('PRODUCER_DIED');
    expect(values).toHaveLength(5);
    expect(consumer.isClosed).toBe(true);
  });

  it('destroy() closes the consumer, unless { close: false }', async () => {
    const name = ringName('read-destroy');
    track(Producer.create(name, { capacity: 4096 }));
    const closing = Consumer.open(name);
    const first = createReadStream(closing);
    first.resume();
    first.destroy();
    await within(new Promise((resolve) => first.on('close', resolve)), 5000, "'close'");
    expect(closing.isClosed).toBe(true);
    const keeping = track(Consumer.open(name));
    const second = createReadStream(keeping, { close: false });
    second.resume();
    second.destroy();
    await within(new Promise((resolve) => second.on('close', resolve)), 5000, "'close'");
    expect(keeping.isClosed).toBe(false);
    expect(keeping.tryReceive()).toBeUndefined();
  });

  it('skips null messages (object streams cannot carry null) and rejects unknown options', async () => {
    const name = ringName('read-null');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    expect(() => createReadStream(consumer, { objectmode: true } as never)).toThrow(TypeError);
    producer.send(1);
    producer.send(null);
    producer.send(2);
    producer.close();
    const values: unknown[] = [];
    for await (const value of createReadStream(consumer)) values.push(value);
    expect(values).toEqual([1, 2]);
  });
});

describe('createWriteStream', () => {
  it('write() returns false once chunks wait for space and the stream drains when the consumer reads', async () => {
    const name = ringName('write-bp');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const holder = runFixture('api-child.js', [JSON.stringify({ mode: 'hold', name })]);
    await holder.waitForLine((m) => m.ready || m.error);
    const stream = createWriteStream(producer, { highWaterMark: 8 });
    let i = 0;
    while (stream.write({ i })) i++;
    i++;
    expect(i).toBeLessThan(1000);
    // Give the stream time to try: the consumer holds the ring full, so the writes stay queued.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stream.writableNeedDrain).toBe(true);
    const drained = new Promise((resolve) => stream.once('drain', resolve));
    holder.process.kill('SIGUSR1');
    await within(drained, 10000, "'drain'");
    await within(new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve()))), 10000, 'end');
    const done = await holder.waitForLine((m) => m.done || m.error);
    expect(done).toEqual({ done: true, count: i, ordered: true });
  });

  it('end() closes the producer, unless { close: false }; objectMode: false sends bytes', async () => {
    const name = ringName('write-close');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    const keeping = createWriteStream(producer, { objectMode: false, close: false });
    await new Promise<void>((resolve) => keeping.end(Buffer.from('abc'), () => resolve()));
    expect(producer.isClosed).toBe(false);
    expect(consumer.tryReceive()).toEqual(new Uint8Array([0x61, 0x62, 0x63]));
    const closing = createWriteStream(producer);
    await new Promise<void>((resolve) => closing.end({ last: true }, () => resolve()));
    expect(producer.isClosed).toBe(true);
    expect(consumer.tryReceive()).toEqual({ last: true });
    expect(consumer.tryReceive()).toBeUndefined();
    expect(consumer.ended).toBe(true);
  });

  it('byte mode carries chunks of any size: a 3 MB chunk through a 64 KiB ring reaches a reader in another process byte for byte', async () => {
    const name = ringName('write-large');
    const producer = track(Producer.create(name, { capacity: 65536 }));
    const reader = runFixture('api-child.js', [JSON.stringify({ mode: 'streamRead', name, objectMode: false })]);
    await reader.waitForLine((m) => m.ready || m.error);
    const chunks = [randomBytes(3_000_000), Buffer.from('tail'), randomBytes(100_000)];
    const expected = createHash('sha256');
    for (const chunk of chunks) expected.update(chunk);
    await within(pipelineAsync(Readable.from(chunks), createWriteStream(producer, { objectMode: false })), 20000, 'pipeline');
    const done = await reader.waitForLine((m) => m.done || m.error, 20000);
    expect(done).toMatchObject({ done: true, bytes: 3_100_004, sha256: expected.digest('hex') });
  });

  it('a write stream destroyed with an error ends the ring with PRODUCER_ABORTED after everything written, never a clean end', async () => {
    const name = ringName('write-abort');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const reader = runFixture('api-child.js', [JSON.stringify({ mode: 'streamRead', name })]);
    await reader.waitForLine((m) => m.ready || m.error);
    const stream = createWriteStream(producer);
    for (let i = 0; i < 10; i++) stream.write({ i });
    await new Promise<void>((resolve) => stream.write({ i: 10 }, () => resolve()));
    stream.on('error', () => {});
    stream.destroy(Object.assign(new Error('the source failed'), { code: 'ESOURCE' }));
    const result = await reader.waitForLine((m) => m.done || m.error, 20000);
    expect(result).toMatchObject({ count: 11, ordered: true, error: { code: 'PRODUCER_ABORTED' } });
    expect(result.error.message).toContain('the source failed');
    expect(result.error.message).toContain('ESOURCE');
    expect(producer.isClosed).toBe(true);
  });

  it('producer.abort(reason) ends the stream with PRODUCER_ABORTED for every consumer, after the messages before it', () => {
    const name = ringName('abort');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const tethered = Consumer.open(name);
    const untethered = Consumer.open(name, { tethered: false });
    producer.send('a');
    producer.send('b');
    producer.abort(new Error('disk gone'));
    producer.abort(new Error('again')); // idempotent
    for (const consumer of [tethered, untethered]) {
      expect(consumer.tryReceive()).toBe('a');
      expect(consumer.tryReceive()).toBe('b');
      expect(() => consumer.tryReceive()).toThrow(expect.objectContaining({ code: 'PRODUCER_ABORTED', segment: name }));
      expect(() => consumer.tryReceive()).toThrow(/disk gone/);
      expect(consumer.ended).toBe(true);
      consumer.close();
    }
  });
});
