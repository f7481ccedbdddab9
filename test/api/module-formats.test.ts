/** The package loads from ESM and from CommonJS, as one module instance. */
import { execFileSync } from 'child_process';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');

it('imports named exports from ESM and requires them from CommonJS, and both are the same classes', () => {
  const script = [
    "import { Producer, Consumer, Selector, ShmRingError } from 'shmring';",
    "import { createRequire } from 'node:module';",
    'const cjs = createRequire(import.meta.url)("shmring");',
    'console.log(JSON.stringify({',
    '  esm: [Producer, Consumer, Selector, ShmRingError].map((x) => typeof x),',
    '  same: cjs.Producer === Producer && cjs.Consumer === Consumer,',
    '}));',
  ].join('\n');
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 15_000 });
  expect(JSON.parse(output)).toEqual({ esm: ['function', 'function', 'function', 'function'], same: true });
});
