/**
 * Invariants the docs promise that a one-line bug could break without any other test noticing: each test
 * here kills a mutant that survived the suite before (docs/testing.md, mutation testing).
 *   - a record that would run past the end of the ring is CORRUPT_SEGMENT, for tethered readers too
 *     (which hand out views into the ring and do not otherwise validate records);
 *   - an untethered reader re-checks, after copying a record, that the producer had not started
 *     overwriting it: a record overwritten during the copy is never delivered;
 *   - a tethered consumer whose liveness is 'unknown' (another pid namespace) is never reclaimed as dead;
 *   - an END left by an earlier producer does not end a ring another producer took over.
 * Damage is written through a second, writable mapping of the segment, at offsets named in
 * src/ring/layout.ts.
 */
import { spawn } from 'child_process';
import { Consumer, Producer, Segment, ShmRingError } from '../../src';
import { currentProcess } from '../../src/core/liveness';
import * as L from '../../src/ring/layout';
import { PUBLISHED_TAIL_I32, RingMemory } from '../../src/ring/memory';
import { claimSlot } from '../../src/ring/slots';
import { randomInt, seededRandom, testSeed } from '../support/random';
import { trackRings } from '../support/teardown';
import { withInstantDrain } from '../support/waits';

const { ringName, track } = trackRings();

function memoryOf(endpoint: Producer | Consumer): RingMemory {
  return (endpoint as unknown as { memory: RingMemory }).memory;
}

/** A writable view of the data region of ring `name` (what any process with write access can do). */
function writableData(name: string, maxConsumers: number, capacity: number): DataView {
  const segment = track(Segment.open(name));
  return new DataView(segment.map(0, segment.size, { writable: true }), L.controlLength(maxConsumers), capacity);
}

/** The ShmRingError code `fn` throws (undefined if it returns); anything else thrown fails the test. */
function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ShmRingError) return error.code;
    throw error;
  }
  return undefined;
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

const CAPACITY = 4096;
const MAX_CONSUMERS = 4;
/** 48-byte payloads: 64-byte records, 64 to a ring. */
const PAYLOAD = 48;
const RECORD = L.recordLength(PAYLOAD);
const PER_RING = CAPACITY / RECORD;

describe('a record header that runs past the end of the ring', () => {
  it.each([true, false])('is CORRUPT_SEGMENT for a reader (tethered: %p), never a RangeError or a view past the ring', (tethered) => {
    const name = ringName('past-end');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name, { tethered }));
    // For an untethered reader, a tethered one reading in step keeps the producer from lapping it.
    const readers = tethered ? [consumer] : [consumer, track(Consumer.open(name))];
    const data = writableData(name, MAX_CONSUMERS, CAPACITY);
    const send = (n: number): void => expect(producer.sendBytes(new Uint8Array(PAYLOAD).fill(n))).toBe(true);
    // Three quarters of a ring sent and read (the readers caught up, their heads released)...
    const read = (PER_RING * 3) / 4;
    for (let n = 0; n < read; n++) send(n);
    for (const reader of readers) for (let n = 0; n < read; n++) expect(reader.tryReceiveBytes()?.[0]).toBe(n);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    // ... then the rest of the ring and a few records past the wrap, all published.
    for (let n = read; n < PER_RING + 8; n++) send(n);
    // The second unread record now claims the longest payload allowed, which runs past the end of the
    // ring while staying within what is published.
    const victim = (read + 1) * RECORD;
    expect(victim + L.recordLength(producer.maxMessageLength)).toBeGreaterThan(CAPACITY);
    expect(victim + L.recordLength(producer.maxMessageLength)).toBeLessThanOrEqual((PER_RING + 8) * RECORD);
    data.setInt32(victim + L.RECORD_LENGTH_OFFSET, producer.maxMessageLength, true);
    // The record before it is delivered intact; that one is CORRUPT_SEGMENT.
    expect(consumer.tryReceiveBytes()?.[0]).toBe(read);
    expect(codeOf(() => consumer.tryReceiveBytes())).toBe('CORRUPT_SEGMENT');
  });
});

describe('an untethered reader copying a record the producer overwrites meanwhile', () => {
  it('never delivers the torn copy: it counts the overwritten records as lost and goes on', () => {
    const name = ringName('torn-copy');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name, { tethered: false }));
    // Message n: every byte n, length PAYLOAD + 16 * (n % 3): a copy that mixes two messages shows as a
    // mix of bytes or a wrong length.
    const message = (n: number): Uint8Array => new Uint8Array(PAYLOAD + 16 * (n % 3)).fill(n & 255);
    let sent = 0;
    for (; sent < 10; sent++) expect(producer.sendBytes(message(sent))).toBe(true);
    expect(Array.from(consumer.tryReceiveBytes()!)).toEqual(Array.from(message(0)));

    // The copy of the next record (into the reader's private buffer) is where the producer strikes: just
    // before the bytes are copied, it overwrites the whole ring (a ring's worth of new messages, its
    // intent raised past the record), as a producer running on another core could.
    const ringBuffer = memoryOf(consumer).dataBytes.buffer;
    const realSet = Uint8Array.prototype.set;
    let struck = false;
    Uint8Array.prototype.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
      if (!struck && ArrayBuffer.isView(source) && source.buffer === ringBuffer) {
        struck = true;
        Uint8Array.prototype.set = realSet;
        const lapAt = sent + PER_RING + 4;
        for (; sent < lapAt; sent++) producer.sendBytes(message(sent));
      }
      return realSet.call(this, source as ArrayLike<number>, offset);
    } as typeof Uint8Array.prototype.set;
    const delivered: Uint8Array[] = [];
    try {
      for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) delivered.push(bytes.slice());
    } finally {
      Uint8Array.prototype.set = realSet;
    }
    // The copy really raced with the overwrite (else this test proves nothing).
    expect(struck).toBe(true);
    // Everything delivered is a whole message, in order; what was missed is counted as lost.
    const ids = delivered.map((bytes) => bytes[0]);
    for (const bytes of delivered) expect(Array.from(bytes)).toEqual(Array.from(message(bytes[0])));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(ids).not.toContain(1); // the record torn by the overwrite
    expect(1 + delivered.length + consumer.lost).toBe(sent);
    // A torn copy is loss, not the end of the stream: the reader went on to the newest message.
    expect(consumer.ended).toBe(false);
    expect(ids[ids.length - 1]).toBe((sent - 1) & 255);
  });
});

describe("a tethered consumer whose liveness is 'unknown'", () => {
  it('(its pid in another pid namespace) holds the producer back and is never reclaimed as dead', async () => {
    const name = ringName('unknown-liveness');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, livenessIntervalMs: 1 }));
    const memory = memoryOf(producer);
    // A consumer registered from another pid namespace (a container): its pid means nothing here, even a
    // pid no process of ours has.
    const own = currentProcess();
    const foreign = { pid: await deadPid(), startTime: 1, pidNamespace: own.pidNamespace + 1 };
    expect(claimSlot(memory, foreign, true, Atomics.load(memory.controlI32, PUBLISHED_TAIL_I32), 0)).toBeGreaterThanOrEqual(0);
    let sent = 0;
    while (producer.sendBytes(new Uint8Array(PAYLOAD)) && sent < 1000) sent++;
    expect(sent).toBe(PER_RING);
    // Liveness checks run (interval 1 ms) on every attempt and in the blocking send's waits.
    for (let i = 0; i < 20; i++) expect(producer.sendBytes(new Uint8Array(PAYLOAD))).toBe(false);
    expect(producer.sendSync(new Uint8Array(PAYLOAD), 50)).toBe(false);
    expect(producer.stats.consumersReclaimed).toBe(0);
    expect(producer.consumers).toBe(1);
  });
});

describe('an END left by an earlier producer', () => {
  it('does not end a ring another producer took over: consumers read across it', () => {
    const name = ringName('old-end');
    const first = Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, unlinkOnClose: false });
    const present = track(Consumer.open(name, { waitForRestartMs: 30_000 }));
    first.send({ from: 'first' });
    first.close(); // leaves an END record behind
    const second = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, existing: 'takeover' }));
    expect(second.tookOver).toBe(true);
    second.send({ from: 'second' });
    const late = track(Consumer.open(name, { from: 'oldest' }));
    for (const consumer of [present, late]) {
      expect(consumer.tryReceive()).toEqual({ from: 'first' });
      expect(consumer.tryReceive()).toEqual({ from: 'second' });
      expect(consumer.tryReceive()).toBeUndefined();
      expect(consumer.ended).toBe(false);
    }
    // The second producer's own END does end them.
    second.close();
    for (const consumer of [present, late]) {
      expect(consumer.tryReceive()).toBeUndefined();
      expect(consumer.ended).toBe(true);
    }
  });
});

describe('an untethered reader lapped again and again (in this process, so mutation testing sees it)', () => {
  it('delivers an in-order subsequence of whole messages and counts exactly what it missed, over many laps', () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const name = ringName('lapped');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name, { tethered: false }));
    // Message n: its id in the first 4 bytes, then n & 255 repeated; 0..200 bytes past the id.
    const message = (n: number): Uint8Array => {
      const bytes = new Uint8Array(4 + randomInt(random, 0, 200)).fill(n & 255);
      new DataView(bytes.buffer).setUint32(0, n, true);
      return bytes;
    };
    const whole = (bytes: Uint8Array): boolean => bytes.subarray(4).every((b) => b === (new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true) & 255));
    let sent = 0;
    const ids: number[] = [];
    const torn: number[] = [];
    for (let round = 0; round < 300; round++) {
      // Bursts from a few messages to several rings' worth, then reads of a random count.
      const burst = randomInt(random, 1, random() < 0.2 ? 200 : 20);
      for (let i = 0; i < burst; i++, sent++) expect(producer.sendBytes(message(sent))).toBe(true);
      const reads = randomInt(random, 0, 30);
      for (let i = 0; i < reads; i++) {
        const bytes = consumer.tryReceiveBytes();
        if (bytes === undefined) break;
        ids.push(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true));
        if (!whole(bytes)) torn.push(ids[ids.length - 1]);
      }
    }
    for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) {
      ids.push(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true));
      if (!whole(bytes)) torn.push(ids[ids.length - 1]);
    }
    const inOrder = ids.every((id, i) => i === 0 || id > ids[i - 1]);
    expect({ seed, torn, inOrder, last: ids[ids.length - 1], exact: consumer.received + consumer.lost }).toEqual({
      seed,
      torn: [],
      inOrder: true,
      last: sent - 1,
      exact: sent,
    });
    expect(consumer.received).toBe(ids.length);
    expect(consumer.stats.laps).toBeGreaterThan(0);
    expect(consumer.lost).toBeGreaterThan(0);
  });

  it.each([true, false])('a producer closing with wipeOnClose ends a reader (tethered: %p) that had not read everything, counting the rest as lost', (tethered) => {
    const name = ringName('wiped');
    const producer = Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, wipeOnClose: true, unlinkOnClose: false });
    track({ close: () => producer.close() });
    const consumer = track(Consumer.open(name, { tethered }));
    for (let n = 0; n < 10; n++) expect(producer.sendBytes(new Uint8Array(PAYLOAD).fill(n))).toBe(true);
    for (let n = 0; n < 3; n++) expect(consumer.tryReceiveBytes()?.[0]).toBe(n);
    // The drain before the wipe cannot end early: this thread's consumer reads nothing meanwhile.
    withInstantDrain(() => producer.close());
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    expect({ ended: consumer.ended, received: consumer.received, lost: consumer.lost }).toEqual({ ended: true, received: 3, lost: 7 });
  });
});

/** The control region of ring `name`, writable (and a copy function for comparing it). */
function writableControl(name: string, maxConsumers: number): Int32Array {
  const segment = track(Segment.open(name));
  return new Int32Array(segment.map(0, segment.size, { writable: true }), 0, L.controlLength(maxConsumers) >> 2);
}

describe('what a reader checks in each record header', () => {
  function ringWithRecords(tag: string, count: number) {
    const name = ringName(tag);
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name));
    for (let n = 0; n < count; n++) expect(producer.sendBytes(new Uint8Array(PAYLOAD).fill(n))).toBe(true);
    return { name, producer, consumer, data: writableData(name, MAX_CONSUMERS, CAPACITY), control: writableControl(name, MAX_CONSUMERS) };
  }

  it('a payload length over maxMessageLength (but inside the ring and what is published) is CORRUPT_SEGMENT, named and with a hint', () => {
    const { name, producer, consumer, data } = ringWithRecords('too-long', 30);
    const tooLong = producer.maxMessageLength + L.RECORD_ALIGNMENT;
    expect(L.recordLength(tooLong)).toBeLessThanOrEqual(30 * RECORD);
    data.setInt32(L.RECORD_LENGTH_OFFSET, tooLong, true);
    let error: ShmRingError | undefined;
    try {
      consumer.tryReceiveBytes();
    } catch (caught) {
      error = caught as ShmRingError;
    }
    expect(error).toBeInstanceOf(ShmRingError);
    expect(error!.code).toBe('CORRUPT_SEGMENT');
    expect(error!.message).toContain(name);
    expect(error!.message).toContain('position 0');
    expect(error!.message).toContain(`length ${tooLong}`);
    expect(error!.segment).toBe(name);
    expect(error!.hint).toContain('shmring inspect');
  });

  it('a published tail off the record alignment is CORRUPT_SEGMENT before anything is delivered', () => {
    const { consumer, control } = ringWithRecords('odd-tail', 2);
    const tail = Atomics.load(control, PUBLISHED_TAIL_I32);
    Atomics.store(control, PUBLISHED_TAIL_I32, tail + L.RECORD_ALIGNMENT / 4);
    expect(codeOf(() => consumer.tryReceiveBytes())).toBe('CORRUPT_SEGMENT');
  });
});

describe('what a reader hands out and publishes', () => {
  it('a tethered reader hands out views into the ring (zero copy); an untethered one, private copies', () => {
    const name = ringName('views');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const tethered = track(Consumer.open(name));
    const untethered = track(Consumer.open(name, { tethered: false }));
    producer.sendBytes(Uint8Array.of(1, 2, 3));
    const view = tethered.tryReceiveBytes()!;
    const copy = untethered.tryReceiveBytes()!;
    expect([Array.from(view), Array.from(copy)]).toEqual([[1, 2, 3], [1, 2, 3]]);
    expect(view.buffer).toBe(memoryOf(tethered).data);
    expect(copy.buffer).not.toBe(memoryOf(untethered).data);
  });

  it('an untethered reader without a slot (all taken) writes nothing into the control region', () => {
    const name = ringName('slotless');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: 1 }));
    track(Consumer.open(name, { tethered: false })); // takes the only slot
    const slotless = track(Consumer.open(name, { tethered: false }));
    for (let n = 0; n < 20; n++) producer.sendBytes(new Uint8Array(PAYLOAD).fill(n));
    const control = writableControl(name, 1);
    const before = Array.from(control);
    const got: number[] = [];
    for (let bytes = slotless.tryReceiveBytes(); bytes !== undefined; bytes = slotless.tryReceiveBytes()) got.push(bytes[0]);
    expect(got).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(Array.from(control)).toEqual(before);
  });

  it('a reader about to sleep is told to read instead when data is already there', () => {
    const name = ringName('no-sleep');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    for (const tethered of [true, false]) {
      const consumer = track(Consumer.open(name, { tethered }));
      expect(consumer._prepareToSleep()).toBeDefined();
      producer.sendBytes(Uint8Array.of(7));
      expect(consumer._prepareToSleep()).toBeUndefined();
      expect(Array.from(consumer.tryReceiveBytes()!)).toEqual([7]);
      expect(consumer._prepareToSleep()).toBeDefined();
      consumer.close();
    }
  });

  it.each([true, false])('counts exactly: every message received, none lost, the END not counted (tethered: %p)', (tethered) => {
    const name = ringName('counts');
    const producer = Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS });
    track({ close: () => producer.close() });
    // Joined after 5 messages: those are not its loss.
    for (let n = 0; n < 5; n++) producer.sendBytes(new Uint8Array(PAYLOAD).fill(n));
    const consumer = track(Consumer.open(name, { tethered }));
    for (let n = 5; n < 25; n++) producer.sendBytes(new Uint8Array(PAYLOAD).fill(n));
    producer.close();
    const got: number[] = [];
    for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) got.push(bytes[0]);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i + 5));
    expect({ ended: consumer.ended, received: consumer.received, lost: consumer.lost }).toEqual({ ended: true, received: 20, lost: 0 });
  });
});
