/**
 * What the producer's writer (src/ring/writer.ts) promises in docs/protocol.md ("Publishing") and
 * docs/api.md (stats), written against mutants of writer.ts that the in-process suite did not notice
 * (docs/testing.md, "Mutation testing"):
 *   - it never announces an overwrite (TAIL_INTENT) past what the tethered consumers allow, so an
 *     untethered consumer no further behind than the slowest tethered one never looks lapped;
 *   - a slot in the middle of a reclaim (its tombstone in the pid word) holds nobody back;
 *   - it wakes only when a consumer announced its sleep, once per sleep, not once per message.
 */
import { Consumer, Producer } from '../../src';
import { claimSlot, slotWordIndexes } from '../../src/ring/slots';
import { currentProcess } from '../../src/core/liveness';
import { sleeperAnnounced } from '../support/waits';
import { trackRings } from '../support/teardown';
import { CAPACITY, MAX_CONSUMERS, PER_RING, memoryOf, message } from './mutant-fixtures';

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
