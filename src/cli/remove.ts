/**
 * Removing segments safely, shared by `rm` and `gc`.
 *
 * "How can you tell if a segment is still in use? You really can't" — with ipcrm and /dev/shm alone.
 * Here a segment is in use when any registered producer or consumer is alive (a stopped process is
 * alive), or any process maps it or holds it open (/proc/<pid>/maps and fd). Only an unused segment is
 * removed without --force.
 *
 * Unlinking only removes the name: processes that still map the segment keep working on the old memory,
 * which the kernel frees when the last of them unmaps it; new openers no longer find it.
 */
import * as fs from 'fs';
import { assessUse, readSnapshot, SegmentNotFoundError, type RingSnapshot, type UseAssessment } from '../ring/snapshot';
import type { ShmUsage } from '../core/procmaps';
import { libraryCode, type JsonItemError } from './common';

export type RemovalAction = 'removed' | 'would-remove' | 'kept' | 'failed';

export interface RemovalResult {
  name: string;
  path: string;
  kind: RingSnapshot['kind'];
  size: number;
  action: RemovalAction;
  /** Removed although in use, or although not a ring (--force). */
  forced: boolean;
  inUse: boolean;
  /** Live pids that use it. */
  pids: number[];
  reasons: string[];
  error?: JsonItemError;
}

export interface RemovalPolicy {
  force: boolean;
  dryRun: boolean;
  /** Whether a segment that is not a shmring segment may be removed (rm --force NAME only). */
  allowForeign: boolean;
}

export function isForeign(snapshot: RingSnapshot): boolean {
  return snapshot.kind === 'foreign' || snapshot.kind === 'unreadable';
}

/** Decides about one segment and, unless dry-run, removes it. Never throws for a segment-level failure. */
export function removeSegment(snapshot: RingSnapshot, usage: ShmUsage, policy: RemovalPolicy): RemovalResult {
  const use: UseAssessment = assessUse(snapshot, usage);
  const base = {
    name: snapshot.file.name,
    path: snapshot.file.path,
    kind: snapshot.kind,
    size: snapshot.file.size,
    inUse: !use.unused,
    pids: use.pids,
    reasons: [...use.reasons],
    forced: false,
  };
  if (isForeign(snapshot)) {
    base.reasons.unshift(snapshot.error?.message ?? 'not a shmring ring');
    if (!policy.allowForeign || !policy.force) return { ...base, action: 'kept' };
  }
  if (!use.unused && !policy.force) return { ...base, action: 'kept' };
  const forced = !use.unused || isForeign(snapshot);
  if (policy.dryRun) return { ...base, forced, action: 'would-remove' };

  // Re-check just before unlinking: the name must still be the file we judged (not a ring re-created under
  // the same name since), and its registered processes must still be dead.
  if (!policy.force) {
    let again: RingSnapshot;
    try {
      again = readSnapshot(snapshot.file.name);
    } catch (error) {
      if (error instanceof SegmentNotFoundError) return { ...base, action: 'kept', reasons: [...base.reasons, 'already gone'] };
      throw error;
    }
    const reuse = assessUse(again, usage);
    if (again.file.ino !== snapshot.file.ino || !reuse.unused) {
      return {
        ...base,
        action: 'kept',
        inUse: true,
        pids: reuse.pids,
        reasons: again.file.ino !== snapshot.file.ino ? ['re-created while being checked'] : reuse.reasons,
      };
    }
  }
  try {
    // unlink on /dev/shm is what shm_unlink(3) does on Linux; no native code needed to clean up.
    fs.unlinkSync(snapshot.file.path);
    return { ...base, forced, action: 'removed' };
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return { ...base, action: 'kept', reasons: [...base.reasons, 'already gone'] };
    return {
      ...base,
      forced,
      action: 'failed',
      error: {
        code: libraryCode(e.code ?? 'EIO', snapshot.file.name),
        message: `cannot remove ${snapshot.file.path}: ${e.message}`,
        hint:
          e.code === 'EACCES' || e.code === 'EPERM'
            ? `/dev/shm is sticky (mode 1777): only the owner (uid ${snapshot.file.uid}) or root may remove this file. Run as that user or with sudo.`
            : undefined,
      },
    };
  }
}
