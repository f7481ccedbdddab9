/**
 * wipe_on_close in the C producer (native/lib/shmring.c wipe_data; the Node producer's wipeOnClose,
 * test/security/secrets.test.ts): close zeroes the data region, after giving tethered consumers up to a
 * second to read, and consumers still reading end cleanly (counting what they missed) instead of failing
 * with CORRUPT_SEGMENT on the zeroed records.
 */
import { Consumer, Segment } from '../../src';
import * as L from '../../src/ring/layout';
import { buildC, finished, killPeers, runPeer } from '../support/c-client';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();
afterEach(killPeers);

const CAPACITY = 1 << 16;
const MAX_CONSUMERS = 8; // shmring_tool's default

beforeAll(() => {
  buildC();
  buildC({ asan: true });
}, 120000);

/** The data region of ring `name`, mapped now and kept: it sees the same pages after the producer exits. */
function dataRegion(name: string): Uint8Array {
  const segment = track(Segment.open(name));
  return new Uint8Array(segment.map(0, segment.size), L.controlLength(MAX_CONSUMERS), CAPACITY);
}

const nonZero = (bytes: Uint8Array): number => bytes.reduce((count, byte) => count + (byte !== 0 ? 1 : 0), 0);

it.each([
  ['c', 1],
  ['c-asan', 1],
  ['c', 0],
] as const)('a %s producer with wipe=%i leaves the data region zeroed (or not) on close', async (language, wipe) => {
  const name = ringName(`c-wipe-${wipe}`);
  const producer = runPeer(language, 'send', name, { capacity: CAPACITY, lengths: '1000', wipe, close: 'end', unlink: 0, start: 'stdin' });
  await producer.line((line) => line.ready || line.error);
  const data = dataRegion(name);
  producer.process.stdin!.write('40\n');
  await producer.line((line) => line.sent === 40 || line.error);
  expect(nonZero(data)).toBeGreaterThan(20000);
  producer.process.stdin!.end();
  await finished(producer);
  if (wipe) expect(nonZero(data)).toBe(0);
  else expect(nonZero(data)).toBeGreaterThan(20000);
});

it.each([true, false])('a Node consumer (tethered: %p) still reading when a C producer wipes ends cleanly, counting its loss', async (tethered) => {
  const name = ringName('c-wipe-reader');
  const producer = runPeer('c', 'send', name, { capacity: CAPACITY, lengths: '100', wipe: 1, close: 'end', unlink: 0, start: 'stdin' });
  await producer.line((line) => line.ready || line.error);
  const consumer = track(Consumer.open(name, { tethered }));
  producer.process.stdin!.write('3\n');
  await producer.line((line) => line.sent === 3 || line.error);
  expect(consumer.tryReceiveBytes()).toBeDefined();
  // The producer closes: the tethered consumer is given a second to read the rest, and does not.
  producer.process.stdin!.end();
  await finished(producer);
  const rest: number[] = [];
  for (let bytes = consumer.tryReceiveBytes(); bytes !== undefined; bytes = consumer.tryReceiveBytes()) rest.push(bytes.length);
  expect(consumer.ended).toBe(true);
  // Nothing unread survived the wipe: both unread messages are counted lost, none delivered from zeroes.
  expect({ rest, received: consumer.stats.received, lost: consumer.stats.lost }).toEqual({ rest: [], received: 1, lost: 2 });
});
