/**
 * Model-based tests: the ring against a plain array queue, with seeded random message sizes (including
 * empty messages, records that exactly fill the space before the wrap, and the largest allowed), about
 * 100 laps of the ring per case, and positions that start just below the 32-bit wrap.
 */
import { Consumer, Producer } from '../../src';
import { removeSegment, uniqueName } from '../support/names';
import { randomInt, seededRandom, testSeed } from '../support/random';

function fill(bytes: Uint8Array, sequence: number): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = (sequence * 31 + i) & 0xff;
}

function matches(bytes: Uint8Array, sequence: number, length: number): boolean {
  if (bytes.length !== length) return false;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== ((sequence * 31 + i) & 0xff)) return false;
  return true;
}

interface Case {
  seed: number;
  capacity: number;
  startPosition: number;
}

function runCase({ seed, capacity, startPosition }: Case): void {
  const random = seededRandom(seed);
  const name = uniqueName('model');
  const producer = Producer.create(name, { capacity, startPosition });
  const tethered = Consumer.open(name, { tethered: true });
  const tetheredDecoded = Consumer.open(name, { tethered: true });
  const untethered = Consumer.open(name, { tethered: false });
  try {
    const maxLength = producer.maxMessageLength;
    const sentLengths: number[] = [];
    let nextTethered = 0;
    let nextDecoded = 0;
    let untetheredLast = -1;
    let untetheredFirst = -1;
    let untetheredReceived = 0;
    let sentBytes = 0;
    const writer = (producer as unknown as { writer: { committedTail: number } }).writer;

    const drainTethered = (max: number): void => {
      for (let i = 0; i < max; i++) {
        const bytes = tethered.tryReceiveBytes();
        if (bytes === undefined) break;
        const sequence = nextTethered++;
        if (!matches(bytes, sequence, sentLengths[sequence])) {
          throw new Error(`seed ${seed}: tethered consumer got a wrong message #${sequence}`);
        }
      }
    };
    const drainDecoded = (max: number): void => {
      for (let i = 0; i < max; i++) {
        const value = tetheredDecoded.tryReceive() as Uint8Array | undefined;
        if (value === undefined) break;
        const sequence = nextDecoded++;
        if (!(value instanceof Uint8Array) || !matches(value, sequence, sentLengths[sequence])) {
          throw new Error(`seed ${seed}: decoding consumer got a wrong message #${sequence}`);
        }
      }
    };
    const drainUntethered = (max: number): void => {
      for (let i = 0; i < max; i++) {
        const bytes = untethered.tryReceiveBytes();
        if (bytes === undefined) break;
        // The record's own sequence number says which message this is; its bytes must be that message's.
        const sequence = (untethered as unknown as { reader: { sequence: number } }).reader.sequence;
        if (sequence <= untetheredLast || !matches(bytes, sequence, sentLengths[sequence])) {
          throw new Error(`seed ${seed}: untethered consumer got message #${sequence} out of order or torn`);
        }
        untetheredLast = sequence;
        if (untetheredFirst < 0) untetheredFirst = sequence;
        untetheredReceived++;
      }
    };

    const targetBytes = capacity * 100;
    while (sentBytes < targetBytes) {
      const choice = random();
      let length: number;
      if (choice < 0.1) {
        length = 0;
      } else if (choice < 0.25) {
        // Exactly fill what is left before the wrap (or the largest message, when that is too big).
        const toEnd = capacity - (writer.committedTail & (capacity - 1));
        length = Math.min(maxLength, Math.max(0, toEnd - 16));
      } else if (choice < 0.3) {
        length = maxLength;
      } else if (choice < 0.8) {
        length = randomInt(random, 1, 64);
      } else {
        length = randomInt(random, 1, maxLength);
      }
      const bytes = new Uint8Array(length);
      fill(bytes, sentLengths.length);
      let attempts = 0;
      while (!producer.sendBytes(bytes)) {
        // Full: tethered consumers read a random amount (at least one message between them).
        drainTethered(randomInt(random, 1, 8));
        drainDecoded(randomInt(random, 1, 8));
        if (++attempts > 10_000) throw new Error(`seed ${seed}: producer stuck`);
      }
      sentLengths.push(length);
      sentBytes += length + 16;
      if (random() < 0.05) drainUntethered(randomInt(random, 1, 4));
    }
    drainTethered(Infinity);
    drainDecoded(Infinity);
    drainUntethered(Infinity);

    expect({ seed, got: nextTethered }).toEqual({ seed, got: sentLengths.length });
    expect({ seed, got: nextDecoded }).toEqual({ seed, got: sentLengths.length });
    expect(tethered.lost).toBe(0);
    expect(tetheredDecoded.lost).toBe(0);
    // The untethered consumer got an in-order subsequence ending with the last message, and its loss
    // counter says exactly how many it did not get (it joined before the first message).
    expect({ seed, last: untetheredLast }).toEqual({ seed, last: sentLengths.length - 1 });
    expect({ seed, accounted: untetheredReceived + untethered.lost }).toEqual({ seed, accounted: sentLengths.length });
    expect(untetheredFirst).toBeGreaterThanOrEqual(0);
  } finally {
    tethered.close();
    tetheredDecoded.close();
    untethered.close();
    producer.close();
    removeSegment(name);
  }
}

describe('ring against a model queue', () => {
  const baseSeed = testSeed();
  const cases: Case[] = [
    { seed: baseSeed, capacity: 4096, startPosition: 0 },
    { seed: baseSeed + 1, capacity: 8192, startPosition: 0 },
    // Positions start just below 2^32: the 32-bit wrap of every position happens within the first lap.
    { seed: baseSeed + 2, capacity: 4096, startPosition: 2 ** 32 - 4096 },
    { seed: baseSeed + 3, capacity: 16384, startPosition: 2 ** 32 - 48 },
  ];
  it.each(cases)('delivers every message in order to tethered consumers and counts untethered loss exactly (seed $seed, capacity $capacity, start $startPosition)', (c) => {
    try {
      runCase(c);
    } catch (error) {
      console.error(`model test failed with seed ${c.seed} (rerun with SHMRING_SEED=${c.seed})`);
      throw error;
    }
  });

  it('keeps loss exact while positions and sequence numbers both pass 2^32', () => {
    // Small ring, untethered only: the producer laps the consumer constantly while positions wrap.
    const name = uniqueName('wrap');
    const producer = Producer.create(name, { capacity: 4096, startPosition: 2 ** 32 - 2048, startSequence: 2 ** 32 - 500 });
    const consumer = Consumer.open(name, { tethered: false });
    try {
      let received = 0;
      let last = -1;
      let first = -1;
      for (let i = 0; i < 20_000; i++) {
        expect(producer.send(i)).toBe(true);
        if (i % 101 === 0) {
          const value = consumer.tryReceive() as number;
          expect(value).toBeGreaterThan(last);
          if (first < 0) first = value;
          last = value;
          received++;
        }
      }
      let value: unknown;
      while ((value = consumer.tryReceive()) !== undefined) {
        expect(value as number).toBeGreaterThan(last);
        last = value as number;
        received++;
      }
      expect(last).toBe(19_999);
      expect(first).toBeGreaterThanOrEqual(0);
      expect(received + consumer.lost).toBe(20_000);
    } finally {
      consumer.close();
      producer.close();
      removeSegment(name);
    }
  });
});
