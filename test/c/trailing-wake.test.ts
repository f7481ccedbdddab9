/**
 * The C producer's trailing wake (native/lib/shmring.c flush(), docs/protocol.md "Sleeping and waking"):
 * a publish whose exchange took a sleeper's announcement makes the next publish wake too, so a consumer
 * that announced after seeing that publish's tail never sleeps through the next one. test/c/trailing_wake.c
 * compiles the library in and counts the wakes; built plain and with ASan + UBSan. (The TypeScript
 * writer's rule is replayed by test/ring/lost-data-wake.test.ts.)
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

it.each(['', 'asan'])('wakes once for the announcement, once more at the next publish, then not (build: %s)', async (build) => {
  const program = runProgram(path.join(buildC(), build, 'trailing_wake'), [ringName('trailing-wake')], { ASAN_OPTIONS: 'abort_on_error=1:detect_leaks=1' });
  expect(await finished(program)).toMatchObject({ ok: true, sent: 3, wakes: [1, 1, 0] });
});

it.each(['', 'asan'])('a producer taking over a ring wakes at its first publish, announced or not (build: %s)', async (build) => {
  const program = runProgram(path.join(buildC(), build, 'trailing_wake'), [ringName('trailing-takeover'), 'takeover'], {
    ASAN_OPTIONS: 'abort_on_error=1:detect_leaks=0', // the first producer dies holding its mapping, on purpose
  });
  expect(await finished(program)).toMatchObject({ ok: true, tookOver: 1, sent: 2, wakes: [1, 0] });
});
