#!/usr/bin/env node
'use strict';
// The install script: use the prebuilt addon shipped in prebuilds/ when it loads here, else compile it.
//
// node-gyp-build (the loader, src/core/native.ts) looks in build/Release, then prebuilds/<platform>-<arch>.
// The package ships prebuilds/linux-x64/shmring.glibc.node (built by `npm run prebuild`, run by
// `prepack`), so on that platform nothing is compiled and no compiler is needed. Elsewhere (arm64, musl),
// or with `npm install --build-from-source`, node-gyp compiles native/ (needs g++, make, python3).
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { PACKAGE_ROOT, nativeBuildEnv, nodeGypPath } = require('./native-env');

if (process.platform !== 'linux') {
  console.error(`shmring: Linux only (futex, /dev/shm); this is ${process.platform}. Skipping the native build.`);
  process.exit(0);
}

/** Newest modification time of the addon's sources: a binary older than them was built from other code. */
function newestSourceMs() {
  let newest = 0;
  const visit = (file) => {
    const stat = fs.statSync(file);
    if (stat.isDirectory()) for (const entry of fs.readdirSync(file)) visit(path.join(file, entry));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const source of ['native', 'binding.gyp']) {
    const file = path.join(PACKAGE_ROOT, source);
    if (fs.existsSync(file)) visit(file);
  }
  return newest;
}

/** The binary node-gyp-build would load, if it loads here and is not older than the sources; else why not. */
function usableBinary() {
  let file;
  try {
    file = require('node-gyp-build').resolve(PACKAGE_ROOT);
  } catch (error) {
    return { reason: String(error.message).split('\n')[0] };
  }
  // npm pack stamps every file with the same date, so a shipped prebuild is never older than the sources;
  // in a checkout where native/ was edited after the last build, it is.
  if (fs.statSync(file).mtimeMs < newestSourceMs()) return { reason: `${path.relative(PACKAGE_ROOT, file)} is older than native/` };
  try {
    require(file);
  } catch (error) {
    return { reason: `${path.relative(PACKAGE_ROOT, file)} does not load: ${String(error.message).split('\n')[0]}` };
  }
  return { file };
}

const fromSource = process.env.npm_config_build_from_source === 'true';
if (!fromSource) {
  const found = usableBinary();
  if (found.file) {
    console.log(`shmring: using ${path.relative(PACKAGE_ROOT, found.file)} (nothing to compile)`);
    process.exit(0);
  }
  console.log(`shmring: no usable prebuilt addon (${found.reason}); compiling native/ with node-gyp`);
}

const env = nativeBuildEnv();
const gyp = nodeGypPath();
const result = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild'], { stdio: 'inherit', env, cwd: PACKAGE_ROOT })
  : spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit', env, cwd: PACKAGE_ROOT });
if (result.error) {
  console.error(`shmring: cannot run node-gyp (${result.error.message}): install it (npm install -g node-gyp), with g++, make and python3`);
  process.exit(1);
}
process.exit(result.status ?? 1);
