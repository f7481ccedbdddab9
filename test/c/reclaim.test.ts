/**
 * A C producer frees the slots of dead consumers while it sends, untethered ones too (they never hold the
 * ring full, the other occasion it reclaims on): once a second, from the send path, at most once per
 * liveness interval, as the Node producer's timer does. Without it a ring whose untethered consumers
 * come and go fills its slot table with the dead. Real processes; the consumer is killed with -9.
 */
import * as L from '../../src/ring/layout';
import { buildC, finished, killPeers, Peer, runPeer, readRing } from '../support/c-client';
import { uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';

const { trackName } = trackRings();
afterEach(killPeers);

beforeAll(() => {
  buildC();
}, 120000);


function slotPids(name: string): number[] {
  const slots = readRing(name, L.MAX_CONSUMERS_OFFSET, 4).readUInt32LE(0);
  return Array.from({ length: slots }, (_, index) => readRing(name, L.slotOffset(index) + L.SLOT_PID_OFFSET, 4).readInt32LE(0));
}

it('frees the slot of an untethered consumer killed with -9 while it goes on sending', async () => {
  const name = trackName(uniqueName('c-reclaim'));
  // liveness_interval_ms is 50 in the tool.
  const producer = runPeer('c', 'send', name, { capacity: 1 << 16, lengths: '10', start: 'stdin', unlink: 1 });
  expect(await producer.line((line) => line.ready || line.error)).toMatchObject({ ready: true });
  const consumer: Peer = runPeer('ts', 'recv', name, { tethered: 0, timeout_ms: 60000 });
  expect(await consumer.line((line) => line.ready || line.error)).toMatchObject({ ready: true });
  expect(slotPids(name)).toContain(consumer.pid);
  consumer.process.kill('SIGKILL');
  expect((await consumer.exited).signal).toBe('SIGKILL');
  // Send, one message at a time, until the slot is free (bounded): the reclaim comes from the send path.
  const deadline = Date.now() + 20000;
  let sent = 0;
  while (slotPids(name).includes(consumer.pid)) {
    if (Date.now() > deadline) throw new Error(`the dead consumer's slot was not freed after ${sent} sends; ${producer.output()}`);
    sent++;
    producer.process.stdin!.write('1\n');
    await producer.line((line) => line.sent === sent);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(readRing(name, L.CONSUMERS_RECLAIMED_OFFSET, 8).readDoubleLE(0)).toBe(1);
  expect(slotPids(name).every((pid) => pid === 0)).toBe(true);
  producer.process.stdin!.end();
  expect(await finished(producer)).toBeDefined();
});
