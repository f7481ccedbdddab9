/**
 * Regression tests for the promises the ring broke under some interleavings (issue 13): positions that
 * aliased after 2^32 bytes, dead consumers' slots kept forever, a producer sleeping through a wakeup,
 * consumers seeing a half-made ring, and rings of crashed producers left behind by a drained selector.
 * Each failed on layout 1.
 */
import * as fs from 'fs';
import { Consumer, Producer, Selector } from '../../src';
import * as L from '../../src/ring/layout';
import { PRODUCER_WAITING_CI32 } from '../../src/ring/memory';
import { CREATING_PREFIX } from '../../src/ring/create';
import { readSnapshot } from '../../src/ring/snapshot';
import { exitedPid, runFixture, within } from '../support/children';
import { segmentExists } from '../support/names';
import { trackRings } from '../support/teardown';

const { ringName, track, trackName } = trackRings();

describe('64-bit positions', () => {
  it('an untethered consumer stalled while 4 GiB pass is lapped, never fooled: it delivers a real message and counts the loss exactly', () => {
    const name = ringName('alias');
    const capacity = 1 << 20;
    const producer = track(Producer.create(name, { capacity }));
    const consumer = Consumer.open(name, { tethered: false });
    try {
      const frame = producer.maxMessageLength;
      // Every payload holds fake record headers (length 4, BYTES, sequence 0) at every 32-byte step, so
      // a reader that trusted an aliased position would find a plausible record there.
      const pattern = new Uint8Array(32);
      new DataView(pattern.buffer).setInt32(L.RECORD_LENGTH_OFFSET, 4, true);
      new DataView(pattern.buffer).setInt32(L.RECORD_TYPE_OFFSET, L.RecordType.BYTES, true);
      pattern.set(Buffer.from('FAKE'), L.RECORD_HEADER_LENGTH);
      expect(producer.sendBytes(Buffer.from('first'))).toBe(true); // sequence 0, not read yet
      // 4 GiB of frames (the first lap's payloads filled with the pattern, later laps leave it in place).
      const framesPer4GiB = 2 ** 32 / L.recordLength(frame);
      for (let i = 0; i < framesPer4GiB; i++) {
        const claim = producer.claim(frame)!;
        if (i < 8) for (let at = 0; at + 32 <= frame; at += 32) claim.bytes.set(pattern, at);
        claim.commit();
      }
      expect(producer.sendBytes(Buffer.from('last'))).toBe(true);
      const bytes = consumer.tryReceiveBytes();
      expect(bytes).toBeDefined();
      expect(Buffer.from(bytes!.subarray(0, 4)).toString()).not.toBe('FAKE');
      expect(bytes!.length === frame || Buffer.from(bytes!).toString() === 'last').toBe(true);
      // It expected sequence 0 and got lastSequence: everything in between is lost, exactly.
      expect(consumer.lost).toBe(consumer.lastSequence);
      expect(consumer.lost).toBeGreaterThan(framesPer4GiB - 8);
      expect(consumer.stats.laps).toBeGreaterThanOrEqual(1);
      let last: Uint8Array | undefined = bytes;
      let next: Uint8Array | undefined;
      while ((next = consumer.tryReceiveBytes()) !== undefined) last = next;
      expect(Buffer.from(last!).toString()).toBe('last');
      expect(consumer.lost + consumer.received).toBe(framesPer4GiB + 2);
    } finally {
      consumer.close();
    }
  });

  it('keeps sequence numbers and loss exact past 2^32 messages (sequences are 64-bit)', () => {
    const name = ringName('seq64');
    const producer = track(Producer.create(name, { capacity: 4096, startSequence: 2 ** 32 - 3 }));
    const consumer = Consumer.open(name, { tethered: false });
    try {
      for (let i = 0; i < 6; i++) producer.send(i);
      const seen: number[] = [];
      while (consumer.tryReceive() !== undefined) seen.push(consumer.lastSequence);
      expect(seen).toEqual([2 ** 32 - 3, 2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 32 + 2]);
      expect(consumer.lost).toBe(0);
      expect(readSnapshot(name).positions?.nextSequence).toBe(2 ** 32 + 3);
    } finally {
      consumer.close();
    }
  });
});

describe('dead consumers give their slots back without back-pressure', () => {
  it.each([false, true])('a consumer joining a ring whose slots all belong to killed consumers (tethered: %p) gets a slot at once', async (tethered) => {
    const name = ringName(`slots-${tethered}`);
    const producer = track(Producer.create(name, { capacity: 4096, maxConsumers: 2, livenessIntervalMs: 60000 }));
    const children = [0, 1].map(() => runFixture('ring-correctness-child.js', ['join', JSON.stringify({ name, tethered })]));
    for (const child of children) await child.waitForLine((m) => m.ready);
    expect(producer.consumers).toBe(2);
    for (const child of children) child.process.kill('SIGKILL');
    for (const child of children) await within(child.exited, 10000, 'consumer exit');
    // No sends, no back-pressure, and the producer's own timer is a minute away: the joiner frees them.
    const consumer = Consumer.open(name, { tethered });
    expect(producer.consumers).toBe(1);
    consumer.close();
  });

  it('the producer frees dead untethered consumers\' slots on its liveness timer, with the ring never full', async () => {
    const name = ringName('timer');
    const producer = track(Producer.create(name, { capacity: 1 << 20, maxConsumers: 2, livenessIntervalMs: 50 }));
    const reclaimed = new Promise<number>((resolve) => producer.on('consumer-reclaimed', resolve));
    const child = runFixture('ring-correctness-child.js', ['join', JSON.stringify({ name, tethered: false })]);
    await child.waitForLine((m) => m.ready);
    child.process.kill('SIGKILL');
    await within(child.exited, 10000, 'consumer exit');
    expect(await within(reclaimed, 10000, 'reclaim')).toBe(1);
    expect(producer.consumers).toBe(0);
    expect(producer.stats.consumersReclaimed).toBe(1);
  });
});

describe('slots are never lost, never shared', () => {
  it('a reclaim whose reclaimer was killed half-way is finished by the next reclaim pass', async () => {
    const name = ringName('tombstone');
    const producer = track(Producer.create(name, { capacity: 4096, maxConsumers: 1, livenessIntervalMs: 60000 }));
    const memory = (producer as unknown as { memory: { consumerI32: Int32Array } }).memory;
    const pidIndex = (L.slotOffset(0) - L.CONSUMER_REGION_OFFSET + L.SLOT_PID_OFFSET) >> 2;
    // The slot as a reclaimer leaves it when killed between its CAS and the release: its tombstone.
    expect(Atomics.compareExchange(memory.consumerI32, pidIndex, 0, -(exitedPid()))).toBe(0);
    const consumer = Consumer.open(name);
    expect(Atomics.load(memory.consumerI32, pidIndex)).toBe(process.pid);
    consumer.close();
  });

  it('a consumer whose slot was taken stops writing into it and fails with CONSUMER_EVICTED', async () => {
    const name = ringName('evicted');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name));
    const other = runFixture('ring-correctness-child.js', ['join', JSON.stringify({ name: '/shmring-test.none', tethered: false })]);
    const memory = (consumer as unknown as { memory: { consumerI32: Int32Array } }).memory;
    const at = (field: number) => (L.slotOffset(0) - L.CONSUMER_REGION_OFFSET + field) >> 2;
    // Another live process now owns slot 0 (as if it had reclaimed it and joined), at its own head.
    const theirs = other.process.pid!;
    expect(Atomics.compareExchange(memory.consumerI32, at(L.SLOT_PID_OFFSET), process.pid, theirs)).toBe(process.pid);
    Atomics.store(memory.consumerI32, at(L.SLOT_HEAD_OFFSET), 0x7770);
    for (let i = 0; i < 200; i++) producer.send(i);
    expect(() => {
      while (consumer.tryReceive() !== undefined);
    }).toThrow(expect.objectContaining({ code: 'CONSUMER_EVICTED' }));
    expect(Atomics.load(memory.consumerI32, at(L.SLOT_HEAD_OFFSET))).toBe(0x7770);
    expect(Atomics.load(memory.consumerI32, at(L.SLOT_PID_OFFSET))).toBe(theirs);
    Atomics.store(memory.consumerI32, at(L.SLOT_PID_OFFSET), 0);
  });
});

describe('the producer never sleeps for space it has', () => {
  it('sendSync does not sleep through a release when another consumer cleared the waiting flag first (event count)', () => {
    const name = ringName('lost-wake');
    const producer = track(Producer.create(name, { capacity: 4096, livenessIntervalMs: 60000 }));
    // A reads everything as it comes (never holds the producer back); B lets the ring fill.
    const bystander = track(Consumer.open(name));
    const holder = track(Consumer.open(name));
    const payload = new Uint8Array(100);
    while (producer.sendBytes(payload)) while (bystander.tryReceiveBytes() !== undefined);
    while (bystander.tryReceiveBytes() !== undefined);

    // The interleaving, made deterministic: (1) right after the producer announces its sleep, A releases
    // and clears the flag (freeing no space); (2) after the producer's re-check, just before it sleeps,
    // B reads everything and releases (it sees no waiter: A cleared the flag). With the ticket read after
    // the announcement (layout 1), nothing then moves SPACE_WAKE and the sleep runs to its timeout.
    const memory = (producer as unknown as { memory: { consumerI32: Int32Array } }).memory;
    const futexModule = require('../../src/core/futex') as { wait: (...args: unknown[]) => string };
    const realWait = futexModule.wait;
    const store = Atomics.store;
    const sleeps: string[] = [];
    let announced = false;
    (Atomics as { store: typeof Atomics.store }).store = ((array: Int32Array, index: number, value: number) => {
      const result = store(array, index, value);
      if (!announced && array === memory.consumerI32 && index === PRODUCER_WAITING_CI32 && value === 1) {
        announced = true;
        (bystander as unknown as { reader: { wakeProducer(): void } }).reader.wakeProducer();
      }
      return result;
    }) as typeof Atomics.store;
    futexModule.wait = (buffer: unknown, offset: unknown, expected: unknown) => {
      if (sleeps.length === 0) while (holder.tryReceiveBytes() !== undefined);
      // Bounded: on the broken protocol this sleep would last the whole liveness interval.
      const result = realWait(buffer, offset, expected, 2000);
      sleeps.push(result);
      return result;
    };
    let sent: boolean;
    try {
      sent = producer.sendBytesSync(payload, 10000);
    } finally {
      (Atomics as { store: typeof Atomics.store }).store = store;
      futexModule.wait = realWait;
    }
    expect(announced).toBe(true);
    expect(sent).toBe(true);
    expect(sleeps.length).toBeGreaterThan(0);
    expect(sleeps.filter((result) => result === 'timed-out')).toEqual([]);
  });
});

describe('creation is atomic', () => {
  it('a consumer opening while producers create and close the ring sees a whole ring or none, never a half-made one', async () => {
    const name = ringName('atomic');
    const opener = runFixture('ring-correctness-child.js', ['openLoop', JSON.stringify({ name, ms: 1500 })]);
    await opener.waitForLine((m) => m.ready);
    let created = 0;
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      Producer.create(name, { capacity: 1 << 20 }).close();
      created++;
    }
    const result = await opener.waitForLine((m) => m.done, 20000);
    expect(created).toBeGreaterThan(10);
    // Only "not there (yet, or any more)" and clean opens.
    expect(Object.keys(result.codes).filter((code) => code !== 'SEGMENT_NOT_FOUND')).toEqual([]);
  });

  it('a creator killed at any point leaves nothing under the ring\'s name but a whole ring; its temporary file is removed by the next create', async () => {
    const name = ringName('killed-creator');
    for (let round = 0; round < 5; round++) {
      const creator = runFixture('ring-correctness-child.js', ['createLoop', JSON.stringify({ name })]);
      await creator.waitForLine((m) => m.ready);
      await new Promise((resolve) => setTimeout(resolve, 20 + round * 7));
      creator.process.kill('SIGKILL');
      await within(creator.exited, 10000, 'creator exit');
      if (segmentExists(name)) {
        const snapshot = readSnapshot(name);
        expect({ kind: snapshot.kind, version: snapshot.layoutVersion }).toEqual({ kind: 'ring', version: L.LAYOUT_VERSION });
      }
    }
    // A temporary file of a dead creator, as a kill between create and link leaves it.
    const leftover = `/dev/shm${CREATING_PREFIX}${exitedPid()}-0123456789ab`;
    fs.writeFileSync(leftover, '');
    // Left a while ago (Producer.create leaves the newest to `gc`, so parallel tests do not race it).
    fs.utimesSync(leftover, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const producer = track(Producer.create(name, { capacity: 4096 }));
    expect(fs.existsSync(leftover)).toBe(false);
    producer.close();
  });
});

describe('an abort never reads as a clean end', () => {
  it('with the ring held full by a tethered consumer, so that the ABORT record cannot be written', () => {
    const name = ringName('abort-full');
    const producer = Producer.create(name, { capacity: 4096 });
    const consumer = track(Consumer.open(name));
    let sent = 0;
    while (producer.sendBytes(new Uint8Array(16))) sent++;
    producer.abort(new Error('disk gone'));
    let received = 0;
    expect(() => {
      while (consumer.tryReceiveBytes() !== undefined) received++;
      consumer.receiveBytesSync(10000);
    }).toThrow(expect.objectContaining({ code: 'PRODUCER_ABORTED' }));
    expect(received).toBe(sent);
  });

  it.each([true, false])('with wipeOnClose, which zeroes the ABORT record (tethered: %p)', (tethered) => {
    const name = ringName(`abort-wipe-${tethered}`);
    const producer = Producer.create(name, { capacity: 4096, wipeOnClose: true });
    const consumer = track(Consumer.open(name, { tethered }));
    for (let i = 0; i < 10; i++) producer.send(i);
    producer.abort(new Error('disk gone'));
    expect(() => {
      while (consumer.tryReceive() !== undefined);
    }).toThrow(expect.objectContaining({ code: 'PRODUCER_ABORTED' }));
  });
});

describe('a drained selector still unlinks the rings of crashed producers', () => {
  it('unlinkDead holds after the follower was closed for a drain', async () => {
    const prefix = `${ringName('fanin')}.`;
    const name = trackName(`${prefix}app`);
    const selector = track(Selector.follow(prefix, { unlinkDead: true, rescanIntervalMs: 50 }));
    selector.on('message', () => {});
    const added = new Promise<void>((resolve) => selector.on('ring-added', () => resolve()));
    const removed = new Promise<string>((resolve) => selector.on('ring-removed', (_name: string, reason: string) => resolve(reason)));
    const producer = runFixture('ring-producer.js', [name, '0', 'hold']);
    await within(added, 10000, 'ring added');
    // Drain: stop following; the ring already added stays until its producer ends.
    for (const follower of [...(selector as unknown as { followers: Set<{ close(): void }> }).followers]) follower.close();
    producer.process.kill('SIGKILL');
    await within(producer.exited, 10000, 'producer exit');
    expect(await within(removed, 15000, 'ring removed')).toBe('producer-died');
    expect(segmentExists(name)).toBe(false);
  });
});
