/**
 * shmring_send_batch (native/lib/shmring.c): test/c/send_batch.c checks its arguments before anything is
 * written, a partial send when tethered consumers hold the ring full (everything sent published, in order),
 * and the rest in the next call; built plain and with ASan + UBSan. (Its publishing across processes, and
 * to Node consumers, runs in test/c/conformance.test.ts, mode batch.)
 */
import * as path from 'path';
import { buildC, finished, killPeers, runProgram } from '../support/c-client';
import { trackRings } from '../support/teardown';

const { ringName } = trackRings();
afterEach(killPeers);

beforeAll(() => {
  buildC();
  buildC({ asan: true });
}, 120000);

it.each(['', 'asan'])('sends what fits, publishes it, and refuses bad batches before writing anything (build: %s)', async (build) => {
  const program = runProgram(path.join(buildC(), build, 'send_batch'), [ringName('send-batch')], { ASAN_OPTIONS: 'abort_on_error=1:detect_leaks=1' });
  expect(await finished(program)).toMatchObject({ ok: true, first: 128, sent: 300, received: 300, inOrder: true });
});
