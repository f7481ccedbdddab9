/**
 * `shmring tail` follows a real ring, fed by a real producer process, as an untethered consumer.
 */
import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ExitCode } from '../../src/cli/common';
import { noteChildOutput } from '../support/children';
import { Fixtures, killAndWait, MAIN, runCli, runJson, waitFor } from './cli-helpers';

// The Consumer class arrived after the CLI: skip, rather than fail, in a tree that does not have it yet.
const describeIfConsumer = fs.existsSync(path.join(__dirname, '..', '..', 'src', 'api', 'consumer.ts')) ? describe : describe.skip;

const PRODUCER = path.join(__dirname, '..', 'fixtures', 'cli-producer.js');
const fixtures = new Fixtures();
const producers: ChildProcess[] = [];
afterEach(async () => {
  for (const child of producers.splice(0)) await killAndWait(child, 'SIGKILL');
  await fixtures.cleanup();
});

/** Starts a producer that sends `count` messages (then stays, or closes the ring with `close`). */
async function startProducer(name: string, count: number, close = false): Promise<ChildProcess> {
  fixtures.track(name);
  const child = spawn(process.execPath, [PRODUCER, name, String(count), close ? 'close' : 'stay'], { stdio: ['ignore', 'pipe', 'inherit'] });
  producers.push(child);
  let out = '';
  noteChildOutput(`cli-producer (pid ${child.pid}; its stderr goes to jest's)`, () => ({ stdout: out, stderr: '' }));
  child.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  await waitFor(() => out.includes('sent'), 'the producer to send');
  return child;
}

describeIfConsumer('shmring tail', () => {
  it('prints the oldest messages as JSON lines, typed arrays and bytes as previews, and exits after -n', async () => {
    const { name } = fixtures.family('cli-tail');
    await startProducer(name('ring'), 5);
    const result = runCli(['tail', name('ring'), '--from', 'oldest', '-n', '3', '--timeout', '10000']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toEqual({
      seq: 0,
      samples: { type: 'Float32Array', length: 100, data: [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5], truncated: true },
      raw: { type: 'bytes', length: 4, base64: 'AQIDBA==' },
      at: { type: 'Date', value: '2020-01-01T00:00:00.000Z' },
    });
    expect(lines.map((l) => l.seq)).toEqual([0, 1, 2]);

    const hex = runCli(['tail', name('ring'), '--from', 'oldest', '-n', '1', '--hex', '--values', '2']);
    expect(JSON.parse(hex.stdout)).toMatchObject({ samples: { data: [0, 0.5] }, raw: { hex: '01020304' } });

    // The tail joined untethered and left: no slot stays behind.
    expect(runJson(['inspect', name('ring')]).json.consumers).toEqual([]);
  });

  it('exits 6 when --timeout passes before -n messages arrived', async () => {
    const { name } = fixtures.family('cli-tail-timeout');
    await startProducer(name('ring'), 2);
    const timedOut = runCli(['tail', name('ring'), '--from', 'next', '-n', '1', '--timeout', '300']);
    expect(timedOut.code).toBe(ExitCode.TIMEOUT);
    expect(timedOut.stdout).toBe('');
  });

  it('ends with exit code 0 when the producer closes the ring while the tail follows it', async () => {
    const { name } = fixtures.family('cli-tail-end');
    const producer = await startProducer(name('ring'), 2);
    const tail = spawn(process.execPath, [MAIN, 'tail', name('ring'), '--from', 'oldest', '--timeout', '15000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    producers.push(tail);
    let out = '';
    let err = '';
    noteChildOutput(`shmring tail (pid ${tail.pid})`, () => ({ stdout: out, stderr: err }));
    tail.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    tail.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    await waitFor(() => out.split('\n').length > 2, 'the tail to print the two messages');
    const exited = new Promise<number | null>((resolve) => tail.once('exit', (code) => resolve(code)));
    producer.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(err).toContain('end of stream');
    expect(out.trim().split('\n').map((l) => JSON.parse(l).seq)).toEqual([0, 1]);
  });

  it('exits 3 for a missing ring and 5 for a foreign file', () => {
    const { name } = fixtures.family('cli-tail-missing');
    expect(runCli(['tail', name('none'), '--timeout', '100']).code).toBe(ExitCode.NOT_FOUND);
    fixtures.foreignFile(name('foreign'));
    expect(runCli(['tail', name('foreign'), '--timeout', '100']).code).toBe(ExitCode.NOT_A_RING);
    expect(runCli(['tail', name('foreign'), '--from', 'middle']).code).toBe(ExitCode.USAGE);
  });
});
