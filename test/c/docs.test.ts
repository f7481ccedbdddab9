/**
 * docs/c-api.md's "hello" programs are real: each C block is compiled against the C client with
 * -Wall -Wextra -Werror, and the producer's ring is read back by the consumer (and by a Node consumer).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Consumer } from '../../src';
import { FIXTURES } from '../support/children';
import { buildC, ROOT } from '../support/c-client';
import { uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';

const { trackName } = trackRings();
let directory: string;
let library: string;

beforeAll(() => {
  library = path.join(buildC(), 'libshmring.a');
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-c-docs-'));
}, 120000);
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

function cBlocks(): string[] {
  const text = fs.readFileSync(path.join(ROOT, 'docs', 'c-api.md'), 'utf8');
  return [...text.matchAll(/```c\n([\s\S]*?)```/g)].map((match) => match[1]);
}

function compile(source: string, tag: string): string {
  const file = path.join(directory, `${tag}.c`);
  const binary = path.join(directory, tag);
  fs.writeFileSync(file, source);
  execFileSync('gcc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-I', path.join(ROOT, 'native', 'include'), file, library, '-o', binary]);
  return binary;
}

describe('docs/c-api.md', () => {
  it('has a hello producer and a hello consumer that compile and talk to each other (and to Node)', () => {
    const blocks = cBlocks();
    const producerSource = blocks.find((block) => block.includes('shmring_producer_create'));
    const consumerSource = blocks.find((block) => block.includes('shmring_consumer_open'));
    expect(producerSource).toBeDefined();
    expect(consumerSource).toBeDefined();
    for (const block of [producerSource!, consumerSource!]) expect(block.trim().split('\n').length).toBeLessThanOrEqual(30);
    const producer = compile(producerSource!, 'hello-producer');
    const consumer = compile(consumerSource!, 'hello-consumer');
    const name = trackName(uniqueName('c-hello'));
    execFileSync(producer, [name], { timeout: 10000 });
    const printed = execFileSync(consumer, [name], { encoding: 'utf8', timeout: 10000 }).trim().split('\n');
    expect(printed).toEqual([...Array.from({ length: 10 }, (_, i) => `${i}: hello ${i}`), 'END, lost 0']);
    // The same ring from Node: raw bytes, in order.
    const node = Consumer.open(name, { from: 'oldest' });
    const texts: string[] = [];
    for (let bytes; (bytes = node.tryReceiveBytes()) !== undefined; ) texts.push(Buffer.from(bytes).toString());
    expect(node.ended).toBe(true);
    node.close();
    expect(texts).toEqual(Array.from({ length: 10 }, (_, i) => `hello ${i}`));
  });

  it("README's From C snippet compiles, takes a dead producer's ring over and sends what a Node consumer reads", () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const snippet = /## From C[\s\S]*?```c\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(snippet).toBeDefined();
    const name = trackName(uniqueName('c-readme'));
    const wrapped = ['#include "shmring.h"', 'int main(void) {', snippet!.replace(/"\/frames"/g, JSON.stringify(name)), '  return 0;', '}'].join('\n');
    const binary = compile(wrapped, 'readme');
    // A ring whose producer died (a TypeScript one), with a Node consumer waiting on it: the snippet
    // takes the ring over, sends, and closes it (END, unlinked).
    const dead = spawnSync(process.execPath, [path.join(FIXTURES, 'c-peer.js'), 'send', name, 'count=0', 'close=none', 'capacity=1048576', 'max_consumers=16'], { timeout: 10000 });
    expect(dead.signal).toBe('SIGKILL');
    const node = Consumer.open(name, { waitForRestartMs: 10000 });
    execFileSync(binary, { timeout: 10000 });
    const bytes = node.receiveBytesSync(5000);
    expect(Buffer.from(bytes!).toString()).toBe('hello');
    expect(node.receiveBytesSync(5000)).toBeUndefined();
    expect(node.ended).toBe(true);
    node.close();
    expect(fs.existsSync(`/dev/shm${name}`)).toBe(false);
  });
});
