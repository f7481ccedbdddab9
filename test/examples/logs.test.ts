/**
 * examples/logs: the real pino in an app process ─▶ ring ─▶ collector process ─▶ file. End to end: every
 * line arrives in order, both exit 0, nothing is left in /dev/shm.
 */
import * as fs from 'fs';
import { within } from '../support/children';
import { killExamples, runExample } from '../support/examples';
import { removeSegment, uniqueName } from '../support/names';

const names: string[] = [];
afterEach(() => {
  killExamples();
  for (const name of names.splice(0)) removeSegment(name);
});

describe('examples/logs', () => {
  it('carries every line pino logged to the collector\'s file, in order, and leaves /dev/shm clean', async () => {
    const name = uniqueName('logs-example');
    names.push(name);
    const run = runExample('examples/logs/run.js', ['--name', name, '--lines', '3000'], { killAfterMs: 40_000 });
    const code = await within(run.exited, 45_000, 'examples/logs/run.js');
    const output = run.output();
    expect({ code, output }).toMatchObject({ code: 0, output: expect.stringContaining('every line arrived, in order; /dev/shm is clean') });
    expect(output).toContain('3000 of 3000 lines in the file');
    expect(output).toContain('ended cleanly after 3000 lines (lost 0)');
    expect(output).toMatch(/first line: \{"level":30,.*"n":0,.*"msg":"request handled"\}/);
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  }, 60_000);
});
