/**
 * examples/workers: a producer process and a consumer in a worker thread, sleeping or busy-spinning;
 * the main thread keeps running; the example exits 0 by itself and leaves /dev/shm clean.
 */
import * as fs from 'fs';
import { within } from '../support/children';
import { ExampleRun, killExamples, runExample, waitForOutput } from '../support/examples';
import { removeSegment, uniqueName } from '../support/names';

const names: string[] = [];

afterEach(() => {
  killExamples();
  for (const name of names.splice(0)) removeSegment(name);
});

function run(args: string[]): ExampleRun {
  return runExample('examples/workers/run.js', args);
}

describe('examples/workers', () => {
  it.each([[[] as string[]], [['--spin']]])('delivers every message to the worker (%j) and exits cleanly', async (extra) => {
    const name = uniqueName('workers');
    names.push(name);
    const example = run(['--seconds', '1.5', '--rate', '5000', '--name', name, ...extra]);
    expect(await within(example.exited, 15000, 'workers exit')).toBe(0);
    const output = example.output();
    expect(output).toMatch(/main thread alive \(\d+ timer ticks\)/);
    const summary = /summary: sent (\d+), worker received (\d+), lost 0; worker exit 0, producer exit 0; \/dev\/shm clean/.exec(output);
    expect(summary).not.toBeNull();
    expect(Number(summary![2])).toBe(Number(summary![1]));
    expect(Number(summary![1])).toBeGreaterThan(0);
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });

  it('shuts down cleanly on SIGINT to the whole process group (Ctrl-C)', async () => {
    const name = uniqueName('workers-int');
    names.push(name);
    const example = run(['--seconds', '60', '--name', name]);
    await waitForOutput(example.output, /main thread alive/, 15000, 'the first status line');
    process.kill(-example.child.pid!, 'SIGINT');
    const code = await within(example.exited, 15000, 'workers exit');
    if (code !== 0) throw new Error(`exit code ${code}; output:\n${example.output()}`);
    expect(example.output()).toMatch(/summary: .* \/dev\/shm clean/);
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });
});
