/**
 * examples/demo (npm run demo): runs end to end in real processes, stops by itself or on a signal, exits
 * 0, and leaves nothing in /dev/shm.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { within } from '../support/children';
import { removeSegment, uniqueName } from '../support/names';

const ROOT = path.join(__dirname, '..', '..');
const running: ChildProcess[] = [];
const names: string[] = [];

afterEach(() => {
  for (const child of running.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL'); // its own process group: the example and its children
    } catch {
      // already gone
    }
  }
  for (const name of names.splice(0)) removeSegment(name);
});

function run(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'examples/demo/run.js'), ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitForOutput(output: () => string, pattern: RegExp, ms: number): Promise<void> {
  await within(new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (pattern.test(output())) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  }), ms, `output matching ${pattern}`);
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
