/**
 * examples/c-msgpack: objects a Node producer sends are decoded in C by msgpack-c (through the C client)
 * into the same values, typed arrays and dates included; the ring is gone afterwards.
 */
import * as fs from 'fs';
import { within } from '../support/children';
import { buildC, MSGPACK_HEADER } from '../support/c-client';
import { killExamples, runExample } from '../support/examples';
import { removeSegment, uniqueName } from '../support/names';
import { hasSystemPackage } from '../support/system-packages';

const describeWithMsgpack = hasSystemPackage(MSGPACK_HEADER, 'libmsgpack-dev', 'examples/c-msgpack') ? describe : describe.skip;

const names: string[] = [];

beforeAll(() => {
  buildC();
}, 120000);

afterEach(() => {
  killExamples();
  for (const name of names.splice(0)) removeSegment(name);
});

describeWithMsgpack('examples/c-msgpack', () => {
  it('prints every object the Node producer sent, decoded in C with msgpack-c', async () => {
    const name = uniqueName('c-msgpack');
    names.push(name);
    const example = runExample('examples/c-msgpack/run.js', ['--name', name], { killAfterMs: 20000 });
    const code = await within(example.exited, 20000, 'c-msgpack exit');
    if (code !== 0) throw new Error(`exit code ${code}; output:\n${example.output()}`);
    const lines = example
      .output()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      { ready: true },
      { host: 'web-1', cpu: 0.42, ok: true, tags: ['a', 'b'], n: -5, big: 2 ** 40, none: null },
      { samples: [0.5, -1.25, 3], counts: [-1, 2, 30000] },
      { at: { date: Date.UTC(2026, 11, 2, 6, 0, 0, 250) }, text: 'quote " and \\ backslash' },
      [1, 'two', { three: 3 }],
      { end: 'END' },
    ]);
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });
});
