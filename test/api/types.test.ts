/**
 * The shipped declarations (dist/*.d.ts, from `npm run build`) type-check in a user's project set up
 * strictly: `strict`, `skipLibCheck: false`, a Node-only `lib` (ES2022, no DOM) and the default `target`
 * (so no `#private` may appear in them), and the generics carry the message type through.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

const ROOT = path.join(__dirname, '..', '..');

const USER_PROGRAM = `
import { Producer, Consumer, Selector, createReadStream, createWriteStream, ShmRingError, AbortError, isShmRingError } from 'shmring';

interface Metric { name: string; value: number }

export async function main(): Promise<void> {
  const producer = Producer.create<Metric>('/metrics');
  producer.send({ name: 'cpu', value: 1 });
  // @ts-expect-error a string is not a Metric
  producer.send('not a metric');
  await producer.waitForConsumers(1, { timeout: 1000 });

  const consumer = await Consumer.connect<Metric>('/metrics', { timeout: 1000, tethered: false });
  const one = consumer.tryReceive();
  if (one !== undefined) {
    const value: number = one.value;
    void value;
  }
  const next = await consumer.receive({ timeout: 10 });
  // @ts-expect-error the message may be undefined (end of stream)
  const unchecked: string = next.name;
  void unchecked;
  consumer.on('message', (metric) => {
    const name: string = metric.name;
    void name;
  });
  const iterator = consumer[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (!first.done) {
    const name: string = first.value.name;
    void name;
  }
  consumer.drain((metric) => metric.value.toFixed(1));

  const selector = Selector.follow<Metric>('/metrics.');
  selector.on('message', (metric, ring) => console.log(ring, metric.value));
  createReadStream(consumer).destroy();
  createWriteStream(producer).end();

  try {
    Producer.create('/metrics');
  } catch (error) {
    if (isShmRingError(error, 'PRODUCER_ALIVE')) console.log(error.hint);
    if (error instanceof AbortError) console.log(error.code === 'ABORT_ERR', error.cause);
    if (error instanceof ShmRingError && error.code === 'UNSUPPORTED_VALUE') console.log(error.message);
  }
}
`;

describe('the shipped declarations', () => {
  let directory: string;

  beforeAll(() => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-types-'));
    fs.mkdirSync(path.join(directory, 'node_modules', '@types'), { recursive: true });
    fs.symlinkSync(ROOT, path.join(directory, 'node_modules', 'shmring'), 'dir');
    fs.symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(directory, 'node_modules', '@types', 'node'), 'dir');
    fs.writeFileSync(path.join(directory, 'main.ts'), USER_PROGRAM);
  });

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('contain no #private fields (they need a target of ES2015 or later)', () => {
    const declarations = fs.readdirSync(path.join(ROOT, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
    expect(declarations.length).toBeGreaterThan(20);
    const withPrivateNames = declarations.filter((f) => fs.readFileSync(path.join(ROOT, 'dist', f), 'utf8').includes('#private'));
    expect(withPrivateNames).toEqual([]);
  });

  it('type-check a user program with strict, skipLibCheck false, lib ES2022 only and the default target', () => {
    const options: ts.CompilerOptions = {
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      lib: ['lib.es2022.d.ts'],
      types: ['node'],
      module: ts.ModuleKind.CommonJS,
      esModuleInterop: true,
    };
    const program = ts.createProgram([path.join(directory, 'main.ts')], options);
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${path.relative(directory, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(diagnostics).toEqual([]);
    // The program really read the shipped declarations, not something else.
    expect(program.getSourceFiles().some((f) => f.fileName.includes('/dist/api/consumer.d.ts'))).toBe(true);
  });
});
