/**
 * The C client's constants have one source: native/include/shmring_layout.h is generated from the compiled
 * src/ring/layout.ts by scripts/gen-c-layout.js. Regenerating must give the committed file byte for byte,
 * and a C program built against it must print the same offsets as layout.ts.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as L from '../../src/ring/layout';
import { ROOT } from '../support/c-client';

const committed = path.join(ROOT, 'native', 'include', 'shmring_layout.h');
let directory: string;

beforeAll(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-layout-'));
});
afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

describe('native/include/shmring_layout.h', () => {
  it('is what scripts/gen-c-layout.js generates from the current layout (run it after changing layout.ts)', () => {
    const generated = path.join(directory, 'shmring_layout.h');
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'gen-c-layout.js'), generated]);
    expect(fs.readFileSync(committed, 'utf8')).toBe(fs.readFileSync(generated, 'utf8'));
  });

  it('gives a C compiler the offsets, lengths, record types and version of layout.ts', () => {
    const names = ['PUBLISHED_TAIL_OFFSET', 'TAIL_INTENT_HIGH_OFFSET', 'SPACE_WAKE_OFFSET', 'SLOTS_OFFSET', 'SLOT_PID_OFFSET', 'RING_ID_OFFSET', 'LAYOUT_VERSION', 'CONSUMER_REGION_OFFSET'] as const;
    const source = path.join(directory, 'probe.c');
    fs.writeFileSync(
      source,
      [
        '#include <stdio.h>',
        '#include "shmring_layout.h"',
        'int main(void) {',
        ...names.map((name) => `  printf("%s %ld\\n", "${name}", (long)SHMRING_${name});`),
        '  printf("ABORT %d\\n", SHMRING_RECORD_ABORT);',
        '  printf("CONTROL16 %ld\\n", (long)shmring_layout_control_length(16));',
        '  return 0;',
        '}',
      ].join('\n'),
    );
    const binary = path.join(directory, 'probe');
    execFileSync('gcc', ['-std=c11', '-Wall', '-Werror', '-I', path.join(ROOT, 'native', 'include'), source, '-o', binary]);
    const printed = Object.fromEntries(
      execFileSync(binary, { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((line) => line.split(' '))
        .map(([key, value]) => [key, Number(value)]),
    );
    for (const name of names) expect(printed[name]).toBe(L[name]);
    expect(printed.ABORT).toBe(L.RecordType.ABORT);
    expect(printed.CONTROL16).toBe(L.controlLength(16));
  });
});
