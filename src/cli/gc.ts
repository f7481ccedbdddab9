/**
 * `shmring gc`: remove every ring that nothing alive uses any more (left behind by crashed or killed
 * processes), and say what was removed and what was kept, and why. Foreign files are never touched.
 */
import * as fs from 'fs';
import type { Command } from 'commander';
import { abandonedTemporaries, removeAbandonedTemporaries, type AbandonedTemporary } from '../ring/create';
import { snapshotAll } from '../ring/snapshot';
import { sweepOrphanBells } from '../ring/bells';
import { scanShmUsage, usersOf } from '../core/procmaps';
import { SHM_DIRECTORY } from '../errors';
import { LANDING_LOG_PREFIX, orphanedLandingLogs } from '../integrations/bridge/landing-log';
import { listSegmentNames } from '../ring/snapshot';
import { CliError, colorsFor, ExitCode, formatBytes, jsonError, makeTable, printJson, tableText, type OutputOptions } from './common';
import { isForeign, removeSegment, type RemovalResult } from './remove';
import { prefixFilter } from './survey';

interface GcOptions extends OutputOptions {
  prefix?: string;
  dryRun?: boolean;
  force?: boolean;
}

export interface GcReport {
  dryRun: boolean;
  force: boolean;
  removed: RemovalResult[];
  kept: RemovalResult[];
  failed: RemovalResult[];
  /** Non-shmring files in /dev/shm: never removed by gc. */
  foreign: string[];
  /** Half-made rings of creators that died before linking them into place (`/.shmring-creating-*`). */
  temporaries: AbandonedTemporary[];
  freedBytes: number;
  /** Doorbell FIFOs (docs/protocol.md, Doorbells) that nobody listened to any more: removed (or would be). */
  bellsRemoved: string[];
  /** Landing logs of NATS → ring bridges (docs/bridge.md) whose ring is gone and that no process holds. */
  landingLogsRemoved: string[];
}

export function runGc(options: { prefix?: string; dryRun: boolean; force: boolean }): GcReport {
  const snapshots = snapshotAll(prefixFilter(options.prefix));
  const usage = scanShmUsage();
  // Half-made rings of dead creators carry no ring name (so no prefix applies): they are garbage whatever
  // the prefix, removed on every run.
  const temporaries = options.dryRun ? abandonedTemporaries() : removeAbandonedTemporaries();
  const report: GcReport = {
    dryRun: options.dryRun,
    force: options.force,
    removed: [],
    kept: [],
    failed: [],
    foreign: [],
    temporaries,
    freedBytes: temporaries.reduce((sum, temporary) => sum + temporary.size, 0),
    bellsRemoved: [],
    landingLogsRemoved: [],
  };
  for (const snapshot of snapshots) {
    if (isForeign(snapshot)) {
      if (!snapshot.file.name.startsWith(LANDING_LOG_PREFIX)) report.foreign.push(snapshot.file.name);
      continue;
    }
    const result = removeSegment(snapshot, usage, { force: options.force, dryRun: options.dryRun, allowForeign: false });
    if (result.action === 'removed' || result.action === 'would-remove') {
      report.removed.push(result);
      report.freedBytes += result.size;
    } else if (result.action === 'failed') report.failed.push(result);
    else report.kept.push(result);
  }
  // After the rings: a removed ring's consumers are gone, so are the readers of their bells.
  report.bellsRemoved = sweepOrphanBells({ dryRun: options.dryRun }).removed;
  // Like bells, a landing log carries no ring name a prefix could match (it may be a hash of it): a log
  // whose ring is gone is garbage whatever the prefix, unless a process (a bridge starting) holds it.
  for (const log of orphanedLandingLogs(listSegmentNames())) {
    if (usersOf(usage, log.inode).length > 0) continue;
    try {
      if (!options.dryRun) fs.unlinkSync(`${SHM_DIRECTORY}${log.name}`);
      report.landingLogsRemoved.push(log.name);
      report.freedBytes += log.size;
    } catch {
      // removed meanwhile
    }
  }
  return report;
}

export function registerGc(program: Command): void {
  program
    .command('gc')
    .description('remove every ring left behind by dead processes; report what was removed and kept, and why')
    .option('--prefix <prefix>', 'only rings whose name starts with this')
    .option('-n, --dry-run', 'say what would be removed, remove nothing')
    .option('-f, --force', 'also remove rings that are in use (prints a warning for each); never foreign files')
    .option('--json', 'machine-readable output')
    .option('--no-color', 'no colour even on a terminal')
    .addHelpText(
      'after',
      `
Doorbell FIFOs (/dev/shm/.shmring-bell-*) that no process holds open any more are removed too, and so are
the landing logs of NATS bridges (/dev/shm/.shmring-bridge-*) whose ring is gone and that no process holds.
A ring is removed when its producer is dead, closed or never started, every registered consumer is dead,
and no process maps it or holds it open. A stopped process (SIGSTOP, a debugger) is alive: its rings stay.
Files in /dev/shm that are not shmring rings are never removed by gc (use \`shmring rm --force NAME\`).
Exits 0 when done (also when rings were kept), 1 when a removal failed.

Examples:
  $ shmring gc --dry-run
  $ shmring gc --prefix /myapp.
  $ shmring gc --json | jq '.removed[].name'`,
    )
    .action((options: GcOptions) => {
      const report = runGc({ prefix: options.prefix, dryRun: options.dryRun === true, force: options.force === true });
      if (report.failed.length > 0) process.exitCode = ExitCode.ERROR;
      if (options.json) {
        const failure =
          report.failed.length > 0
            ? jsonError(
                new CliError(
                  `${report.failed.length} removal(s) failed: ${report.failed.map((r) => r.error?.message ?? r.name).join('; ')}`,
                  ExitCode.ERROR,
                  report.failed[0].error?.code ?? 'SYSTEM_ERROR',
                  report.failed[0].error?.hint,
                ),
              )
            : {};
        printJson({ ...report, ...failure });
        return;
      }
      const colors = colorsFor(options);
      const errColors = colorsFor(options, process.stderr);
      for (const result of report.removed) {
        if (result.forced) {
          process.stderr.write(
            `${errColors.yellow('warning:')} ${result.name} is in use by pid ${result.pids.join(', ')}; ` +
              `${options.dryRun ? 'would remove' : 'removed'} anyway (--force)\n`,
          );
        }
      }
      const rows: [string, RemovalResult][] = [
        ...report.removed.map((r): [string, RemovalResult] => [options.dryRun ? colors.yellow('would remove') : colors.green('removed'), r]),
        ...report.failed.map((r): [string, RemovalResult] => [colors.red('failed'), r]),
        ...report.kept.map((r): [string, RemovalResult] => [colors.dim('kept'), r]),
      ];
      if (rows.length === 0) {
        process.stdout.write('No shmring rings in /dev/shm.\n');
      } else {
        const table = makeTable(['ACTION', 'RING', 'SIZE', 'WHY'], colors, ['left', 'left', 'right', 'left']);
        for (const [action, r] of rows) {
          table.push([action, r.name, formatBytes(r.size), r.error ? `${r.error.message}${r.error.hint ? ` (${r.error.hint})` : ''}` : r.reasons.join('; ')]);
        }
        process.stdout.write(`${tableText(table)}\n`);
      }
      const verb = options.dryRun ? 'would remove' : 'removed';
      for (const temporary of report.temporaries) {
        process.stdout.write(`${verb} ${temporary.name} (${formatBytes(temporary.size)}): a ring its creator, pid ${temporary.creatorPid}, died building\n`);
      }
      for (const log of report.landingLogsRemoved) process.stdout.write(`${verb} ${log}: a bridge's landing log whose ring is gone\n`);
      process.stdout.write(
        `${verb} ${report.removed.length} ring(s)${report.temporaries.length ? ` and ${report.temporaries.length} half-made one(s)` : ''} (${formatBytes(report.freedBytes)}), kept ${report.kept.length}` +
          `${report.failed.length ? `, failed ${report.failed.length}` : ''}` +
          `${report.foreign.length ? `; ${report.foreign.length} foreign file(s) left alone` : ''}` +
          `${report.bellsRemoved.length ? `; ${verb} ${report.bellsRemoved.length} orphaned doorbell(s)` : ''}` +
          `${report.landingLogsRemoved.length ? `; ${verb} ${report.landingLogsRemoved.length} bridge landing log(s) whose ring is gone` : ''}.\n`,
      );
    });
}
