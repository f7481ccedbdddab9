/** A consumer of a ring whose dead producer was replaced by a new ring learns it at once (RING_REPLACED). */
import { Consumer, Producer, ShmRingError } from '../../src';
import { runFixture, within } from '../support/children';
import { trackRings } from '../support/teardown';

const { ringName } = trackRings();

it('ends a consumer waiting for a restart with RING_REPLACED when the name now holds another ring', async () => {
  const name = ringName('replaced');
  const first = runFixture('ring-producer.js', [name, '3', 'hold', '65536']);
  await first.waitForLine((m) => m.sent === 3);
  const consumer = Consumer.open(name, { from: 'oldest', waitForRestartMs: 60_000, producerCheckIntervalMs: 50 });
  try {
    first.process.kill('SIGKILL');
    await first.exited;
    // A new producer with another capacity cannot continue the old ring: it replaces it.
    const second = Producer.create(name, { capacity: 8192 });
    expect(second.tookOver).toBe(false);
    const received: unknown[] = [];
    let failure: unknown;
    await within(
      (async () => {
        try {
          for await (const value of consumer) received.push(value);
        } catch (error) {
          failure = error;
        }
      })(),
      10_000,
      'the consumer noticing the replacement',
    );
    expect(received).toEqual([0, 1, 2].map((id) => ({ id, check: `m${id}` })));
    expect((failure as ShmRingError).code).toBe('RING_REPLACED');
    second.close();
  } finally {
    consumer.close();
  }
});
