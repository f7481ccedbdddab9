/**
 * The consumer's own paths (src/api/consumer.ts), in this process so that mutation testing sees them:
 * written against mutants of consumer.ts that survived the suite (docs/testing.md, "Mutation testing").
 * - joining takes a free slot and leaves a dead consumer's slot to the reclaim, which runs only when no
 *   slot is free;
 * - a consumer whose slot was taken learns it at its next empty read, also in slot 0;
 * - poll() hands over what came before a failure, then throws it on every later call;
 * - a ring closed while held full (no END record) ends cleanly;
 * - a codec that throws something that is not an Error still gives DECODE_ERROR;
 * - receiveSync's timeout bounds its sleep, whatever the producer-check interval, and 'spin' consumers
 *   spin until it (they never sleep on the futex).
 */
import { Consumer, Producer, ShmRingError } from '../../src';
import * as futex from '../../src/core/futex';
import { currentProcess } from '../../src/core/liveness';
import * as L from '../../src/ring/layout';
import { claimSlot, readSlot } from '../../src/ring/slots';
import { CAPACITY, MAX_CONSUMERS, deadPid, memoryOf, message } from './mutant-fixtures';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

function producer(tag: string, maxConsumers = MAX_CONSUMERS): Producer {
  return track(Producer.create(ringName(tag), { capacity: CAPACITY, maxConsumers }));
}

describe('joining', () => {
  it('takes a free slot and leaves a dead consumer’s slot alone while one is free', async () => {
    const p = producer('join-free', 2);
    const memory = memoryOf(p);
    const own = currentProcess();
    const dead = await deadPid();
    expect(claimSlot(memory, { pid: dead, startTime: 0, pidNamespace: own.pidNamespace }, true, 0, 0)).toBe(0);
    track(Consumer.open(p.name));
    expect(readSlot(memory, 0)).toMatchObject({ state: L.SlotState.ACTIVE, pid: dead });
    expect(readSlot(memory, 1)).toMatchObject({ state: L.SlotState.ACTIVE, pid: own.pid });
  });

  it('frees a dead consumer’s slot when none is free, and takes it', async () => {
    const p = producer('join-full', 1);
    const memory = memoryOf(p);
    const own = currentProcess();
    expect(claimSlot(memory, { pid: await deadPid(), startTime: 0, pidNamespace: own.pidNamespace }, true, 0, 0)).toBe(0);
    track(Consumer.open(p.name));
    expect(readSlot(memory, 0)).toMatchObject({ state: L.SlotState.ACTIVE, pid: own.pid });
  });
});

describe('ref() and unref()', () => {
  it('work before any wait (no waiter, no doorbell yet) and return the consumer', () => {
    const p = producer('ref-early');
    for (const wake of ['thread', 'doorbell'] as const) {
      const consumer = track(Consumer.open(p.name, { wake }));
      expect(consumer.unref()).toBe(consumer);
      expect(consumer.ref()).toBe(consumer);
      expect(consumer.unref()).toBe(consumer);
    }
  });
});

describe('eviction', () => {
  it.each([0, 1])('a tethered consumer in slot %i whose slot was taken fails with CONSUMER_EVICTED at its next empty read', (index) => {
    const p = producer(`evicted-${index}`);
    const memory = memoryOf(p);
    const consumers = [track(Consumer.open(p.name)), track(Consumer.open(p.name))];
    const victim = consumers[index];
    expect(readSlot(memory, index).pid).toBe(process.pid);
    // What a reclaimer that judged this process dead leaves: the slot under another owner.
    Atomics.store(memory.consumerI32, (L.slotOffset(index) + L.SLOT_PID_OFFSET - L.CONSUMER_REGION_OFFSET) >> 2, process.pid + 1);
    expect(() => victim.tryReceive()).toThrow(expect.objectContaining({ code: 'CONSUMER_EVICTED' }));
    // The failure stays: a later read does not go on as if nothing happened, even with data waiting.
    expect(p.sendBytes(message(1))).toBe(true);
    expect(() => victim.tryReceive()).toThrow(expect.objectContaining({ code: 'CONSUMER_EVICTED' }));
    expect(consumers[1 - index].tryReceiveBytes()?.[0]).toBe(1);
  });
});

describe('poll() and a failure', () => {
  it('hands over the messages before an abort, then throws PRODUCER_ABORTED on this and every later call', () => {
    const p = producer('poll-abort');
    const consumer = track(Consumer.open(p.name));
    for (let n = 0; n < 3; n++) expect(p.sendBytes(message(n))).toBe(true);
    p.abort(new Error('stopped'));
    const seen: number[] = [];
    const handler = (source: Uint8Array, offset: number): void => {
      seen.push(source[offset]);
    };
    expect(consumer.poll(handler)).toBe(3);
    expect(seen).toEqual([0, 1, 2]);
    for (let call = 0; call < 2; call++) {
      expect(() => consumer.poll(handler)).toThrow(expect.objectContaining({ code: 'PRODUCER_ABORTED' }));
    }
    expect(seen).toEqual([0, 1, 2]);
  });

  it('throws PRODUCER_ABORTED from the first call when nothing came before the abort', () => {
    const p = producer('poll-abort-empty');
    const consumer = track(Consumer.open(p.name));
    p.abort(new Error('stopped'));
    expect(() => consumer.poll(() => undefined)).toThrow(expect.objectContaining({ code: 'PRODUCER_ABORTED' }));
  });
});

describe('the end of a ring', () => {
  it('ends cleanly, after every message, when the producer closed a ring held full (no room for its END)', () => {
    const p = producer('closed-full');
    const consumer = track(Consumer.open(p.name, { tethered: true }));
    let sent = 0;
    while (p.sendBytes(message(sent))) sent++;
    p.close();
    const got: number[] = [];
    for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) got.push(bytes[0]);
    expect(got).toEqual(Array.from({ length: sent }, (_, n) => n));
    expect(consumer.ended).toBe(true);
    expect(consumer.receiveSync(0)).toBeUndefined();
  });
});

describe('a codec that throws', () => {
  it.each([
    ['null', null],
    ['a string', 'bad bytes'],
  ])('gives DECODE_ERROR when it throws %s, and the next message is read', (_label, thrown) => {
    let calls = 0;
    const codec = {
      encode: (value: unknown) => new TextEncoder().encode(String(value)),
      decode: (bytes: Uint8Array) => {
        calls++;
        if (calls === 1) throw thrown;
        return new TextDecoder().decode(bytes);
      },
    };
    const p = track(Producer.create(ringName('codec-throws'), { capacity: CAPACITY, codec }));
    const consumer = track(Consumer.open(p.name, { codec }));
    expect(p.send('first')).toBe(true);
    expect(p.send('second')).toBe(true);
    let error: unknown;
    try {
      consumer.tryReceive();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ShmRingError);
    expect((error as ShmRingError).code).toBe('DECODE_ERROR');
    expect((error as ShmRingError).message).toContain(String(thrown));
    expect(consumer.tryReceive()).toBe('second');
  });
});

describe('drain() with a codec of its own', () => {
  const codec = {
    encode: (value: unknown) => new TextEncoder().encode(JSON.stringify(value)),
    decode: (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as unknown,
  };

  it('hands over at most max messages, stops when none is left, and at the end', () => {
    const p = track(Producer.create(ringName('drain-codec'), { capacity: CAPACITY, codec }));
    const consumer = track(Consumer.open(p.name, { codec }));
    for (let n = 0; n < 3; n++) expect(p.send({ n })).toBe(true);
    const seen: unknown[] = [];
    const collect = (value: unknown): void => {
      seen.push(value);
    };
    expect(consumer.drain(collect, 2)).toBe(2);
    expect(consumer.drain(collect)).toBe(1);
    expect(consumer.drain(collect)).toBe(0);
    expect(seen).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    expect(p.send({ n: 3 })).toBe(true);
    p.close();
    expect(consumer.drain(collect)).toBe(1);
    expect(consumer.drain(collect)).toBe(0);
    expect(consumer.ended).toBe(true);
    expect(seen).toHaveLength(4);
  });
});

describe('receiveSync and its timeout', () => {
  afterEach(() => jest.restoreAllMocks());

  // Each of these returns within milliseconds; a mutant that ignores the timeout sleeps for the
  // producer-check interval (a minute) or spins for ever, and fails on the test's own timeout.
  it('returns undefined at its timeout even when the producer check is a minute away', () => {
    const p = producer('sync-timeout');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep', producerCheckIntervalMs: 60_000 }));
    const wait = jest.spyOn(futex, 'wait');
    expect(consumer.receiveSync(20)).toBeUndefined();
    expect(wait).toHaveBeenCalled();
    for (const call of wait.mock.calls) expect(call[3]).toBeLessThanOrEqual(20);
  }, 20_000);

  it('receiveBytesSync too returns undefined at its timeout, not an internal marker', () => {
    const p = producer('sync-bytes-timeout');
    const consumer = track(Consumer.open(p.name, { wait: 'sleep', producerCheckIntervalMs: 60_000 }));
    expect(consumer.receiveBytesSync(0)).toBeUndefined();
    expect(consumer.receiveBytesSync(5)).toBeUndefined();
  }, 20_000);

  it("'spin' consumers spin until the timeout and never sleep on the futex", () => {
    const p = producer('sync-spin');
    const consumer = track(Consumer.open(p.name, { wait: 'spin', producerCheckIntervalMs: 60_000 }));
    const wait = jest.spyOn(futex, 'wait');
    expect(consumer.receiveSync(20)).toBeUndefined();
    expect(wait).not.toHaveBeenCalled();
    expect(p.sendBytes(message(7))).toBe(true);
    expect(consumer.receiveBytesSync(20)?.[0]).toBe(7);
  }, 20_000);

  it("'spin' consumers with a short check interval still return at the timeout", () => {
    const p = producer('sync-spin-check');
    const consumer = track(Consumer.open(p.name, { wait: 'spin', producerCheckIntervalMs: 5 }));
    expect(consumer.receiveSync(30)).toBeUndefined();
  }, 20_000);
});
