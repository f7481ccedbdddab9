'use strict';
// The environment node-gyp needs to build the addon without a network, shared by the install script
// (scripts/build-native.js) and `npm run prebuild` (scripts/prebuild.js).
//
// node-gyp downloads Node's headers unless told where they are, and many machines (CI, air-gapped hosts,
// containers) cannot reach the download site. Node ships its headers beside the binary
// (<prefix>/include/node), so we point node-gyp at the running Node's install prefix unless the user
// already chose a nodedir.
const fs = require('fs');
const path = require('path');

const PACKAGE_ROOT = path.join(__dirname, '..');

function nodePrefix() {
  return path.dirname(path.dirname(process.execPath));
}

/** process.env plus npm_config_nodedir (when Node's headers are installed) and a PATH that finds node-gyp. */
function nativeBuildEnv(base = process.env) {
  const env = { ...base };
  const prefix = nodePrefix();
  const hasHeaders = fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'));
  if (!env.npm_config_nodedir && hasHeaders) env.npm_config_nodedir = prefix;
  // Outside an npm script (running a script by hand) node-gyp is not on PATH: use the one bundled with npm.
  env.PATH = [env.PATH, path.join(PACKAGE_ROOT, 'node_modules', '.bin'), path.dirname(nodeGypPath() ?? '')]
    .filter(Boolean)
    .join(path.delimiter);
  return env;
}

/** npm's bundled node-gyp (npm tells its scripts where it is; else next to the running Node). */
function nodeGypPath() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(nodePrefix(), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((file) => file && fs.existsSync(file));
}

module.exports = { PACKAGE_ROOT, nativeBuildEnv, nodeGypPath };
