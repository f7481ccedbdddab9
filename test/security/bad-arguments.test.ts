/**
 * Bad arguments everywhere are misuse: a TypeError or RangeError thrown before any system call, whose
 * message names the option (or argument) and the value. Nothing is created on the way.
 * (test/ring/errors.test.ts covers the common ones; this file covers the rest of the public surface.)
 */
import * as fs from 'fs';
import { Consumer, futex, Producer, Segment } from '../../src';
import { within } from '../support/children';
import { removeSegment, uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';

const { trackName: track } = trackRings();

/** Runs fn, expects a TypeError or RangeError whose message contains every one of `mentions`. */
function expectMisuse(fn: () => unknown, mentions: string[]): void {
  let caught: unknown;
  try {
    const result = fn() as { close?: () => void } | Promise<unknown> | undefined;
    if (result && typeof (result as { close?: unknown }).close === 'function') (result as { close: () => void }).close();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeDefined();
  const error = caught as Error;
  expect([error.constructor.name, error.message]).toEqual([expect.stringMatching(/^(TypeError|RangeError)$/), expect.any(String)]);
  for (const mention of mentions) expect(error.message).toContain(mention);
}

const show = (value: unknown): string => (typeof value === 'string' ? JSON.stringify(value) : String(value));

describe('Producer.create', () => {
  it.each([
    [{ capacity: NaN }, ['capacity', 'NaN']],
    [{ capacity: Infinity }, ['capacity', 'Infinity']],
    [{ capacity: -4096 }, ['capacity', '-4096']],
    [{ capacity: 2 ** 31 }, ['capacity', String(2 ** 31)]],
    [{ capacity: 4096.5 }, ['capacity', '4096.5']],
    [{ maxConsumers: 1025 }, ['maxConsumers', '1025']],
    [{ maxConsumers: 2.5 }, ['maxConsumers', '2.5']],
    [{ maxMessageLength: 0 }, ['maxMessageLength', '0']],
    [{ mode: -1 }, ['mode', '-1']],
    [{ gid: -1 }, ['gid', '-1']],
    [{ gid: 1.5 }, ['gid', '1.5']],
    [{ prefault: 'yes' }, ['prefault', 'yes']],
    [{ lock: 1 }, ['lock', '1']],
    [{ hugePages: null }, ['hugePages', 'null']],
    [{ unlinkOnClose: 0 }, ['unlinkOnClose', '0']],
    [{ wipeOnClose: 'true' }, ['wipeOnClose', 'true']],
    [{ existing: 5 }, ['existing', '5']],
    [{ livenessIntervalMs: -1 }, ['livenessIntervalMs', '-1']],
    [{ livenessIntervalMs: Infinity }, ['livenessIntervalMs', 'Infinity']],
    [{ livenessIntervalMs: NaN }, ['livenessIntervalMs', 'NaN']],
    [{ startPosition: 1.5 }, ['startPosition', '1.5']],
    [{ codec: {} }, ['codec']],
    [{ codec: { encode: () => new Uint8Array(0), decode: 1 } }, ['codec']],
    [{ wipeOnclose: true }, ['wipeOnclose']],
    [{ unlinkonclose: true }, ['unlinkonclose']],
    [{ Capacity: 4096 }, ['Capacity']],
    [{ allowForeignOwner: true }, ['allowForeignOwner']], // a consumer option, not a producer one
  ])('rejects %p naming it', (options, mentions) => {
    const name = track(uniqueName('bad-producer'));
    expectMisuse(() => Producer.create(name, options as never), mentions);
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });

  it.each([[null], [[]], ['fast'], [5], [true]])('rejects options %p that are not an object', (options) => {
    const name = track(uniqueName('bad-producer'));
    expectMisuse(() => Producer.create(name, options as never), ['options']);
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });

  it.each([[undefined], [null], [42], [{}], ['/a\0b'], ['/.'], ['/..'], ['//x'], [`/${'é'.repeat(128)}`]])('rejects the name %p', (name) => {
    expectMisuse(() => Producer.create(name as never), []);
    expectMisuse(() => Consumer.open(name as never), []);
    expectMisuse(() => Segment.create(name as never, 4096), []);
    expectMisuse(() => Segment.open(name as never), []);
  });
});

describe('Consumer.open', () => {
  let name: string;
  let producer: Producer;
  beforeEach(() => {
    name = track(uniqueName('bad-consumer'));
    producer = Producer.create(name, { capacity: 4096 });
  });
  afterEach(() => producer.close());

  it.each([
    [{ spinMicroseconds: -1 }, ['spinMicroseconds', '-1']],
    [{ spinMicroseconds: 1.5 }, ['spinMicroseconds', '1.5']],
    [{ openTimeout: -1 }, ['openTimeout', '-1']],
    [{ openTimeout: NaN }, ['openTimeout', 'NaN']],
    [{ openTimeout: '100' }, ['openTimeout', '100']],
    [{ producerCheckIntervalMs: Infinity }, ['producerCheckIntervalMs', 'Infinity']],
    [{ waitForRestartMs: 'x' }, ['waitForRestartMs', 'x']],
    [{ maxBatch: 0 }, ['maxBatch', '0']],
    [{ ref: 'yes' }, ['ref', 'yes']],
    [{ allowForeignOwner: 1 }, ['allowForeignOwner', '1']],
    [{ codec: { encode: 1 } }, ['codec']],
    [{ from: 'oldest ' }, ['from', 'oldest ']],
    [{ tethered: null }, ['tethered', 'null']],
    [{ Tethered: false }, ['Tethered']],
    [{ capacity: 4096 }, ['capacity']], // a producer option
    [{ allowforeignowner: true }, ['allowforeignowner']],
  ])('rejects %p naming it', (options, mentions) => {
    expectMisuse(() => Consumer.open(name, options as never), mentions);
  });

  it('rejects bad timeouts on every receive', async () => {
    const consumer = Consumer.open(name);
    try {
      for (const timeout of [-1, NaN, '5']) {
        expectMisuse(() => consumer.receiveSync(timeout as never), [show(timeout).replace(/"/g, '')]);
        expectMisuse(() => consumer.receiveBytesSync(timeout as never), [show(timeout).replace(/"/g, '')]);
        await expect(consumer.receive({ timeout: timeout as never })).rejects.toThrow(RangeError);
      }
      // Regression: a misspelled option used to be ignored, so `receive({ timout: 5 })` waited forever.
      await expect(within(consumer.receive({ timout: 5 } as never), 500, 'a receive with a misspelled option')).rejects.toThrow(/timout/);
    } finally {
      consumer.close();
    }
  });
});

describe('Producer methods', () => {
  let producer: Producer;
  beforeEach(() => {
    producer = Producer.create(track(uniqueName('bad-send')), { capacity: 4096 });
  });
  afterEach(() => producer.close());

  it.each([[-1], [1.5], ['5'], [NaN], [Infinity], [null]])('claim(%p) is a RangeError/TypeError naming the value', (length) => {
    expectMisuse(() => producer.claim(length as never), [show(length).replace(/"/g, '')]);
  });

  it.each([[-1], [1.5], [33], [NaN], ['4']])('commit(%p) of a 32-byte claim is refused naming the value, and the claim stays open', (length) => {
    const claim = producer.claim(32)!;
    expectMisuse(() => claim.commit(length as never), [show(length).replace(/"/g, '')]);
    claim.commit(32); // still usable after the refusal
  });

  // Regression: sendBytesSync used not to check its argument (a string was sent as zeros, an array as
  // its elements mod 256).
  it('sendBytes and friends refuse what is not a Uint8Array', async () => {
    expectMisuse(() => producer.sendBytes('abc' as never), ['Uint8Array']);
    expectMisuse(() => producer.sendBytes([1, 2, 3] as never), ['Uint8Array']);
    expectMisuse(() => producer.sendBytesSync('abc' as never, 5), ['Uint8Array']);
    expectMisuse(() => producer.sendBytesSync([1, 2, 300] as never, 5), ['Uint8Array']);
    expectMisuse(() => producer.sendBytesSync(undefined as never, 5), ['Uint8Array']);
    await expect(producer.sendBytesAsync('abc' as never)).rejects.toThrow(TypeError);
    expectMisuse(() => producer.sendSync({}, -1), ['-1']);
    await expect(producer.sendAsync({}, { timeout: -1 })).rejects.toThrow(RangeError);
    // Regression: sendAsync's options are checked for unknown keys too.
    await expect(producer.sendAsync({}, { timout: 5 } as never)).rejects.toThrow(/timout/);
  });
});

describe('Segment', () => {
  it.each([
    [0, {}, ['size', '0']],
    [-1, {}, ['size', '-1']],
    [1.5, {}, ['size', '1.5']],
    ['4096', {}, ['size', '4096']],
    [NaN, {}, ['size', 'NaN']],
    [4096, { mode: 0o10000 }, ['mode', String(0o10000)]],
    [4096, { gid: -2 }, ['gid', '-2']],
    [4096, { prefault: 'no' }, ['prefault']],
    [4096, { Mode: 0o600 }, ['Mode']],
    [4096, { minSize: 1 }, ['minSize']], // an open option
  ])('Segment.create(name, %p, %p) is refused', (size, options, mentions) => {
    const name = track(uniqueName('bad-segment'));
    expectMisuse(() => Segment.create(name, size as never, options as never), mentions);
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });

  it('Segment.open and map refuse bad options and ranges', () => {
    const name = track(uniqueName('bad-segment-open'));
    const segment = Segment.create(name, 8192);
    try {
      expectMisuse(() => Segment.open(name, { minSize: -1 }), ['minSize', '-1']);
      expectMisuse(() => Segment.open(name, { readWrite: 'yes' } as never), ['readWrite']);
      expectMisuse(() => Segment.open(name, { minsize: 5 } as never), ['minsize']);
      expectMisuse(() => segment.map(1), ['offset', '1']);
      expectMisuse(() => segment.map(0, 0), ['length', '0']);
      expectMisuse(() => segment.map(4096, 8192), ['8192']);
      expectMisuse(() => segment.map(0, 4096, { writeable: true } as never), ['writeable']);
      const readOnly = Segment.open(name, { readWrite: false });
      try {
        expectMisuse(() => readOnly.map(0, 4096, { writable: true }), ['read-only']);
      } finally {
        readOnly.close();
      }
    } finally {
      segment.close();
    }
  });
});

describe('futex', () => {
  const name = uniqueName('bad-futex');
  let segment: Segment;
  let buffer: ArrayBuffer;
  beforeAll(() => {
    segment = Segment.create(name, 4096);
    buffer = segment.map(0, 4096);
  });
  afterAll(() => {
    segment.close();
    removeSegment(name);
  });

  it.each([
    ['a non-buffer', () => futex.wait(new Uint8Array(8) as never, 0, 0, 1), ['ArrayBuffer']],
    ['an odd offset', () => futex.wait(buffer, 2, 0, 1), ['byteOffset', '2']],
    ['a negative offset', () => futex.wait(buffer, -4, 0, 1), ['byteOffset', '-4']],
    ['an offset past the end', () => futex.wait(buffer, 4096, 0, 1), ['byteOffset', '4096']],
    ['an expected value above 32 bits', () => futex.wait(buffer, 0, 2 ** 32, 1), ['expected', String(2 ** 32)]],
    ['a fractional expected value', () => futex.wait(buffer, 0, 1.5, 1), ['expected', '1.5']],
    ['a negative timeout', () => futex.wait(buffer, 0, 0, -1), ['timeout', '-1']],
    ['a NaN timeout', () => futex.wait(buffer, 0, 0, NaN), ['timeout', 'NaN']],
    ['a negative wake count', () => futex.wake(buffer, 0, -1), ['count', '-1']],
    ['a fractional wake count', () => futex.wake(buffer, 0, 1.5), ['count', '1.5']],
    ['a wake on a non-buffer', () => futex.wake({} as never, 0), ['ArrayBuffer']],
    ['waitAsync with a misspelled option', () => futex.waitAsync(buffer, 0, 0, { timout: 5 } as never), ['timout']],
    ['waitAsync with a signal that is not one', () => futex.waitAsync(buffer, 0, 0, { signal: {} as never }), ['signal']],
    ['waitAsync with ref: "no"', () => futex.waitAsync(buffer, 0, 0, { ref: 'no' as never }), ['ref']],
    ['waitAsync with a bad offset', () => futex.waitAsync(buffer, 3, 0), ['byteOffset', '3']],
    ['waitAny with no words', () => futex.waitAny([], 1), ['words']],
  ])('%s is refused, naming it', (_label, fn, mentions) => {
    expectMisuse(fn as () => unknown, mentions as string[]);
  });
});
