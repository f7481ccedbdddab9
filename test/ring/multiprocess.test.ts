/**
 * One producer, several consumers, each in its own process: tethered consumers get every message in
 * order; an untethered, deliberately slow one gets an in-order subsequence and counts exactly what it
 * missed; nobody loses a wakeup.
 */
import { Producer } from '../../src';
import { Child, expectExit, runFixture, within } from '../support/children';
import { trackRings } from '../support/teardown';

const { ringName } = trackRings();

/** Until `count` consumers have joined (settled where they start: a message sent after it reaches them). */
async function waitForConsumers(producer: Producer, count: number): Promise<void> {
  await producer.waitForConsumers(count, { timeout: 10_000 });
}

/** Every child exits on its own, with code 0 (a failure shows what it printed). */
async function expectCleanExits(children: Child[]): Promise<void> {
  const exits = await Promise.all(children.map((child) => child.exitedWithin(20_000)));
  exits.forEach((exit, i) => expectExit(exit, { code: 0, signal: null }, `consumer #${i}`));
}

async function produce(producer: Producer, count: number): Promise<void> {
  for (let id = 0; id < count; id++) {
    const message = { id, check: `m${id}` };
    if (!producer.send(message)) await producer.sendAsync(message);
  }
}

describe('one producer, three consumer processes', () => {
  it('delivers every message in order to two tethered consumers while an untethered slow one counts its loss exactly', async () => {
    const name = ringName('mp');
    const producer = Producer.create(name, { capacity: 16 * 1024 });
    try {
      const iterating = runFixture('ring-consumer.js', [name, 'tethered', 'iterate']);
      const events = runFixture('ring-consumer.js', [name, 'tethered', 'events']);
      const slow = runFixture('ring-consumer.js', [name, 'untethered', 'slow']);
      await waitForConsumers(producer, 3);
      const count = 60_000;
      await within(produce(producer, count), 60_000, 'producing');
      producer.close();
      const results = await within(Promise.all([iterating, events, slow].map((c) => c.waitForLine((m) => m.done, 30_000))), 40_000, 'consumers');
      for (const tethered of results.slice(0, 2)) {
        expect(tethered).toMatchObject({ received: count, first: 0, last: count - 1, inOrder: true, contiguous: true, lost: 0 });
        expect(tethered.error).toBeUndefined();
      }
      const untethered = results[2];
      expect(untethered.error).toBeUndefined();
      expect(untethered.inOrder).toBe(true);
      expect(untethered.last).toBe(count - 1);
      expect(untethered.lost).toBeGreaterThan(0); // it was slow on purpose
      expect(untethered.received + untethered.lost).toBe(count); // it joined before the first message
      await expectCleanExits([iterating, events, slow]);
    } finally {
      producer.close();
    }
  });

  it('loses no wakeup on a tiny ring: blocking sendSync against sleeping receiveSync and iterating consumers', async () => {
    const name = ringName('wake');
    const producer = Producer.create(name, { capacity: 4096, maxMessageLength: 256 });
    try {
      const sync = runFixture('ring-consumer.js', [name, 'tethered', 'sync']);
      const iterating = runFixture('ring-consumer.js', [name, 'tethered', 'iterate']);
      await waitForConsumers(producer, 2);
      // ~40 messages fit in the ring: 20 000 messages are ~500 laps, with both sides sleeping often.
      const count = 20_000;
      for (let id = 0; id < count; id++) {
        expect(producer.sendSync({ id, check: `m${id}` }, 10_000)).toBe(true);
      }
      producer.close();
      const results = await Promise.all([sync, iterating].map((c) => c.waitForLine((m) => m.done, 30_000)));
      for (const result of results) {
        expect(result).toMatchObject({ received: count, last: count - 1, inOrder: true, contiguous: true, lost: 0 });
      }
      expect(producer.stats.producerStalls).toBeGreaterThan(0);
      await expectCleanExits([sync, iterating]);
    } finally {
      producer.close();
    }
  });
});
