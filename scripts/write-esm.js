#!/usr/bin/env node
'use strict';
// Writes the ESM entry point: a thin re-export of the CommonJS build, so that `import { Producer } from
// 'shmring'` and `require('shmring')` share one module instance (one addon, one set of classes).
// The export names are read from the compiled dist/index.js text (not by loading it: loading needs the
// native addon, which may not be built yet when this runs).
const fs = require('fs');
const path = require('path');

const dist = path.join(__dirname, '..', 'dist');
const source = fs.readFileSync(path.join(dist, 'index.js'), 'utf8');
const names = new Set();
for (const match of source.matchAll(/Object\.defineProperty\(exports, "([A-Za-z_$][\w$]*)"/g)) names.add(match[1]);
for (const match of source.matchAll(/^exports\.([A-Za-z_$][\w$]*) = /gm)) names.add(match[1]);
names.delete('__esModule');
names.delete('default');
const lines = [
  "import { createRequire } from 'node:module';",
  'const require = createRequire(import.meta.url);',
  "const cjs = require('../index.js');",
  ...[...names].sort().map((name) => `export const ${name} = cjs.${name};`),
  'export default cjs;',
  '',
];
fs.mkdirSync(path.join(dist, 'esm'), { recursive: true });
fs.writeFileSync(path.join(dist, 'esm', 'index.mjs'), lines.join('\n'));
