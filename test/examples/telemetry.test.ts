/**
 * examples/telemetry: N app processes ─▶ one ring each ─▶ one collector (Selector + discovery), and the
 * same pair over a Unix domain socket. End to end: every message sent is received, the shutdown (by time
 * or by SIGINT to the whole process group) is clean, nothing is left in /dev/shm, and the README's diff
 * is the real difference between the two collectors.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ExampleRun, killExamples, ROOT, runExample, waitForOutput } from '../support/examples';
import { uniqueName } from '../support/names';

const EXAMPLE = path.join(ROOT, 'examples', 'telemetry');
const prefixes: string[] = [];

function leftovers(prefix: string): string[] {
  return fs.readdirSync('/dev/shm').filter((file) => file.startsWith(prefix.slice(1)));
}

afterEach(() => {
  killExamples();
  for (const prefix of prefixes.splice(0)) {
    for (const file of leftovers(prefix)) fs.rmSync(`/dev/shm/${file}`, { force: true });
  }
});

function run(args: string[]): ExampleRun & { prefix: string } {
  // A test prefix: global teardown reports any ring this test would leak.
  const prefix = `${uniqueName('telemetry')}.`;
  prefixes.push(prefix);
  return { ...runExample(path.join(EXAMPLE, 'run.js'), ['--prefix', prefix, ...args], { killAfterMs: 20000 }), prefix };
}

function sentAndReceived(output: string): { sent: number; received: number } {
  const match = /sent (\d+) \(dropped by apps: \d+\), received (\d+)/.exec(output);
  if (!match) throw new Error(`no totals in the output:\n${output}`);
  return { sent: Number(match[1]), received: Number(match[2]) };
}

describe('examples/telemetry', () => {
  it.each(['shm', 'uds'])('over %s: every message the apps sent reaches the collector, nothing is left behind', async (transport) => {
    const { output, exited, prefix } = run(['--transport', transport, '--apps', '3', '--seconds', '1.5']);
    const code = await exited;
    expect({ code, output: output() }).toEqual({ code: 0, output: expect.stringContaining('every message arrived') });
    const { sent, received } = sentAndReceived(output());
    expect(sent).toBeGreaterThan(100);
    expect(received).toBe(sent);
    for (const app of ['app0', 'app1', 'app2']) expect(output()).toContain(`'${app}'`);
    expect(output()).toContain('left in /dev/shm: nothing');
    expect(leftovers(prefix)).toEqual([]);
  });

  it('shuts down cleanly on SIGINT to the whole process group (Ctrl-C)', async () => {
    const { child, output, exited, prefix } = run(['--transport', 'shm', '--apps', '3', '--seconds', '60']);
    // Steady state: every app started (each has its SIGINT handler) and the collector has found all three
    // rings (its once-a-second line counts the apps heard from). Ctrl-C then tests the orderly shutdown.
    await waitForOutput(output, /3 apps running[\s\S]*collector: \d+ messages from 3 apps/, 18000, 'three apps running and heard by the collector');
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    const { sent, received } = sentAndReceived(output());
    expect(received).toBe(sent);
    expect(leftovers(prefix)).toEqual([]);
  });

  it("shows in its README the real diff between the socket and the shared-memory versions", () => {
    const readme = fs.readFileSync(path.join(EXAMPLE, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```diff\n([\s\S]*?)```/g)].map((m) => m[1]!);
    for (const file of ['collector.js', 'app.js']) {
      const diff = spawnSync('diff', ['-u', `uds/${file}`, `shm/${file}`], { cwd: EXAMPLE, encoding: 'utf8' }).stdout;
      const hunks = diff.split('\n').slice(2).join('\n'); // without the ---/+++ lines (they hold mtimes)
      expect(blocks.some((block) => block.includes(hunks.trimEnd()))).toBe(true);
    }
  });
});
