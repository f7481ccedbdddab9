/**
 * wipe_on_close in the C producer (native/lib/shmring.c wipe_data; the Node producer's wipeOnClose,
 * test/security/secrets.test.ts): close zeroes the data region, after giving tethered consumers up to a
 * second to read, and consumers still reading end cleanly (counting what they missed) instead of failing
 * with CORRUPT_SEGMENT on the zeroed records.
 */
import * as path from 'path';
import { Consumer, Producer, Segment } from '../../src';
import { readSnapshot } from '../../src/ring/snapshot';
import * as L from '../../src/ring/layout';
import { buildC, finished, killPeers, runPeer, runProgram } from '../support/c-client';
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

// A record is valid until the next read on its consumer: on a ring that will be wiped, records are copies
// (FLAG_WIPE_ON_CLOSE), so one held across the wipe keeps its bytes, and what was not read is counted lost.
it.each(['', 'asan'])('a C consumer holding a record across its producer\'s wipe keeps it whole (build: %s)', async (build) => {
  const name = ringName('c-wipe-hold');
  const producer = runPeer('c', 'send', name, { capacity: CAPACITY, lengths: '1000', wipe: 1, close: 'end', unlink: 0, start: 'stdin' });
  await producer.line((line) => line.ready || line.error);
  const consumer = runProgram(path.join(buildC(), build, 'wipe_hold'), [name], { ASAN_OPTIONS: 'abort_on_error=1:detect_leaks=1' }, 'pipe');
  await consumer.line((line) => line.joined || line.error);
  producer.process.stdin!.write('3\n');
  await consumer.line((line) => line.read === 1000 || line.error);
  // The producer closes: it gives the tethered consumer a second to read the other two, then wipes.
  producer.process.stdin!.end();
  await finished(producer);
  consumer.process.stdin!.end('go\n');
  expect(await finished(consumer)).toMatchObject({ damaged: 0, received: 1, lost: 2, end: 'END' });
});

it('a Node consumer holding a poll() view across a C producer\'s wipe keeps it whole', async () => {
  const name = ringName('c-wipe-view');
  const producer = runPeer('c', 'send', name, { capacity: CAPACITY, lengths: '1000', wipe: 1, close: 'end', unlink: 0, start: 'stdin' });
  await producer.line((line) => line.ready || line.error);
  const consumer = track(Consumer.open(name));
  producer.process.stdin!.write('3\n');
  await producer.line((line) => line.sent === 3 || line.error);
  let held: { bytes: Uint8Array; offset: number; length: number; sequence: number } | undefined;
  expect(consumer.poll((bytes, offset, length, sequence) => (held = { bytes, offset, length, sequence }), 1)).toBe(1);
  producer.process.stdin!.end();
  await finished(producer);
  const { bytes, offset, length, sequence } = held!;
  const view = bytes.subarray(offset, offset + length);
  expect(view.filter((byte, i) => byte !== ((7 * sequence + i) & 0xff)).length).toBe(0);
  expect(consumer.tryReceiveBytes()).toBeUndefined();
  expect(consumer.ended).toBe(true);
  expect({ received: consumer.stats.received, lost: consumer.stats.lost }).toEqual({ received: 1, lost: 2 });
});

it.each(['c', 'ts'])('a %s producer closing with a wipe frees a killed tethered consumer\'s slot instead of waiting for it', async (language) => {
  const name = ringName('c-wipe-dead');
  let cProducer: ReturnType<typeof runPeer> | undefined;
  let tsProducer: Producer | undefined;
  if (language === 'c') {
    cProducer = runPeer('c', 'send', name, { capacity: CAPACITY, lengths: '100', wipe: 1, close: 'end', unlink: 0, start: 'stdin' });
    await cProducer.line((line) => line.ready || line.error);
  } else {
    tsProducer = Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, wipeOnClose: true, unlinkOnClose: false });
  }
  const consumer = runPeer('ts', 'recv', name, { tethered: 1, timeout_ms: 60000 });
  await consumer.line((line) => line.ready || line.error);
  consumer.process.kill('SIGKILL');
  await consumer.exited;
  // Three messages the dead consumer holds unread: the drain would wait its whole second for them.
  if (cProducer) {
    cProducer.process.stdin!.write('3\n');
    await cProducer.line((line) => line.sent === 3 || line.error);
    cProducer.process.stdin!.end();
    await finished(cProducer);
  } else {
    for (let n = 0; n < 3; n++) expect(tsProducer!.sendBytes(new Uint8Array(100))).toBe(true);
    tsProducer!.close();
  }
  expect(readSnapshot(name).counters?.consumersReclaimed).toBe(1);
});

it.each(['c', 'ts'])('a %s producer taking over a wiping producer\'s ring without wiping clears WIPE_ON_CLOSE', async (language) => {
  const name = ringName('c-wipe-takeover');
  // close=none: the C producer with wipe=1 sends, then exits without closing (_exit), as if it had died.
  const first = runPeer('c', 'send', name, { capacity: CAPACITY, count: 3, lengths: '100', wipe: 1, close: 'none' });
  expect((await first.exited).code).toBe(0);
  const flags = (): number => {
    const segment = Segment.open(name);
    try {
      return new Int32Array(segment.map(0, L.PAGE_LENGTH))[L.FLAGS_OFFSET >> 2]!;
    } finally {
      segment.close();
    }
  };
  expect(flags() & L.FLAG_WIPE_ON_CLOSE).toBe(L.FLAG_WIPE_ON_CLOSE);
  if (language === 'ts') {
    const producer = Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, unlinkOnClose: false });
    expect(producer.tookOver).toBe(true);
    expect(flags() & L.FLAG_WIPE_ON_CLOSE).toBe(0);
    producer.close();
  } else {
    const second = runPeer('c', 'send', name, { capacity: CAPACITY, count: 1, lengths: '100', close: 'none' });
    const ready = await second.line((line) => line.ready || line.error);
    expect(ready.tookOver).toBe(true);
    await second.exited;
    expect(flags() & L.FLAG_WIPE_ON_CLOSE).toBe(0);
  }
});

it('a consumer-reclaimed listener that throws during a wiping close() cannot stop the close half-way', async () => {
  const name = ringName('c-wipe-listener');
  const producer = Producer.create(name, { capacity: CAPACITY, maxConsumers: MAX_CONSUMERS, wipeOnClose: true });
  const consumer = runPeer('ts', 'recv', name, { tethered: 1, timeout_ms: 60000 });
  await consumer.line((line) => line.ready || line.error);
  consumer.process.kill('SIGKILL');
  await consumer.exited;
  for (let n = 0; n < 3; n++) expect(producer.sendBytes(new Uint8Array(100).fill(7))).toBe(true);
  producer.on('consumer-reclaimed', () => {
    throw new Error('listener threw');
  });
  let closed = false;
  producer.on('close', () => (closed = true));
  expect(() => producer.close()).toThrow('listener threw');
  // The close completed all the same: 'close' emitted, the ring unlinked, a new producer may take the name.
  expect(closed).toBe(true);
  expect(() => Segment.open(name)).toThrow(expect.objectContaining({ code: 'SEGMENT_NOT_FOUND' }));
  track(Producer.create(name, { capacity: CAPACITY })).close();
});
