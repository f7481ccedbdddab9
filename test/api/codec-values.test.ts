/**
 * The "Values" table of docs/api.md, row by row: every value the default codec carries arrives as itself
 * through a real ring, and every value it refuses is refused before anything is written, with a code and
 * the path of the value. A row added to the table without a case here fails the first test.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Consumer, createMessagePackCodec, ExtensionCodec, Producer, ShmRingError } from '../../src';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();
const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'api.md'), 'utf8');

/** The first column of every row of the Values table. */
function tableRows(): string[] {
  const section = doc.slice(doc.indexOf('## Values'), doc.indexOf('## Errors'));
  return [...section.matchAll(/^\| (.+?) \|.*\|$/gm)].map((m) => m[1]!).filter((row) => row !== 'value' && !row.startsWith('---'));
}

class Point {
  constructor(readonly x: number, readonly y: number) {}
}

function error(): TypeError {
  const e = new TypeError('bad input', { cause: new RangeError('too big') });
  return e;
}

/** Each row: values that must arrive as `expected(value)` (default: equal to the value), or be refused. */
const CARRIED: Record<string, Array<{ value: unknown; check?: (received: any) => void }>> = {
  '`null`, booleans, numbers, strings': [{ value: null }, { value: true }, { value: -1.5 }, { value: 2 ** 53 }, { value: 'héllo' }],
  'plain objects, arrays': [{ value: { a: { b: [1, 'two', { c: null }] } } }, { value: [] }],
  '`undefined` (top level, in objects and arrays)': [
    { value: undefined },
    { value: { a: undefined, b: 1 }, check: (r) => expect(Object.keys(r)).toEqual(['a', 'b']) },
    { value: [undefined, 1] },
  ],
  '`BigInt`': [{ value: 12345678901234567890123n }, { value: -7n }, { value: { id: 0n } }],
  '`Date`': [{ value: new Date(1733100000123) }],
  '`Map`': [
    { value: new Map<unknown, unknown>([[1, 'one'], ['k', { nested: new Map([[2n, new Set([1])]]) }], [{ o: 1 }, undefined]]) },
  ],
  '`Set`': [{ value: new Set([1, 'a', new Date(5)]) }],
  '`RegExp`': [{ value: /a+b\/c/giu, check: (r) => expect(r).toBeInstanceOf(RegExp) }],
  '`Error` and its subclasses': [
    {
      value: error(),
      check: (r) => {
        const sent = error();
        expect(r).toBeInstanceOf(TypeError);
        expect({ name: r.name, message: r.message, cause: r.cause }).toEqual({ name: 'TypeError', message: 'bad input', cause: new RangeError('too big') });
        expect(r.cause).toBeInstanceOf(RangeError);
        expect(typeof r.stack).toBe('string');
        expect(r.stack.split('\n')[0]).toBe(sent.stack!.split('\n')[0]);
      },
    },
    {
      value: Object.assign(new Error('custom'), { name: 'MyError' }),
      check: (r) => expect({ name: r.name, message: r.message, isError: r instanceof Error }).toEqual({ name: 'MyError', message: 'custom', isError: true }),
    },
  ],
  '`Uint8Array`, `Buffer`': [
    { value: new Uint8Array([1, 2, 3]) },
    { value: Buffer.from('abc'), check: (r) => expect(r).toEqual(new Uint8Array([97, 98, 99])) },
  ],
  'other typed arrays': [
    { value: new Float32Array([1.5, -2]) },
    { value: new BigInt64Array([-1n, 2n]) },
    { value: new Uint8ClampedArray([255]), check: (r) => expect(r).toBeInstanceOf(Uint8ClampedArray) },
  ],
  '`DataView`': [{ value: new DataView(new Uint8Array([1, 2, 3]).buffer, 1, 2), check: (r) => expect([r.byteLength, r.getUint8(0), r.getUint8(1)]).toEqual([2, 2, 3]) }],
  '`ArrayBuffer`': [{ value: new Uint8Array([7, 8]).buffer, check: (r) => expect(new Uint8Array(r)).toEqual(new Uint8Array([7, 8])) }],
  'class instances': [{ value: new Point(1, 2), check: (r) => expect(r).toEqual({ x: 1, y: 2 }) }],
};

const REFUSED: Record<string, Array<{ value: unknown; code: string; path: string }>> = {
  'functions, symbols': [
    { value: { a: { b: [1, 2, 3, () => 1] } }, code: 'UNSUPPORTED_VALUE', path: 'a.b[3]' },
    { value: { s: Symbol('x') }, code: 'UNSUPPORTED_VALUE', path: 's' },
    { value: () => 1, code: 'UNSUPPORTED_VALUE', path: '(the message itself)' },
  ],
  '`Promise`, `WeakMap`, `WeakSet`, `WeakRef`, `SharedArrayBuffer`, boxed primitives (`new Number(1)`)': [
    { value: { p: Promise.resolve() }, code: 'UNSUPPORTED_VALUE', path: 'p' },
    { value: [new WeakMap()], code: 'UNSUPPORTED_VALUE', path: '[0]' },
    { value: { w: new WeakSet() }, code: 'UNSUPPORTED_VALUE', path: 'w' },
    { value: { r: new WeakRef({}) }, code: 'UNSUPPORTED_VALUE', path: 'r' },
    { value: { m: new Map([['k', new SharedArrayBuffer(4)]]) }, code: 'UNSUPPORTED_VALUE', path: 'm.get("k")' },
    { value: { n: new Number(1) }, code: 'UNSUPPORTED_VALUE', path: 'n' },
  ],
  'cycles, more than 100 levels': [],
};

function deep(levels: number): object {
  const root: any = {};
  let at = root;
  for (let i = 1; i < levels; i++) at = at.x = {};
  return root;
}

describe('docs/api.md Values table', () => {
  it('has a tested case for every row', () => {
    const rows = tableRows();
    expect(rows.length).toBeGreaterThanOrEqual(17);
    expect(rows.filter((row) => !(row in CARRIED) && !(row in REFUSED))).toEqual([]);
  });

  it.each(Object.entries(CARRIED))('carries %s through a ring as itself', (_row, cases) => {
    const name = ringName('values');
    const producer = track(Producer.create(name, { capacity: 1 << 16 }));
    const consumer = track(Consumer.open(name));
    for (const { value, check } of cases) {
      expect(producer.send(value)).toBe(true);
      const received = consumer.tryReceive();
      if (check) check(received);
      else expect(received).toEqual(value);
      if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array && value.constructor !== Uint8Array)) {
        expect(Object.getPrototypeOf(received)).toBe(Object.getPrototypeOf(value) === Point.prototype ? Object.prototype : Object.getPrototypeOf(value));
      }
    }
  });

  it.each(Object.entries(REFUSED).filter(([, cases]) => cases.length > 0))('refuses %s before anything is written, naming the path', (_row, cases) => {
    const name = ringName('refused');
    const producer = track(Producer.create(name, { capacity: 1 << 16 }));
    const consumer = track(Consumer.open(name));
    for (const { value, code, path: where } of cases) {
      let thrown: unknown;
      try {
        producer.send(value);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(ShmRingError);
      expect(thrown).toMatchObject({ code });
      expect((thrown as ShmRingError).message).toContain(` at ${where}:`);
      expect((thrown as ShmRingError).hint).toContain('docs/api.md');
    }
    expect(producer.stats.messagesSent).toBe(0);
    expect(consumer.tryReceive()).toBeUndefined();
    // The producer goes on working after a refusal.
    expect(producer.send({ ok: true })).toBe(true);
    expect(consumer.tryReceive()).toEqual({ ok: true });
  });

  it('refuses cycles and nesting deeper than 100 levels with TOO_DEEP, saying where, before anything is written', async () => {
    const name = ringName('too-deep');
    const producer = track(Producer.create(name, { capacity: 1 << 16 }));
    const cyclic: any = { a: { b: {} } };
    cyclic.a.b.back = cyclic.a;
    expect(() => producer.send(cyclic)).toThrow(expect.objectContaining({ code: 'TOO_DEEP', message: expect.stringContaining('a.b.back refers back to a (a cycle)') }));
    const cyclicMap = new Map<string, unknown>();
    cyclicMap.set('self', cyclicMap);
    expect(() => producer.send({ m: cyclicMap })).toThrow(expect.objectContaining({ code: 'TOO_DEEP' }));
    expect(() => producer.send(deep(101))).toThrow(expect.objectContaining({ code: 'TOO_DEEP', message: expect.stringContaining('deeper than 100 levels') }));
    await expect(producer.sendAsync(cyclic)).rejects.toMatchObject({ code: 'TOO_DEEP' });
    expect(producer.stats.messagesSent).toBe(0);
    expect(producer.send(deep(100))).toBe(true);
  });

  it('keeps a custom extension codec working beside the built-in types (types 0x20..0x7f)', () => {
    class Money {
      constructor(readonly cents: number) {}
    }
    const extensionCodec = new ExtensionCodec();
    extensionCodec.register({
      type: 0x20,
      encode: (input) => (input instanceof Money ? new Uint8Array(new Float64Array([input.cents]).buffer) : null),
      decode: (data) => new Money(new Float64Array(data.slice().buffer)[0]!),
    });
    const codec = createMessagePackCodec({ extensionCodec });
    const decoded = codec.decode(codec.encode({ price: new Money(1250), when: new Map([[1n, undefined]]) }).slice()) as any;
    expect(decoded.price).toBeInstanceOf(Money);
    expect(decoded.price.cents).toBe(1250);
    expect(decoded.when).toEqual(new Map([[1n, undefined]]));
  });
});
