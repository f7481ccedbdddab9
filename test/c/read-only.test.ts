/**
 * The C client's read-only consumer: a user who may only read a ring (here `nobody`, on a root ring of
 * mode 0o644) joins as an untethered consumer without a slot, maps everything read-only, reads what is
 * there and what is sent while it runs (it polls: it cannot announce a sleep), counts loss exactly, and ends with
 * the producer; a tethered one is refused (it would need a slot). Built plain and with ASan + UBSan.
 */
import * as path from 'path';
import { Producer } from '../../src';
import { buildC, finished, killPeers, ROOT, runProgram } from '../support/c-client';
import { NOBODY, nobodyUnavailable } from '../support/nobody';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();
afterEach(killPeers);

beforeAll(() => {
  buildC();
  buildC({ asan: true });
}, 120000);

const skipReason = nobodyUnavailable('c-peer.js');
if (skipReason) console.warn(`c/read-only: skipped: ${skipReason}`);
const itAsNobody = skipReason ? it.skip : it;

function tool(build: string, args: string[]) {
  return runProgram(path.join(ROOT, 'build', 'c', build, 'shmring_tool'), args, { ASAN_OPTIONS: 'abort_on_error=1:detect_leaks=1' }, 'ignore', NOBODY);
}

describe.each(['', 'asan'])('a C consumer that may only read the ring (build: %s)', (build) => {
  itAsNobody('joins untethered without a slot, reads everything and what comes later, and ends with the producer', async () => {
    const name = ringName('c-read-only');
    const producer = track(Producer.create(name, { capacity: 4096, mode: 0o644 }));
    for (let i = 0; i < 3; i++) expect(producer.sendBytes(Uint8Array.from({ length: 10 }, (_, b) => (i * 7 + b) & 0xff))).toBe(true);
    const consumer = tool(build, ['recv', name, 'tethered=0', 'from=oldest', 'foreign=1', 'timeout_ms=20000']);
    expect(await consumer.line((line) => line.ready || line.error)).toMatchObject({ ready: true, readOnly: true });
    // It took no slot: it could not write one.
    expect(producer.consumers).toBe(0);
    // It reads what is there, and what is sent while it runs (waiting, it polls: it cannot announce a sleep).
    for (let i = 3; i < 6; i++) expect(producer.sendBytes(Uint8Array.from({ length: 10 }, (_, b) => (i * 7 + b) & 0xff))).toBe(true);
    producer.close();
    const done = await finished(consumer);
    expect(done).toMatchObject({ status: 'END', received: 6, lost: 0, gaps: 0, dups: 0, bad: 0, first: 0, last: 5 });
  });

  itAsNobody('as a tethered consumer is PERMISSION_DENIED (a tethered consumer needs a slot)', async () => {
    const name = ringName('c-read-only-tethered');
    track(Producer.create(name, { capacity: 4096, mode: 0o644 }));
    const consumer = tool(build, ['recv', name, 'tethered=1', 'foreign=1']);
    expect(await consumer.line((line) => line.ready || line.error)).toMatchObject({ error: 'PERMISSION_DENIED', where: 'open' });
  });
});
