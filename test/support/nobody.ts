import { spawnSync } from 'child_process';
import * as path from 'path';
import { FIXTURES } from './children';

/** uid and gid of the unprivileged user the permission tests run children as. */
export const NOBODY = 65534;

const DIST = path.join(__dirname, '..', '..', 'dist', 'index.js');

/** Why children cannot run as `nobody` with the fixture `fixture` here, or undefined when they can. */
export function nobodyUnavailable(fixture: string): string | undefined {
  if (process.geteuid?.() !== 0) return 'not running as root: cannot spawn children as nobody';
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(DIST)}); require('fs').accessSync(${JSON.stringify(path.join(FIXTURES, fixture))}, 4)`], {
    uid: NOBODY,
    gid: NOBODY,
    timeout: 10000,
    encoding: 'utf8',
  });
  if (probe.status !== 0) return `user nobody cannot load dist/ or the fixture: ${probe.stderr?.slice(0, 300) || probe.error?.message}`;
  return undefined;
}
