/**
 * examples/demo (npm run demo): runs end to end in real processes, stops by itself or on a signal, exits
 * 0, and leaves nothing in /dev/shm.
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
  return runExample('examples/demo/run.js', args);
}

function shmEntries(name: string): string[] {
  return fs.readdirSync('/dev/shm').filter((file) => file === name.slice(1));
}

describe('examples/demo', () => {
  it('runs for --seconds with one line per second, shuts down cleanly, exits 0 and leaves /dev/shm clean', async () => {
    const demo = run(['--seconds', '2']);
    const code = await within(demo.exited, 15000, 'demo exit');
    const output = demo.output();
    expect(code).toBe(0);
    expect(output).toMatch(/ring \/shmring-demo\.\d+/);
    expect(output).toMatch(/1s\s+producer .* fast: .* lag .* lost 0 .* slow: .* lost/);
    // The tethered consumer got everything the producer sent.
    const done = /done: sent ([\d,]+); fast \(tethered\) received ([\d,]+), lost 0/.exec(output);
    expect(done).not.toBeNull();
    expect(done![2]).toBe(done![1]);
    expect(output).toContain('clean: all processes exited');
    const ringName = /ring (\/shmring-demo\.\d+)/.exec(output)![1]!;
    expect(shmEntries(ringName)).toEqual([]);
  });

  it('SIGTERM to the launcher leads to the same clean shutdown', async () => {
    const name = uniqueName('demo-term');
    names.push(name);
    const demo = run(['--seconds', '60', '--name', name]);
    await waitForOutput(demo.output, /1s\s+producer/, 15000);
    demo.child.kill('SIGTERM');
    expect(await within(demo.exited, 15000, 'demo exit')).toBe(0);
    expect(demo.output()).toContain('SIGTERM: closing the producer');
    expect(demo.output()).toContain('clean: all processes exited');
    expect(shmEntries(name)).toEqual([]);
  });

  it('SIGINT to the whole process group (Ctrl-C) shuts every process down cleanly', async () => {
    const name = uniqueName('demo-int');
    names.push(name);
    const demo = run(['--seconds', '60', '--name', name]);
    await waitForOutput(demo.output, /1s\s+producer/, 15000);
    process.kill(-demo.child.pid!, 'SIGINT');
    const code = await within(demo.exited, 15000, 'demo exit');
    if (code !== 0) throw new Error(`exit code ${code}; output:\n${demo.output()}`);
    expect(demo.output()).toContain('clean: all processes exited');
    expect(shmEntries(name)).toEqual([]);
  });
});
