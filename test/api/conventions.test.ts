/**
 * Node conventions (issue 15): leaving a `for await` closes the consumer as it destroys a Readable; one
 * reading style per consumer; argument errors carry Node's codes and say which rule a name broke.
 */
import { Consumer, Producer, Segment, createReadStream } from '../../src';
import { within } from '../support/children';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

function thrown(fn: () => unknown): any {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('nothing was thrown');
}

describe('for await over a consumer', () => {
  it('break closes the consumer: its slot is freed and it no longer holds the producer back', async () => {
    const name = ringName('break');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    for (let i = 0; i < 3; i++) producer.send({ i });
    expect(producer.consumers).toBe(1);
    for await (const message of consumer) {
      expect(message).toEqual({ i: 0 });
      break;
    }
    expect(consumer.isClosed).toBe(true);
    expect(producer.consumers).toBe(0);
    // With no tethered consumer left, the producer can fill the ring again and again.
    for (let i = 0; i < 1000; i++) expect(producer.send({ i })).toBe(true);
  });

  it('a throw in the loop body closes the consumer too', async () => {
    const name = ringName('throw');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    producer.send(1);
    await expect(
      (async () => {
        for await (const message of consumer) throw new Error(`stop at ${message}`);
      })(),
    ).rejects.toThrow('stop at 1');
    expect(consumer.isClosed).toBe(true);
  });
});

describe('one reading style per consumer', () => {
  it('iterating a consumer that has a message listener rejects with CONFLICTING_READERS, and the listener keeps every message', async () => {
    const name = ringName('styles-1');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    const seen: unknown[] = [];
    consumer.on('message', (value) => seen.push(value));
    const iterator = consumer[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toMatchObject({ name: 'ShmRingError', code: 'CONFLICTING_READERS', segment: name });
    expect(consumer.isClosed).toBe(false);
    for (let i = 0; i < 5; i++) producer.send(i);
    producer.close();
    await within(new Promise((resolve) => consumer.once('end', resolve)), 10000, "'end'");
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it("adding a 'message' listener to a consumer being iterated throws CONFLICTING_READERS", async () => {
    const name = ringName('styles-2');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    producer.send('first');
    const iterator = consumer[Symbol.asyncIterator]();
    await expect(iterator.next()).resolves.toEqual({ value: 'first', done: false });
    const error = thrown(() => consumer.on('message', () => undefined));
    expect(error).toMatchObject({ name: 'ShmRingError', code: 'CONFLICTING_READERS' });
    expect(error.message).toContain('an async iterator');
    expect(error.hint).toContain('second consumer');
    await iterator.return!(undefined);
  });

  it('a read stream (tryReceive and receive) and other pull calls are not a conflicting style', async () => {
    const name = ringName('styles-3');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    producer.send('a');
    expect(consumer.tryReceive()).toBe('a');
    const stream = createReadStream(consumer);
    producer.send('b');
    producer.close();
    const chunks: unknown[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toEqual(['b']);
  });
});

describe('argument errors carry Node codes', () => {
  it.each([
    ['not a string', 42, TypeError, 'ERR_INVALID_ARG_TYPE', 'must be a string, got number'],
    ['no leading slash', 'telemetry', TypeError, 'ERR_INVALID_ARG_VALUE', "must start with '/'"],
    ['a second slash', '/a/b', TypeError, 'ERR_INVALID_ARG_VALUE', "must not contain a '/' after the first character"],
    ['nothing after the slash', '/', TypeError, 'ERR_INVALID_ARG_VALUE', "at least one byte after the '/'"],
    ['a NUL', '/a\0b', TypeError, 'ERR_INVALID_ARG_VALUE', 'must not contain a NUL character'],
    ['dot-dot', '/..', TypeError, 'ERR_INVALID_ARG_VALUE', "must not be '/.' or '/..'"],
  ])('a ring name with %s says which rule it broke', (_what, name, Class, code, rule) => {
    for (const call of [() => Producer.create(name as string), () => Consumer.open(name as string), () => Segment.open(name as string)]) {
      const error = thrown(call);
      expect(error).toBeInstanceOf(Class);
      expect(error.code).toBe(code);
      expect(error.message).toContain(rule);
    }
  });

  it('a 300-character name is cut in the message, with its length stated', () => {
    const name = `/${'x'.repeat(299)}`;
    const error = thrown(() => Producer.create(name));
    expect(error).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    expect(error.message).toContain('must be at most 255 bytes long');
    expect(error.message).toContain('(300 characters)');
    expect(error.message.length).toBeLessThan(300);
  });

  it('options: wrong type, misspelled key, out of range, not a choice', () => {
    const name = ringName('args');
    expect(thrown(() => Producer.create(name, { capacity: '4096' as never }))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => Producer.create(name, { capasity: 4096 } as never))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    expect(thrown(() => Producer.create(name, { capacity: 1000 }))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    expect(thrown(() => Producer.create(name, { maxConsumers: 0 }))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    expect(thrown(() => Producer.create(name, { existing: 'keep' as never }))).toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    expect(thrown(() => Producer.create(name, 'options' as never))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    track(Producer.create(name, { capacity: 4096 }));
    expect(thrown(() => Consumer.open(name, { from: 'newest' as never }))).toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' });
    expect(thrown(() => Consumer.open(name, { openTimeout: -1 }))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    expect(thrown(() => Consumer.open(name, { openTimeout: 'soon' as never }))).toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_ARG_TYPE' });
  });

  it('send paths: bytes that are not a Uint8Array, a bad claim length', () => {
    const producer = track(Producer.create(ringName('args-send'), { capacity: 4096 }));
    expect(thrown(() => producer.sendBytes('text' as never))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => producer.claim(-1))).toMatchObject({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  });
});
