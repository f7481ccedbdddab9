/**
 * shmring/pino with the REAL pino, across real processes: an application (test/fixtures/pino-app.js)
 * logging through `pino.transport({ target: 'shmring/pino' })` (pino's worker thread) or
 * `pino(createDestination())`, and a collector process (test/fixtures/pino-collector.js, collectLines)
 * writing the lines to a file. Every line carries a counter `n`, so a lost, duplicated or reordered
 * line is seen.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { Child, runFixture, sleep, within } from '../support/children';
import { trackRings } from '../support/teardown';
import { Consumer } from '../../src';
import { collectLines, createDestination } from '../../src/integrations/pino';

jest.setTimeout(60_000);

const rings = trackRings();
let tempDir: string;
beforeEach(() => {
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-pino-'));
});
afterEach(() => {
  fs.rmSync(tempDir, { recursive: true, force: true });
});

interface AppConfig {
  name: string;
  mode: 'transport' | 'destination';
  phases?: number[];
  forever?: boolean;
  capacity?: number;
  messageBytes?: number;
}

async function startApp(config: AppConfig): Promise<Child> {
  const app = runFixture('pino-app.js', [JSON.stringify(config)]);
  await app.waitForLine((msg) => msg.ready === true || msg.error !== undefined);
  return app;
}

async function startCollector(name: string, file: string, from: 'next' | 'oldest' = 'next'): Promise<Child> {
  const collector = runFixture('pino-collector.js', [name, file, from]);
  await collector.waitForLine((msg) => msg.joined === true);
  return collector;
}

/** The counters of the lines in `file`; throws on a line that is not one of pino's JSON lines. */
function countersIn(file: string): number[] {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  expect(lines.pop()).toBe(''); // every line ends with its newline, the last one too
  return lines.map((line) => {
    const record = JSON.parse(line);
    expect(record.level).toBe(30);
    return record.n as number;
  });
}

function expectRun(counters: number[], first: number, count: number): void {
  expect(counters.length).toBe(count);
  const wrong = counters.findIndex((n, i) => n !== first + i);
  expect(wrong === -1 ? 'every line, in order' : `line ${wrong} has n=${counters[wrong]}, expected ${first + wrong}`).toBe(
    'every line, in order',
  );
}

/** Waits (bounded) until `file` holds at least `lines` complete lines. */
async function waitForLines(file: string, lines: number, child: Child): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    if (text.split('\n').length - 1 >= lines) return;
    if (Date.now() > deadline) {
      const { stdout, stderr } = await within(child.exited.catch(() => ({ stdout: '', stderr: '' })), 1, 'child').catch(() => ({ stdout: '?', stderr: '?' }));
      throw new Error(`${file}: fewer than ${lines} lines within 20 s; child stdout ${stdout} stderr ${stderr}`);
    }
    await sleep(20);
  }
}

async function finished(child: Child, what: string) {
  const result = await within(child.exited, 40_000, what);
  return { ...result, output: `stdout:\n${result.stdout}\nstderr:\n${result.stderr}` };
}

describe('shmring/pino with the real pino, across processes', () => {
  it.each(['transport', 'destination'] as const)(
    'delivers 200 000 lines from a %s to a collector, none lost, duplicated or reordered, then a clean end',
    async (mode) => {
      const name = rings.ringName(`pino-${mode}`);
      const file = path.join(tempDir, 'lines.ndjson');
      const app = await startApp({ name, mode, phases: [200_000] });
      const collector = await startCollector(name, file);
      app.process.kill('SIGUSR2');
      const appDone = await finished(app, 'app');
      expect({ code: appDone.code, closed: appDone.stdout.includes('"closed":true'), output: appDone.output }).toMatchObject({ code: 0, closed: true });
      const done = await finished(collector, 'collector');
      expect({ code: done.code, output: done.output }).toMatchObject({ code: 0 });
      expect(done.stdout).toContain('{"lines":200000,"lost":0}');
      expectRun(countersIn(file), 0, 200_000);
      expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
    },
  );

  it('gives the collector PRODUCER_DIED, not a clean end, when the application is killed mid-stream', async () => {
    const name = rings.ringName('pino-kill');
    const file = path.join(tempDir, 'lines.ndjson');
    const app = await startApp({ name, mode: 'transport', forever: true, capacity: 64 * 1024 });
    const collector = await startCollector(name, file);
    app.process.kill('SIGUSR2');
    await waitForLines(file, 5_000, collector);
    app.process.kill('SIGKILL');
    const done = await finished(collector, 'collector');
    expect({ code: done.code, output: done.output }).toMatchObject({ code: 3 });
    expect(done.stdout).toContain('{"error":"PRODUCER_DIED"}');
    // Every line that reached the ring was written, in order, from the first one on.
    const counters = countersIn(file);
    expect(counters.length).toBeGreaterThanOrEqual(5_000);
    expectRun(counters, 0, counters.length);
  });

  it('fails the stream on a line longer than the ring takes, and the collector sees an error, not a clean end', async () => {
    const name = rings.ringName('pino-long');
    const file = path.join(tempDir, 'lines.ndjson');
    // A 64 KiB ring takes lines up to 16 KiB - 16 bytes; these are 20 KB.
    const app = await startApp({ name, mode: 'destination', phases: [3], capacity: 64 * 1024, messageBytes: 20_000 });
    const collector = await startCollector(name, file);
    app.process.kill('SIGUSR2');
    const appDone = await finished(app, 'app');
    expect(appDone.stdout).toContain('{"error":"MESSAGE_TOO_LARGE"}');
    // The app exits normally, but its stream failed: it aborted the ring, and the collector says so.
    expect(appDone.code).toBe(0);
    const done = await finished(collector, 'collector');
    expect({ code: done.code, output: done.output }).toMatchObject({ code: 3 });
    expect(done.stdout).toContain('{"error":"PRODUCER_ABORTED"}');
    expect(countersIn(file)).toEqual([]);
  });

  it('starts a late collector at the next line by default, and at the oldest line the ring still holds with from: oldest', async () => {
    const name = rings.ringName('pino-late');
    const fileNext = path.join(tempDir, 'next.ndjson');
    const fileOldest = path.join(tempDir, 'oldest.ndjson');
    // Phase 1: 1000 lines with nobody listening (the producer never waits then); phase 2: 500 more.
    const app = await startApp({ name, mode: 'destination', phases: [1000, 500] });
    app.process.kill('SIGUSR2');
    await app.waitForLine((msg) => msg.logged === 1000);
    const late = await startCollector(name, fileNext, 'next');
    const lateOldest = await startCollector(name, fileOldest, 'oldest');
    app.process.kill('SIGUSR2');
    expect((await finished(app, 'app')).code).toBe(0);
    const next = await finished(late, 'collector (next)');
    const oldest = await finished(lateOldest, 'collector (oldest)');
    expect({ next: next.code, oldest: oldest.code, output: next.output + oldest.output }).toMatchObject({ next: 0, oldest: 0 });
    expectRun(countersIn(fileNext), 1000, 500);
    // 1 MiB ring, ~50-byte lines: all 1500 are still in the ring.
    expectRun(countersIn(fileOldest), 0, 1500);
  });

  it('lets a restarted collector go on from the next line: lines logged while none was attached are not replayed', async () => {
    const name = rings.ringName('pino-restart');
    const first = path.join(tempDir, 'first.ndjson');
    const second = path.join(tempDir, 'second.ndjson');
    const app = await startApp({ name, mode: 'destination', phases: [2000, 300, 700] });
    const collector1 = await startCollector(name, first);
    app.process.kill('SIGUSR2');
    await waitForLines(first, 2000, collector1);
    collector1.process.kill('SIGKILL');
    await finished(collector1, 'first collector');
    app.process.kill('SIGUSR2'); // 300 lines with no collector
    await app.waitForLine((msg) => msg.logged === 2300);
    const collector2 = await startCollector(name, second);
    app.process.kill('SIGUSR2');
    expect((await finished(app, 'app')).code).toBe(0);
    const done = await finished(collector2, 'second collector');
    expect({ code: done.code, output: done.output }).toMatchObject({ code: 0 });
    expectRun(countersIn(first), 0, 2000);
    expectRun(countersIn(second), 2300, 700);
  });
});

describe('createDestination in one process', () => {
  it('turns chunks of any size and cut anywhere (strings and buffers) into one message per line, without the newline', async () => {
    const name = rings.ringName('pino-chunks');
    const destination = createDestination({ name, capacity: 4 << 20 });
    const consumer = rings.track(Consumer.open(name));
    const expected: string[] = [];
    let text = '';
    for (let i = 0; i < 40_000; i++) {
      const line = JSON.stringify({ n: i, msg: 'é'.repeat(i % 7), pad: 'x'.repeat(i % 61) });
      expected.push(line);
      text += `${line}\n`;
    }
    const bytes = Buffer.from(text, 'utf8');
    // Cuts in the middle of lines and of multi-byte characters; one chunk of more than 1 MB.
    const cuts = [0, 1, 7, 100, 3001, 3002, 70_000, 1_300_000, bytes.length - 5, bytes.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const chunk = bytes.subarray(cuts[i], cuts[i + 1]);
      destination.write(i % 2 === 0 ? Buffer.from(chunk) : chunk);
    }
    destination.write('{"n":"as a string, then a partial');
    destination.end(' line"}');
    await within(new Promise((resolve) => destination.once('close', resolve)), 10_000, 'destination close');
    const received: string[] = [];
    for (;;) {
      const message = consumer.tryReceive();
      if (message === undefined) break;
      received.push(Buffer.from(message as Uint8Array).toString('utf8'));
    }
    expect(consumer.ended).toBe(true);
    expect(received.length).toBe(expected.length + 1);
    expect(received.slice(0, -1)).toEqual(expected);
    expect(received[received.length - 1]).toBe('{"n":"as a string, then a partial line"}');
  });

  it('waits for space while a tethered collector holds the ring full, and loses nothing', async () => {
    const name = rings.ringName('pino-full');
    const destination = createDestination({ name, capacity: 4096 });
    const output = new PassThrough();
    const chunks: Buffer[] = [];
    output.on('data', (chunk: Buffer) => chunks.push(chunk));
    const collected = collectLines(name, output, { batchBytes: 512 });
    for (let i = 0; i < 5000; i++) destination.write(`{"n":${i}}\n`);
    // Lines the ring could not take yet are held in the Writable, never dropped.
    expect(destination.writableLength).toBeGreaterThan(0);
    expect(destination.producer.stats.producerStalls).toBeGreaterThan(0);
    destination.end();
    const result = await within(collected, 20_000, 'collectLines');
    expect(result).toEqual({ lines: 5000, lost: 0 });
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toEqual(Array.from({ length: 5000 }, (_, i) => `{"n":${i}}`));
  });

  it('rejects a line longer than maxMessageLength with MESSAGE_TOO_LARGE, naming the ring and what to change', async () => {
    const name = rings.ringName('pino-toolong');
    const destination = createDestination({ name, capacity: 4096 });
    const failed = new Promise<Error>((resolve) => destination.once('error', resolve));
    destination.write(`${'x'.repeat(2000)}\n`);
    const error = (await within(failed, 5000, 'error')) as Error & { code: string; hint: string; segment: string };
    expect(error.code).toBe('MESSAGE_TOO_LARGE');
    expect(error.segment).toBe(name);
    expect(error.message).toContain('2000-byte log line');
    expect(error.hint).toContain('maxMessageLength');
  });

  it('rejects options without a ring name, and misspelled ring options', () => {
    expect(() => createDestination(undefined as never)).toThrow(TypeError);
    expect(() => createDestination({} as never)).toThrow(/options.name must be a string/);
    expect(() => createDestination({ name: rings.ringName('pino-typo'), capacty: 4096 } as never)).toThrow(/unknown option 'capacty'/);
  });
});

describe('the shmring/pino package export', () => {
  it('is reachable with require and import, and the ESM default is the transport', () => {
    const script = [
      "import transport, { createDestination, collectLines } from 'shmring/pino';",
      "import { createRequire } from 'node:module';",
      'const cjs = createRequire(import.meta.url)("shmring/pino");',
      'console.log(JSON.stringify({ types: [transport, createDestination, collectLines].map((x) => typeof x),',
      '  same: cjs.default === transport && cjs.createDestination === createDestination }));',
    ].join('\n');
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: path.join(__dirname, '..', '..'),
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(JSON.parse(output)).toEqual({ types: ['function', 'function', 'function'], same: true });
  });
});
