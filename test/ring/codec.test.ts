/** What goes into the ring comes out as itself: MessagePack values, typed arrays, Dates, raw bytes, claims. */
import { Codec, Consumer, Producer } from '../../src';
import { removeSegment, uniqueName } from '../support/names';

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanup.reverse()) fn();
  cleanup = [];
});

function pair(options: { codec?: Codec; capacity?: number } = {}): { producer: Producer; consumer: Consumer } {
  const name = uniqueName('codec');
  const producer = Producer.create(name, { capacity: options.capacity ?? 65536, codec: options.codec });
  const consumer = Consumer.open(name, { codec: options.codec });
  cleanup.push(() => {
    consumer.close();
    producer.close();
    removeSegment(name);
  });
  return { producer, consumer };
}

describe('codec round trips', () => {
  it.each([
    ['a telemetry object', { ts: 1_700_000_000_123, name: 'cpu.load', value: 0.75, tags: { host: 'a1', core: 3 } }],
    ['null', null],
    ['a string', 'héllo ✓'],
    ['nested arrays', [1, [2, [3, [4]]], { a: [true, false] }]],
    ['a big integer as bigint-free number', 2 ** 52],
    ['an empty object', {}],
  ])('round-trips %s', (_, value) => {
    const { producer, consumer } = pair();
    expect(producer.send(value)).toBe(true);
    expect(consumer.tryReceive()).toEqual(value);
  });

  it.each([
    Int8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array,
  ])('round-trips a %p as itself', (Ctor) => {
    const { producer, consumer } = pair();
    const array = new Ctor(17);
    for (let i = 0; i < array.length; i++) array[i] = (i * 7) % 100;
    producer.send({ samples: array });
    const received = consumer.tryReceive() as { samples: unknown };
    expect(received.samples).toBeInstanceOf(Ctor);
    expect(Array.from(received.samples as ArrayLike<number>)).toEqual(Array.from(array));
  });

  it('round-trips BigInt64Array, Dates and binary', () => {
    const { producer, consumer } = pair();
    const value = { big: BigInt64Array.of(-1n, 2n ** 62n), at: new Date(1_700_000_000_123), bin: Uint8Array.of(1, 2, 3) };
    producer.send(value);
    const received = consumer.tryReceive() as typeof value;
    expect(received.big).toBeInstanceOf(BigInt64Array);
    expect(Array.from(received.big)).toEqual([-1n, 2n ** 62n]);
    expect(received.at).toBeInstanceOf(Date);
    expect(received.at.getTime()).toBe(1_700_000_000_123);
    expect(Array.from(received.bin)).toEqual([1, 2, 3]);
  });

  it('keeps decoded binary valid after the ring slot is reused', () => {
    const { producer, consumer } = pair({ capacity: 4096 });
    producer.send({ bin: new Uint8Array(100).fill(9) });
    const kept = consumer.tryReceive() as { bin: Uint8Array };
    for (let i = 0; i < 200; i++) {
      producer.send({ bin: new Uint8Array(100).fill(i & 0xff) });
      consumer.tryReceive();
    }
    expect(kept.bin.every((b) => b === 9)).toBe(true);
  });

  it('carries raw bytes without a codec, as a view or as a copy', () => {
    const { producer, consumer } = pair();
    producer.sendBytes(Uint8Array.of(5, 6, 7));
    producer.sendBytes(new Uint8Array(0));
    producer.sendBytes(Uint8Array.of(8));
    const view = consumer.tryReceiveBytes();
    expect(Array.from(view!)).toEqual([5, 6, 7]);
    expect(consumer.tryReceive()).toEqual(new Uint8Array(0));
    const copy = consumer.tryReceive() as Uint8Array;
    expect(Array.from(copy)).toEqual([8]);
  });

  it('accepts a pluggable codec (JSON here)', () => {
    const json: Codec = {
      encode: (value) => new TextEncoder().encode(JSON.stringify(value)),
      decode: (bytes) => JSON.parse(new TextDecoder().decode(bytes)),
    };
    const { producer, consumer } = pair({ codec: json });
    producer.send({ via: 'json', n: [1, 2] });
    expect(consumer.tryReceive()).toEqual({ via: 'json', n: [1, 2] });
  });
});

describe('claim and commit (zero-copy)', () => {
  it('publishes a Float32Array frame written in place, 16-byte aligned', () => {
    const { producer, consumer } = pair();
    const claim = producer.claim(1024 * 4)!;
    expect(claim.bytes.byteOffset % 16).toBe(0);
    const frame = claim.float32;
    for (let i = 0; i < frame.length; i++) frame[i] = Math.sin(i / 10);
    expect(consumer.tryReceiveBytes()).toBeUndefined(); // nothing visible before commit
    claim.commit();
    const bytes = consumer.tryReceiveBytes()!;
    expect(bytes.byteOffset % 16).toBe(0);
    const received = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    expect(received[10]).toBeCloseTo(Math.sin(1), 6);
    expect(received.length).toBe(1024);
  });

  it('commits fewer bytes than claimed, and aborts without publishing anything', () => {
    const { producer, consumer } = pair();
    const claim = producer.claim(100)!;
    claim.bytes.fill(1);
    claim.commit(10);
    expect(Array.from(consumer.tryReceiveBytes()!)).toEqual(new Array(10).fill(1));
    const aborted = producer.claim(50)!;
    aborted.bytes.fill(2);
    aborted.abort();
    producer.sendBytes(Uint8Array.of(3));
    expect(Array.from(consumer.tryReceiveBytes()!)).toEqual([3]);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    expect(consumer.lost).toBe(0);
  });

  it('allows one open claim at a time and no send while it is open', () => {
    const { producer } = pair();
    const claim = producer.claim(8)!;
    expect(() => producer.claim(8)).toThrow(/already open/);
    expect(() => producer.send(1)).toThrow(/claim is open/);
    claim.commit();
    expect(() => claim.commit()).toThrow(/already committed/);
    expect(producer.send(1)).toBe(true);
  });

  it('returns undefined from claim when tethered consumers hold the ring full', () => {
    const { producer, consumer } = pair({ capacity: 4096 });
    let claims = 0;
    for (let claim = producer.claim(512); claim; claim = producer.claim(512)) {
      claim.commit();
      claims++;
    }
    expect(claims).toBeGreaterThan(3);
    expect(consumer.tryReceiveBytes()?.length).toBe(512);
    expect(consumer.tryReceiveBytes()?.length).toBe(512);
    consumer.tryReceiveBytes(); // releases the first two on the next read
    expect(producer.claim(512)).toBeDefined();
  });
});
