/**
 * `shmring rm NAME`: remove one segment, only when nothing alive uses it (exit 4 naming the pids
 * otherwise); `--force` removes it anyway, with a warning.
 */
import type { Command } from 'commander';
import { readSnapshot } from '../ring/snapshot';
import { scanShmUsage } from '../core/procmaps';
import { CliError, colorsFor, ExitCode, exitCodeFor, jsonError, printJson, type OutputOptions } from './common';
import { isForeign, removeSegment, type RemovalResult } from './remove';
import { unreadableError } from './survey';
import type { RingSnapshot } from '../ring/snapshot';

/** Why `rm` did not remove the segment, as an error with its exit code; undefined when it did (or would). */
function refusal(result: RemovalResult, snapshot: RingSnapshot): CliError | undefined {
  if (result.action === 'failed') {
    return new CliError(result.error!.message, exitCodeFor(result.error!.code), result.error!.code, result.error!.hint, result.name);
  }
  if (result.action !== 'kept') return undefined;
  if (snapshot.kind === 'unreadable') {
    // Cannot be read, so cannot be judged; and /dev/shm is sticky, so only its owner or root may remove it.
    const why = unreadableError(snapshot);
    return new CliError(why.message, exitCodeFor(why.code), why.code, why.hint, result.name);
  }
  if (isForeign(snapshot)) {
    return new CliError(
      `${result.name} is not a shmring ring (${snapshot.error?.message ?? snapshot.kind}); not removing another program's file`,
      ExitCode.NOT_A_RING,
      'NOT_A_RING',
      `If you are sure nobody needs it: \`shmring rm --force ${result.name}\`${result.pids.length ? ` (used now by pid ${result.pids.join(', ')})` : ''}.`,
      result.name,
    );
  }
  return new CliError(
    `${result.name} is in use by pid ${result.pids.join(', ')}: ${result.reasons.join('; ')}`,
    ExitCode.IN_USE,
    'IN_USE',
    `Stop those processes first, or \`shmring rm --force ${result.name}\` (they keep the memory but lose the name).`,
    result.name,
  );
}

interface RmOptions extends OutputOptions {
  force?: boolean;
  dryRun?: boolean;
}

export function registerRm(program: Command): void {
  program
    .command('rm')
    .alias('remove')
    .argument('<name>', 'ring name: /name, name, or /dev/shm/name')
    .description('remove a ring, only if no live process maps it and its producer and consumers are dead or closed')
    .option('-f, --force', 'remove even if in use, or not a shmring ring (prints a warning)')
    .option('-n, --dry-run', 'say what would happen, remove nothing')
    .option('--json', 'machine-readable output')
    .option('--no-color', 'no colour even on a terminal')
    .addHelpText(
      'after',
      `
Processes that map a removed segment keep working on its memory (freed when the last one unmaps it), but
nobody can open it by name any more: a consumer started later will not find the ring.
Exits 4 (naming the pids) when a live process uses the segment, 5 when it is not a shmring ring,
3 when there is no such segment, 7 when it is another user's (only its owner or root may remove it).

Examples:
  $ shmring rm /telemetry
  $ shmring rm /telemetry --dry-run
  $ shmring rm /telemetry --force      # in use: its processes lose the name`,
    )
    .action((name: string, options: RmOptions) => {
      const snapshot = readSnapshot(name);
      const result = removeSegment(snapshot, scanShmUsage(), {
        force: options.force === true,
        dryRun: options.dryRun === true,
        allowForeign: true,
      });
      const colors = colorsFor(options);
      const errColors = colorsFor(options, process.stderr);
      const refused = refusal(result, snapshot);
      if (options.json) {
        // The result says everything (action, pids, reasons); a refusal adds the `error` every --json failure has.
        printJson({ ...result, ...(refused ? jsonError(refused) : {}) });
        if (refused) process.exitCode = refused.exitCode;
        return;
      }
      if (refused) throw refused;
      if (result.forced) {
        process.stderr.write(
          `${errColors.yellow('warning:')} ${result.name} ${isForeign(snapshot) ? 'is not a shmring ring' : `was in use by pid ${result.pids.join(', ')}`}; ` +
            `${result.action === 'removed' ? 'removed' : 'would remove'} anyway (--force)\n`,
        );
      }
      const verb = result.action === 'removed' ? colors.green('removed') : colors.yellow('would remove');
      process.stdout.write(`${verb} ${result.name}: ${result.reasons.join('; ')}\n`);
    });
}
