#!/usr/bin/env node
'use strict';
// `npm run prebuilds` and `prepack` (so `npm pack` and `npm publish` always ship a binary built from the
// native/ being packed): builds prebuilds/linux-x64/shmring.glibc.node with prebuildify. (Not named
// `prebuild`: npm would run a script of that name before every `npm run build`.)
//
// The build runs in a temporary copy of binding.gyp and native/, so the checkout's build/ (which
// node-gyp-build prefers, and which running tests load) is never cleaned or rewritten under them.
// Node-API (--napi) makes one binary good for every Node version from 20 on; --tag-libc marks it glibc,
// so musl (Alpine) falls back to compiling instead of loading a binary that cannot work there.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { PACKAGE_ROOT, nativeBuildEnv, nodeGypPath } = require('./native-env');

if (process.platform !== 'linux') {
  console.error(`prebuild: Linux only; this is ${process.platform}`);
  process.exit(1);
}

const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-prebuild-'));
let status = 1;
try {
  for (const entry of ['package.json', 'binding.gyp', 'native']) {
    fs.cpSync(path.join(PACKAGE_ROOT, entry), path.join(stage, entry), { recursive: true });
  }
  // binding.gyp asks node-addon-api for its include directory: resolve it from the real node_modules.
  fs.symlinkSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
  const env = nativeBuildEnv();
  const gyp = nodeGypPath();
  if (gyp) env.PREBUILD_NODE_GYP = gyp;
  const args = [
    require.resolve('prebuildify/bin.js'),
    '--napi',
    '--strip',
    '--tag-libc',
    // One target, the running Node: its installed headers are the ones node-gyp uses (no download).
    '--target',
    `node@${process.versions.node}`,
    // node-gyp's dev dir (unused: the nodedir has the headers) inside the stage, so nothing is left in /tmp.
    '--cache',
    path.join(stage, '.prebuildify-cache'),
  ];
  const result = spawnSync(process.execPath, args, { cwd: stage, env, stdio: 'inherit' });
  if (result.error) throw result.error;
  status = result.status ?? 1;
  if (status === 0) {
    for (const platform of fs.readdirSync(path.join(stage, 'prebuilds'))) {
      const target = path.join(PACKAGE_ROOT, 'prebuilds', platform);
      fs.rmSync(target, { recursive: true, force: true });
      fs.cpSync(path.join(stage, 'prebuilds', platform), target, { recursive: true });
      for (const file of fs.readdirSync(target)) console.log(`prebuild: ${path.relative(PACKAGE_ROOT, path.join(target, file))}`);
    }
  }
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
}
process.exit(status);
