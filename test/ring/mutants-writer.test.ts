/**
 * What the producer's writer (src/ring/writer.ts) promises in docs/protocol.md ("Publishing") and
 * docs/api.md (stats), written against mutants of writer.ts that the in-process suite did not notice
 * (docs/testing.md, "Mutation testing"):
 *   - it never announces an overwrite (TAIL_INTENT) past what the tethered consumers allow, so an
 *     untethered consumer no further behind than the slowest tethered one never looks lapped;
 *   - a slot in the middle of a reclaim (its tombstone in the pid word) holds nobody back;
 *   - it wakes only when a consumer announced its sleep, once per sleep, not once per message;
 *   - a claim committed with fewer bytes takes only the space it used, an aborted one none;
 *   - under cork() a quarter of the ring is published by itself, not less;
 *   - NEXT_SEQUENCE, PUBLISHED_TAIL and the counters go out with each publish, high words included.
 */
import * as fs from 'fs';
import { Consumer, Producer } from '../../src';
import * as L from '../../src/ring/layout';
import { claimSlot, slotWordIndexes } from '../../src/ring/slots';
import { currentProcess } from '../../src/core/liveness';
import { sleeperAnnounced } from '../support/waits';
import { trackRings } from '../support/teardown';
import { CAPACITY, MAX_CONSUMERS, PAYLOAD, PER_RING, RECORD, memoryOf, message } from './mutant-fixtures';

const { ringName, track } = trackRings();

describe('a ring held full by a tethered consumer', () => {
  it('an untethered consumer no further behind than the tethered one reads every message, none lost, no lap', () => {
    const name = ringName('intent-limit');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const tethered = track(Consumer.open(name));
    const untethered = track(Consumer.open(name, { tethered: false }));
    let sent = 0;
    // Over several laps: each round fills the ring, then both read it all.
    for (let round = 0; round < 3; round++) {
      const start = sent;
      while (sent < start + 2 * PER_RING && producer.sendBytes(message(sent))) sent++;
      expect(sent - start).toBe(PER_RING);
      for (const consumer of [untethered, tethered]) {
        const got: number[] = [];
        for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) got.push(bytes[0]);
        expect(got).toEqual(Array.from({ length: PER_RING }, (_, i) => (start + i) & 255));
      }
    }
    expect({ lost: untethered.lost, laps: untethered.stats.laps, received: untethered.received }).toEqual({ lost: 0, laps: 0, received: sent });
  });

  it('a slot in the middle of a reclaim (a tombstone in its pid word) holds the producer back no more', () => {
    const name = ringName('tombstone-limit');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, livenessIntervalMs: 60_000 }));
    const memory = memoryOf(producer);
    // A tethered slot at head 0, whose reclaimer has CASed its tombstone in (the slot is still ACTIVE).
    const own = currentProcess();
    expect(claimSlot(memory, { ...own, pid: process.ppid, startTime: 0 }, true, 0, 0)).toBe(0);
    let sent = 0;
    while (sent < 2 * PER_RING && producer.sendBytes(message(sent))) sent++;
    expect(sent).toBe(PER_RING); // held by the live slot...
    Atomics.store(memory.consumerI32, slotWordIndexes(MAX_CONSUMERS).pid[0], -process.ppid);
    for (let n = 0; n < PER_RING; n++) expect(producer.sendBytes(message(sent++))).toBe(true); // ... not by the tombstone
    Atomics.store(memory.consumerI32, slotWordIndexes(MAX_CONSUMERS).pid[0], 0);
  });
});

describe('waking sleeping consumers', () => {
  it('sends no wake while nobody sleeps, one when a consumer announced its sleep plus the trailing one, and clears the announcement', () => {
    const name = ringName('wakes');
    const producer = track(Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(name));
    for (let n = 0; n < 10; n++) {
      expect(producer.sendBytes(message(n))).toBe(true);
      expect(consumer.tryReceiveBytes()?.[0]).toBe(n);
    }
    expect(producer.stats.wakesSent).toBe(0);
    // The consumer announces its sleep (what every blocking read does before the futex wait).
    expect(consumer._prepareToSleep()).toBeDefined();
    expect(sleeperAnnounced(name)).toBe(true);
    expect(producer.sendBytes(message(10))).toBe(true);
    expect(producer.stats.wakesSent).toBe(1);
    expect(sleeperAnnounced(name)).toBe(false);
    // The next publish wakes once more (the exchange may have taken the announcement of a sleeper that saw
    // the tail just stored: docs/protocol.md, "Sleeping and waking"); later ones, the sleeper not yet back,
    // no more.
    expect(producer.sendBytes(message(11))).toBe(true);
    expect(producer.stats.wakesSent).toBe(2);
    for (let n = 12; n < 20; n++) expect(producer.sendBytes(message(n))).toBe(true);
    expect(producer.stats.wakesSent).toBe(2);
    // A corked batch wakes once, when it is published.
    const got: number[] = [];
    for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) got.push(bytes[0]);
    expect(got.length).toBe(10);
    expect(consumer._prepareToSleep()).toBeDefined();
    producer.cork();
    for (let n = 20; n < 25; n++) expect(producer.sendBytes(message(n))).toBe(true);
    expect(producer.stats.wakesSent).toBe(2);
    producer.uncork();
    expect(producer.stats.wakesSent).toBe(3);
  });
});

describe('claims', () => {
  it('a claim committed with fewer bytes takes only the space it used; an aborted one takes none', () => {
    const producer = track(Producer.create(ringName('claim-shrink'), { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(producer.name));
    const claim = producer.claim(10 * PAYLOAD)!;
    claim.bytes.fill(3, 0, 20);
    claim.commit(20);
    const dropped = producer.claim(PAYLOAD)!;
    dropped.bytes.fill(9);
    dropped.abort();
    expect(producer.sendBytes(message(4))).toBe(true);
    const words = memoryOf(producer).controlI32;
    expect(words[L.PUBLISHED_TAIL_OFFSET >> 2]).toBe(L.recordLength(20) + RECORD);
    expect(producer.stats).toMatchObject({ messagesSent: 2, bytesSent: 20 + PAYLOAD });
    expect(producer.nextSequence).toBe(2);
    expect(Array.from(consumer.tryReceiveBytes()!)).toEqual(new Array(20).fill(3));
    expect(consumer.tryReceiveBytes()?.[0]).toBe(4);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
  });
});

describe('cork()', () => {
  it('publishes by itself once a quarter of the ring is pending, not a record sooner', () => {
    const producer = track(Producer.create(ringName('cork-quarter'), { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS }));
    const consumer = track(Consumer.open(producer.name));
    const quarter = CAPACITY / 4 / RECORD;
    producer.cork();
    for (let n = 0; n < quarter - 1; n++) expect(producer.sendBytes(message(n))).toBe(true);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    expect(producer.sendBytes(message(quarter - 1))).toBe(true);
    let read = 0;
    while (consumer.tryReceiveBytes() !== undefined) read++;
    expect(read).toBe(quarter);
    expect(producer.sendBytes(message(quarter))).toBe(true);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    producer.uncork();
    expect(consumer.tryReceiveBytes()?.[0]).toBe(quarter);
  });
});

describe('the published words', () => {
  function words(name: string): { tail: number; tailHigh: number; next: number; nextHigh: number; messages: number; bytes: number } {
    const file = fs.readFileSync(`/dev/shm${name}`);
    return {
      tail: file.readUInt32LE(L.PUBLISHED_TAIL_OFFSET),
      tailHigh: file.readUInt32LE(L.PUBLISHED_TAIL_HIGH_OFFSET),
      next: file.readUInt32LE(L.NEXT_SEQUENCE_OFFSET),
      nextHigh: file.readUInt32LE(L.NEXT_SEQUENCE_HIGH_OFFSET),
      messages: file.readDoubleLE(L.MESSAGES_SENT_OFFSET),
      bytes: file.readDoubleLE(L.BYTES_SENT_OFFSET),
    };
  }

  it('carry into their high words: the tail past 2^32 bytes, the sequence past 2^32 messages', () => {
    const producer = track(Producer.create(ringName('high-words'), {
      capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, startPosition: L.HIGH_WORD - 2 * RECORD, startSequence: L.HIGH_WORD - 2,
    }));
    const consumer = track(Consumer.open(producer.name));
    expect(words(producer.name)).toMatchObject({ tail: L.HIGH_WORD - 2 * RECORD, tailHigh: 0, next: L.HIGH_WORD - 2, nextHigh: 0 });
    expect(producer.sendBytes(message(0))).toBe(true);
    expect(words(producer.name)).toMatchObject({ tail: L.HIGH_WORD - RECORD, tailHigh: 0, next: L.HIGH_WORD - 1, nextHigh: 0, messages: 1, bytes: PAYLOAD });
    expect(producer.sendBytes(message(1))).toBe(true);
    expect(words(producer.name)).toMatchObject({ tail: 0, tailHigh: 1, next: 0, nextHigh: 1, messages: 2, bytes: 2 * PAYLOAD });
    expect(producer.sendBytes(message(2))).toBe(true);
    expect(words(producer.name)).toMatchObject({ tail: RECORD, tailHigh: 1, next: 1, nextHigh: 1, messages: 3 });
    for (let n = 0; n < 3; n++) expect(consumer.tryReceiveBytes()?.[0]).toBe(n);
    expect(consumer.lastSequence).toBe(L.HIGH_WORD);
  });
});
