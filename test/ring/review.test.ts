/** Regressions found by a review of the ring core: waits that could not end, or ended late. */
import { Consumer, Producer } from '../../src';
import { runFixture, within } from '../support/children';
import { segmentExists } from '../support/names';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

it('refuses sendAsync while a claim is open (its wait could never end)', async () => {
  const producer = track(Producer.create(ringName('claim-async'), { capacity: 4096 }));
  const claim = producer.claim(8)!;
  await expect(producer.sendAsync('x', { timeout: 1000 })).rejects.toThrow(/claim is open/);
  claim.commit();
  await producer.sendAsync('x');
});

it('wakes a producer waiting for space when the tethered consumer holding it back closes', async () => {
  const name = ringName('close-wakes');
  // A liveness interval far beyond the bound below: only a wake from close() can end the wait in time.
  const producer = track(Producer.create(name, { capacity: 4096, livenessIntervalMs: 60_000 }));
  const consumer = Consumer.open(name);
  expect(consumer.tryReceive()).toBeUndefined(); // caught up: its published head is the tail
  while (producer.send({ pad: 'x'.repeat(40) }));
  const pending = producer.sendAsync({ last: true });
  setTimeout(() => consumer.close(), 50);
  await within(pending, 10_000, 'sendAsync after the consumer closed');
});

it('lets a process whose send() returned false exit by itself', async () => {
  const name = ringName('stalled');
  const child = runFixture('ring-stalled-sender.js', [name]);
  const line = await child.waitForLine((m) => m.stalledAfter !== undefined);
  expect(line.stalledAfter).toBeGreaterThan(0);
  const run = await within(child.exited, 10_000, 'the stalled producer process to exit');
  expect(run.code).toBe(0);
  expect(segmentExists(name)).toBe(false);
});

it('never overwrites corked records with a claim, so a tethered consumer joining meanwhile loses nothing', () => {
  const name = ringName('cork-claim');
  const producer = track(Producer.create(name, { capacity: 4096, maxMessageLength: 2032 }));
  producer.sendBytes(new Uint8Array(1184).fill(1));
  producer.cork();
  producer.sendBytes(new Uint8Array(984).fill(2));
  const claim = producer.claim(2032)!; // would wrap onto the unpublished 984-byte record
  const consumer = track(Consumer.open(name, { from: 'next' }));
  claim.bytes.fill(3);
  claim.commit();
  producer.uncork();
  const lengths: number[] = [];
  for (let bytes = consumer.tryReceiveBytes(); bytes; bytes = consumer.tryReceiveBytes()) lengths.push(bytes.length);
  expect(lengths).toEqual([2032]);
  expect(consumer.lost).toBe(0);
  expect(consumer.stats.laps).toBe(0);
});
