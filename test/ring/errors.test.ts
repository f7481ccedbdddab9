/**
 * Every way creating, opening or using a ring can fail, each with its code, its segment name and
 * nothing left behind.
 */
import * as fs from 'fs';
import { Consumer, isShmRingError, Producer, ShmRingError } from '../../src';
import * as L from '../../src/ring/layout';
import { runFixture } from '../support/children';
import { segmentExists, uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';

const { trackName: track } = trackRings();

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ShmRingError) return error.code;
    throw error;
  }
  return undefined;
}

describe('misuse is rejected before any syscall', () => {
  it.each([
    [{ capacity: 5000 }, RangeError, /capacity must be a power of two, got 5000/],
    [{ capacity: 1024 }, RangeError, /capacity must be in 4096\.\./],
    [{ capacity: '4096' }, TypeError, /capacity must be an integer, got "4096"/],
    [{ capacty: 4096 }, TypeError, /unknown option 'capacty'/],
    [{ maxConsumers: 0 }, RangeError, /maxConsumers/],
    [{ maxMessageLength: 1 << 20, capacity: 4096 }, RangeError, /maxMessageLength must be in 1\.\.2032/],
    [{ mode: 0o1777 }, RangeError, /mode/],
    [{ existing: 'maybe' }, RangeError, /existing/],
  ])('Producer.create(%p) throws', (options, type, message) => {
    const name = track(uniqueName('misuse'));
    expect(() => Producer.create(name, options as never)).toThrow(type);
    expect(() => Producer.create(name, options as never)).toThrow(message);
    expect(segmentExists(name)).toBe(false);
  });

  it.each(['no-slash', '/a/b', '/', '', `/${'x'.repeat(300)}`])('rejects the name %p with a TypeError', (name) => {
    expect(() => Producer.create(name)).toThrow(TypeError);
    expect(() => Consumer.open(name)).toThrow(TypeError);
  });

  it.each([
    [{ tethered: 'yes' }, TypeError],
    [{ from: 'start' }, RangeError],
    [{ wait: 'poll' }, RangeError],
    [{ tetherd: true }, TypeError],
  ])('Consumer.open(%p) throws', (options, type) => {
    const name = track(uniqueName('misuse'));
    const producer = Producer.create(name, { capacity: 4096 });
    try {
      expect(() => Consumer.open(name, options as never)).toThrow(type);
    } finally {
      producer.close();
    }
  });
});

describe('ring errors', () => {
  it('refuses a message larger than the ring allows and writes nothing', () => {
    const name = track(uniqueName('large'));
    const producer = Producer.create(name, { capacity: 4096 });
    const consumer = Consumer.open(name);
    try {
      const error = (() => {
        try {
          producer.sendBytes(new Uint8Array(producer.maxMessageLength + 1));
        } catch (e) {
          return e as ShmRingError;
        }
      })();
      expect(error?.code).toBe('MESSAGE_TOO_LARGE');
      expect(error?.message).toContain(name);
      expect(error?.message).toContain(String(producer.maxMessageLength));
      expect(() => producer.send('x'.repeat(5000))).toThrow(expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }));
      expect(consumer.tryReceiveBytes()).toBeUndefined();
      expect(producer.sendBytes(new Uint8Array(producer.maxMessageLength))).toBe(true);
      expect(consumer.tryReceiveBytes()?.length).toBe(producer.maxMessageLength);
    } finally {
      consumer.close();
      producer.close();
    }
  });

  it('refuses a second producer while the first one lives, naming its pid', async () => {
    const name = track(uniqueName('second'));
    const first = runFixture('ring-producer.js', [name, '0', 'hold']);
    const { pid } = await first.waitForLine((m) => m.ready);
    let caught: unknown;
    try {
      Producer.create(name);
    } catch (error) {
      caught = error;
    }
    expect(isShmRingError(caught, 'PRODUCER_ALIVE')).toBe(true);
    expect((caught as Error).message).toContain(`pid ${pid}`);
    expect((caught as ShmRingError).segment).toBe(name);
    first.process.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
    expect(segmentExists(name)).toBe(false); // the owner unlinked it on close
  });

  it('refuses a second producer in the same process', () => {
    const name = track(uniqueName('same'));
    const producer = Producer.create(name, { capacity: 4096 });
    try {
      expect(codeOf(() => Producer.create(name, { capacity: 4096 }))).toBe('PRODUCER_ALIVE');
    } finally {
      producer.close();
    }
  });

  it('never clobbers a file that is not a ring (NOT_A_RING), for producers and consumers', () => {
    const name = track(uniqueName('foreign'));
    fs.writeFileSync(`/dev/shm${name}`, Buffer.alloc(8192, 7), { mode: 0o600 });
    expect(codeOf(() => Producer.create(name))).toBe('NOT_A_RING');
    expect(codeOf(() => Consumer.open(name))).toBe('NOT_A_RING');
    expect(fs.readFileSync(`/dev/shm${name}`).every((b) => b === 7)).toBe(true);
  });

  it('names both versions when the layout version differs, and a restarted producer replaces the old ring', () => {
    const name = track(uniqueName('version'));
    const old = Producer.create(name, { capacity: 4096, unlinkOnClose: false });
    old.close();
    const fd = fs.openSync(`/dev/shm${name}`, 'r+');
    const version = Buffer.alloc(4);
    version.writeInt32LE(L.LAYOUT_VERSION + 41);
    fs.writeSync(fd, version, 0, 4, L.LAYOUT_VERSION_OFFSET);
    fs.closeSync(fd);
    let caught: ShmRingError | undefined;
    try {
      Consumer.open(name);
    } catch (error) {
      caught = error as ShmRingError;
    }
    expect(caught?.code).toBe('INCOMPATIBLE_VERSION');
    expect(caught?.message).toContain(`layout version ${L.LAYOUT_VERSION + 41}`);
    expect(caught?.message).toContain(`layout version ${L.LAYOUT_VERSION}`);
    const fresh = Producer.create(name, { capacity: 4096 });
    expect(fresh.tookOver).toBe(false);
    const consumer = Consumer.open(name);
    fresh.send('works');
    expect(consumer.tryReceive()).toBe('works');
    consumer.close();
    fresh.close();
  });

  it('reports a header whose fields contradict each other as CORRUPT_SEGMENT', () => {
    const name = track(uniqueName('corrupt'));
    const producer = Producer.create(name, { capacity: 4096, unlinkOnClose: false });
    producer.close();
    const fd = fs.openSync(`/dev/shm${name}`, 'r+');
    const capacity = Buffer.alloc(4);
    capacity.writeUInt32LE(3000);
    fs.writeSync(fd, capacity, 0, 4, L.CAPACITY_OFFSET);
    fs.closeSync(fd);
    expect(codeOf(() => Consumer.open(name))).toBe('CORRUPT_SEGMENT');
  });

  it('says when every consumer slot is taken (NO_FREE_SLOT), and frees slots on close', () => {
    const name = track(uniqueName('slots'));
    const producer = Producer.create(name, { capacity: 4096, maxConsumers: 2 });
    const a = Consumer.open(name);
    const b = Consumer.open(name);
    try {
      expect(codeOf(() => Consumer.open(name))).toBe('NO_FREE_SLOT');
      a.close();
      const c = Consumer.open(name);
      c.close();
    } finally {
      a.close();
      b.close();
      producer.close();
    }
  });

  it('fails to open a ring that does not exist (SEGMENT_NOT_FOUND), or waits for it with openTimeout', async () => {
    const name = track(uniqueName('missing'));
    expect(codeOf(() => Consumer.open(name))).toBe('SEGMENT_NOT_FOUND');
    const producer = runFixture('ring-producer.js', [name, '0', 'hold']);
    // The child creates it within the timeout; open blocks until then.
    const consumer = Consumer.open(name, { openTimeout: 10_000 });
    expect(consumer.name).toBe(name);
    consumer.close();
    producer.process.kill('SIGTERM');
    await producer.exited;
  });

  it('throws CLOSED when used after close, and close is idempotent', () => {
    const name = track(uniqueName('closed'));
    const producer = Producer.create(name, { capacity: 4096 });
    const consumer = Consumer.open(name);
    consumer.close();
    consumer.close();
    producer.close();
    producer.close();
    expect(codeOf(() => producer.send(1))).toBe('CLOSED');
    expect(codeOf(() => consumer.tryReceive())).toBe('CLOSED');
    expect(segmentExists(name)).toBe(false);
  });
});
