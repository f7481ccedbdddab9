/**
 * A consumer never sleeps through published data (issue 14: the default path's rounds that collapsed).
 *
 * The interleaving: the producer stores a new tail T1; before it looks at DATA_WAITERS, the consumer reads
 * up to T1, announces its sleep (DATA_WAITERS = 1) and sees T1 again, so it will sleep on T1. The
 * producer's exchange then takes that announcement and wakes: the wake can reach the kernel before the
 * sleeper does, and is lost. With the flag spent, the next publish (T2) woke nobody, and the consumer
 * slept through T2 until its timeout (a whole second by default, with the ring full behind it).
 */
import { Consumer, Producer } from '../../src';
import { AsyncWaiter } from '../../src/core/futex';
import { DATA_WAITERS_CI32 } from '../../src/ring/memory';
import { runFixture, within } from '../support/children';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

describe('the consumer never sleeps through a publish', () => {
  it('is woken by the next publish when the previous one took its announcement after it had seen that tail', async () => {
    const name = ringName('data-wake');
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const consumer = track(Consumer.open(name, { producerCheckIntervalMs: 60000 }));
    const waiter = new AsyncWaiter();
    try {
      const consumerWords = (producer as unknown as { memory: { consumerI32: Int32Array } }).memory.consumerI32;
      const load = Atomics.load;
      let word: ReturnType<Consumer['_prepareToSleep']>;
      let injected = false;
      // The deterministic interleaving: when the producer's publish of message 1 looks at DATA_WAITERS (its
      // tail is already stored), the consumer reads message 1 and announces its sleep on that tail.
      (Atomics as { load: typeof Atomics.load }).load = ((array: Int32Array, index: number) => {
        if (!injected && array === consumerWords && index === DATA_WAITERS_CI32) {
          injected = true;
          expect(consumer.tryReceiveBytes()).toEqual(Uint8Array.of(1));
          word = consumer._prepareToSleep();
        }
        return load(array, index);
      }) as typeof Atomics.load;
      try {
        expect(producer.sendBytes(Uint8Array.of(1))).toBe(true);
      } finally {
        (Atomics as { load: typeof Atomics.load }).load = load;
      }
      expect(injected).toBe(true);
      expect(word).toBeDefined();
      // The announcement was taken (and its wake spent on nobody): the consumer now sleeps on T1.
      expect(Atomics.load(consumerWords, DATA_WAITERS_CI32)).toBe(0);
      const sleep = waiter.wait([word!], 20000);
      expect(producer.sendBytes(Uint8Array.of(2))).toBe(true);
      // Bounded: on the broken protocol this sleep lasts the whole 20 s and ends 'timed-out'.
      const { result } = await sleep;
      expect(result).not.toBe('timed-out');
      expect(consumer.tryReceiveBytes()).toEqual(Uint8Array.of(2));
    } finally {
      waiter.close();
    }
  });
});

it('a producer taking over a ring wakes at its first publish (the one it replaces may have died owing a trailing wake)', async () => {
  const name = ringName('takeover-wake');
  const dead = runFixture('ring-producer.js', [name, '3', 'hold', '4096']);
  await dead.waitForLine((m) => m.sent === 3);
  dead.process.kill('SIGKILL');
  await within(dead.exited, 10000, 'the first producer to die');
  const producer = track(Producer.create(name, { capacity: 4096 }));
  expect(producer.tookOver).toBe(true);
  // Nobody announced a sleep here: the wake is the one the dead producer may have owed.
  expect(producer.sendBytes(new Uint8Array(8))).toBe(true);
  expect(producer.stats.wakesSent).toBe(1);
  expect(producer.sendBytes(new Uint8Array(8))).toBe(true);
  expect(producer.stats.wakesSent).toBe(1);
});
