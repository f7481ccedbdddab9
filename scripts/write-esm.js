#!/usr/bin/env node
'use strict';
// Writes the ESM entry points: thin re-exports of the CommonJS build, so that `import { Producer } from
// 'shmring'` and `require('shmring')` share one module instance (one addon, one set of classes).
// The export names are read from the compiled text (not by loading it: loading needs the native addon,
// which may not be built yet when this runs).
const fs = require('fs');
const path = require('path');

const dist = path.join(__dirname, '..', 'dist');

// `defaultExport`: 'module' makes the whole CommonJS module the default export (shmring); 'default'
// re-exports its own default (shmring/pino, whose default is the pino transport).
const ENTRIES = [
  { source: 'index.js', defaultExport: 'module' },
  { source: 'integrations/pino.js', defaultExport: 'default' },
  { source: 'integrations/metrics.js', defaultExport: 'module' },
];

for (const { source, defaultExport } of ENTRIES) {
  const text = fs.readFileSync(path.join(dist, source), 'utf8');
  const names = new Set();
  for (const match of text.matchAll(/Object\.defineProperty\(exports, "([A-Za-z_$][\w$]*)"/g)) names.add(match[1]);
  for (const match of text.matchAll(/^exports\.([A-Za-z_$][\w$]*) = /gm)) names.add(match[1]);
  names.delete('__esModule');
  names.delete('default');
  const target = path.join(dist, 'esm', source.replace(/\.js$/, '.mjs'));
  const fromTarget = path.relative(path.dirname(target), path.join(dist, source)).split(path.sep).join('/');
  const lines = [
    "import { createRequire } from 'node:module';",
    'const require = createRequire(import.meta.url);',
    `const cjs = require('${fromTarget}');`,
    ...[...names].sort().map((name) => `export const ${name} = cjs.${name};`),
    defaultExport === 'module' ? 'export default cjs;' : 'export default cjs.default;',
    '',
  ];
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, lines.join('\n'));
}
