#!/usr/bin/env node
'use strict';
// Builds (or finds a prebuilt) native addon at install time.
//
// Why this wrapper instead of a bare `node-gyp-build` install script: node-gyp downloads Node's headers
// unless told where they are, and many machines (CI, air-gapped hosts, containers) cannot reach the
// download site. Node ships its headers beside the binary (<prefix>/include/node), so we point node-gyp
// at the running Node's install prefix unless the user already chose a nodedir.
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

if (process.platform !== 'linux') {
  console.error(`shmring: Linux only (futex, /dev/shm); this is ${process.platform}. Skipping the native build.`);
  process.exit(0);
}

const env = { ...process.env };
const prefix = path.dirname(path.dirname(process.execPath));
const hasHeaders = fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'));
if (!env.npm_config_nodedir && hasHeaders) env.npm_config_nodedir = prefix;
// Outside `npm install` (running this script by hand) node-gyp is not on PATH: use the one bundled with npm.
const npmNodeGypBin = path.join(prefix, 'lib', 'node_modules', 'npm', 'bin', 'node-gyp-bin');
env.PATH = [env.PATH, path.join(__dirname, '..', 'node_modules', '.bin'), npmNodeGypBin].filter(Boolean).join(path.delimiter);

const bin = require.resolve('node-gyp-build/bin.js');
const result = spawnSync(process.execPath, [bin], { stdio: 'inherit', env, cwd: path.join(__dirname, '..') });
if (result.error) throw result.error;
process.exit(result.status ?? 1);
