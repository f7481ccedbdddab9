/**
 * shmring_wait_any (native/lib/shmring.c): one C consumer sleeping on several rings at once, woken by
 * whichever producer publishes, C or TypeScript. test/c/wait_any.c reads three rings to their END with it,
 * checking every byte and each ring's order, with its periodic producer check stretched to 10 minutes so
 * that a lost wake on any ring hangs it (and fails the bounded wait). Built plain and with ASan + UBSan.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildC, finished, killPeers, Peer, runPeer, runProgram } from '../support/c-client';
import { trackRings } from '../support/teardown';

const { ringName } = trackRings();
afterEach(killPeers);

const PER_RING = 3000;
const ASAN = { ASAN_OPTIONS: 'abort_on_error=1:detect_leaks=1' };

beforeAll(() => {
  buildC();
  buildC({ asan: true });
}, 120000);

it.each(['', 'asan'])('reads two C producers and a TypeScript producer to their ends, sleeping on all three (build: %s)', async (build) => {
  const names = [0, 1, 2].map((i) => ringName(`wait-any-${i}`));
  const fenceStress = path.join(buildC(), 'fence_stress');
  // Two C producers (release-store publish: the consumer's one membarrier covers both), 0-200 µs apart, so
  // the consumer keeps running dry and sleeping.
  const cProducers: Peer[] = [];
  for (const name of names.slice(0, 2)) {
    const producer = runProgram(fenceStress, ['producer', name, String(PER_RING), '0', '200000'], {}, 'pipe');
    await producer.line((line) => line.ready || line.error);
    cProducers.push(producer);
  }
  const tsProducer = runPeer('ts', 'send', names[2]!, { count: PER_RING, lengths: '8', mode: 'wait', close: 'end', start: 'signal' });
  await tsProducer.line((line) => line.ready || line.error);
  const consumer = runProgram(path.join(buildC(), build, 'wait_any'), names, ASAN);
  await consumer.line((line) => line.joined || line.error);
  for (const producer of cProducers) producer.process.stdin!.end('go\n');
  tsProducer.process.kill('SIGUSR2');
  const sent = await Promise.all(cProducers.map((producer) => finished(producer, 60000)));
  await finished(tsProducer, 60000);
  const result = await finished(consumer, 60000);
  expect(result).toMatchObject({
    received: [PER_RING, PER_RING, PER_RING],
    ended: ['END', 'END', 'END'],
    invalid: ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'],
  });
  // It slept and was woken (the C producers count their wakes; how often depends on the machine's load),
  // one ring's readiness per wait, never more waits than messages and ends.
  for (const line of sent) expect(line.wakes).toBeGreaterThan(0);
  expect(result.waits).toBeGreaterThan(0);
  expect(result.waits).toBeLessThan(3 * PER_RING + 3);
}, 150000);

it('without futex_waitv (refused, as by a seccomp filter) it polls every 10 ms instead of spinning', async () => {
  const names = [0, 1].map((i) => ringName(`wait-any-idle-${i}`));
  const producers = [];
  for (const name of names) {
    const producer = runPeer('c', 'send', name, { start: 'stdin' });
    await producer.line((line) => line.ready || line.error);
    producers.push(producer);
  }
  const counts = path.join(os.tmpdir(), `shmring-waitv-${process.pid}-${Date.now()}`);
  const consumer = runProgram(path.join(buildC(), 'wait_any'), ['idle', '500', ...names], {
    LD_PRELOAD: path.join(buildC(), 'membarrier_shim.so'),
    SHMRING_TEST_MEMBARRIER_COUNT: counts,
    SHMRING_TEST_REFUSE_WAITV: '1',
  });
  expect(await finished(consumer)).toMatchObject({ result: 'TIMEOUT' });
  const waitvCalls = Number(fs.readFileSync(counts, 'utf8').split(' ')[1]);
  fs.rmSync(counts, { force: true });
  // One refused futex_waitv per 10 ms poll: about 50 in 500 ms (fewer on a loaded machine), where a
  // retry at once made millions.
  expect(waitvCalls).toBeGreaterThan(0);
  expect(waitvCalls).toBeLessThanOrEqual(60);
  for (const producer of producers) producer.process.stdin!.end();
  for (const producer of producers) await finished(producer);
});
