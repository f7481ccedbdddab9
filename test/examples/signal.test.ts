/**
 * examples/signal: source ─▶ process ─▶ sink in three processes over two rings, end to end: every frame
 * arrives at real-time speed, the shutdown (by time or by signal) is clean and /dev/shm is left empty.
 */
import * as fs from 'fs';
import { within } from '../support/children';
import { ExampleRun, killExamples, runExample, waitForOutput } from '../support/examples';
import { removeSegment, uniqueName } from '../support/names';
import { buildC, MSGPACK_HEADER } from '../support/c-client';
import { hasSystemPackage } from '../support/system-packages';

const names: string[] = [];

afterEach(() => {
  killExamples();
  for (const name of names.splice(0)) {
    removeSegment(`${name}.frames`);
    removeSegment(`${name}.results`);
  }
});

function run(args: string[]): ExampleRun {
  return runExample('examples/signal/run.js', args);
}

function leftovers(name: string): string[] {
  return fs.readdirSync('/dev/shm').filter((file) => file.startsWith(`${name.slice(1)}.`));
}

describe('examples/signal', () => {
  it('carries every frame through the chain at real time, then shuts down cleanly', async () => {
    const name = uniqueName('signal');
    names.push(name);
    const chain = run(['--seconds', '2', '--name', name]);
    expect(await within(chain.exited, 15000, 'signal exit')).toBe(0);
    const output = chain.output();
    expect(output).toMatch(/sink:\s+\d+ frames\/s\s+rms \d\.\d{3}\s+peak \d\.\d{3}\s+lost 0/);
    const summary = /summary: source (\d+) frames, processed (\d+), sink (\d+) received, (\d+) lost; \/dev\/shm clean/.exec(output);
    expect(summary).not.toBeNull();
    const [, source, processed, sink, lost] = summary!.map(Number);
    expect(source).toBeGreaterThan(20); // ~47 frames per second
    expect(processed).toBe(source);
    expect(sink).toBe(source);
    expect(lost).toBe(0);
    expect(leftovers(name)).toEqual([]);
  });

  it('shuts down cleanly on SIGINT to the whole process group (Ctrl-C)', async () => {
    const name = uniqueName('signal-int');
    names.push(name);
    const chain = run(['--seconds', '60', '--name', name]);
    await waitForOutput(chain.output, /sink:\s+\d+ frames\/s/, 15000, 'the first sink line');
    process.kill(-chain.child.pid!, 'SIGINT');
    const code = await within(chain.exited, 15000, 'signal exit');
    if (code !== 0) throw new Error(`exit code ${code}; output:\n${chain.output()}`);
    expect(chain.output()).toMatch(/summary: .* \/dev\/shm clean/);
    expect(leftovers(name)).toEqual([]);
  });
});

(hasSystemPackage(MSGPACK_HEADER, 'libmsgpack-dev', 'examples/signal with C stages') ? describe : describe.skip)('examples/signal with C stages (examples/signal/c)', () => {
  beforeAll(() => {
    buildC();
  }, 120000);

  it.each([
    ['--c-source', 'a C source (claim/commit of Float32 frames) read by the Node processing stage'],
    ['--c-stage', 'a Node source read by a C processing stage that publishes MessagePack to the Node sink'],
  ])('%s: %s carries every frame through the chain', async (flag) => {
    const name = uniqueName('signal-c');
    names.push(name);
    const chain = run(['--seconds', '2', '--name', name, flag]);
    const code = await within(chain.exited, 15000, 'signal exit');
    if (code !== 0) throw new Error(`exit code ${code}; output:\n${chain.output()}`);
    const output = chain.output();
    expect(output).toContain(flag === '--c-source' ? 'source in C, processing in Node' : 'source in Node, processing in C');
    expect(output).toMatch(/sink:\s+\d+ frames\/s\s+rms \d\.\d{3}\s+peak \d\.\d{3}\s+lost 0/);
    const summary = /summary: source (\d+) frames, processed (\d+), sink (\d+) received, (\d+) lost; \/dev\/shm clean/.exec(output);
    expect(summary).not.toBeNull();
    const [, source, processed, sink, lost] = summary!.map(Number);
    expect(source).toBeGreaterThan(20);
    expect(processed).toBe(source);
    expect(sink).toBe(source);
    expect(lost).toBe(0);
    expect(leftovers(name)).toEqual([]);
  });

  it('shuts a chain of C source and C stage down cleanly on SIGINT to the whole process group', async () => {
    const name = uniqueName('signal-c-int');
    names.push(name);
    const chain = run(['--seconds', '60', '--name', name, '--c-source', '--c-stage']);
    await waitForOutput(chain.output, /sink:\s+\d+ frames\/s/, 15000, 'the first sink line');
    process.kill(-chain.child.pid!, 'SIGINT');
    const code = await within(chain.exited, 15000, 'signal exit');
    if (code !== 0) throw new Error(`exit code ${code}; output:\n${chain.output()}`);
    expect(chain.output()).toMatch(/summary: .* \/dev\/shm clean/);
    expect(leftovers(name)).toEqual([]);
  });
});
