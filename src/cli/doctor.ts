/**
 * `shmring doctor`: checks the machine for everything that makes shared memory fail in production
 * (a small or full /dev/shm, Docker's 64 MiB default, limits, permissions, huge pages, futex_waitv,
 * rings left behind by crashes) and says, for each finding, what to change with the exact command.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Command } from 'commander';
import { SHM_DIRECTORY } from '../ring/snapshot';
import { CliError, colorsFor, ExitCode, formatBytes, jsonError, makeTable, printJson, tableText, type OutputOptions } from './common';
import { survey, type Survey } from './survey';

/** ok: nothing to do; info: worth knowing, no action needed; warn: needs action; fail: shmring cannot work. */
export type CheckStatus = 'ok' | 'info' | 'warn' | 'fail';

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  /** The finding, one line. */
  finding: string;
  /** What to change, when something should change (or may, for info). */
  fix?: { text: string; commands: string[] };
  /** The raw values behind the finding, for scripts. */
  values?: Record<string, unknown>;
}

export interface DoctorReport {
  healthy: boolean;
  checks: Check[];
  /** When not healthy (exit 1): the shape of every --json failure, code UNHEALTHY. */
  error?: ReturnType<typeof jsonError>['error'];
}

/** Docker's default /dev/shm size (`--shm-size` 64m); also the size below which /dev/shm is called small. */
export const SMALL_SHM_BYTES = 64 * 1024 * 1024;
export const DOCKER_DEFAULT_SHM_BYTES = 64 * 1024 * 1024;

/**
 * The size finding for /dev/shm. Only a container's /dev/shm of exactly Docker's 64 MiB is called its
 * default; any other small size is just small (someone chose it, or the runtime has another default).
 */
export function describeShmSpace(total: number, free: number, container: string | undefined): { status: CheckStatus; finding: string; needsMore: boolean } {
  if (total === 0) return { status: 'info', finding: 'size unknown (statfs failed)', needsMore: false };
  const small = total <= SMALL_SHM_BYTES;
  const low = free < total * 0.1 || free < SMALL_SHM_BYTES / 2;
  let finding = `${formatBytes(total)} total, ${formatBytes(free)} free`;
  if (small) {
    const what =
      container && total === DOCKER_DEFAULT_SHM_BYTES ? `${container}'s default (64 MiB)`
      : container ? `very small for a ${container} container`
      : 'very small';
    finding += `: ${what}; creating a ring bigger than this fails (ENOSPC), or SIGBUS on first write if pages are not reserved`;
  } else if (low) {
    finding += ': almost full; new rings fail with ENOSPC even though `df` shows the disks are not full';
  }
  return { status: small || low ? 'warn' : 'ok', finding, needsMore: small || low };
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The mount entry of /dev/shm (last one wins, as the kernel stacks them), from /proc/mounts. */
function shmMount(): { fsType: string; options: string[] } | undefined {
  const mounts = readText('/proc/mounts');
  if (!mounts) return undefined;
  let found: { fsType: string; options: string[] } | undefined;
  for (const line of mounts.split('\n')) {
    const [, target, fsType, options] = line.split(' ');
    if (target === SHM_DIRECTORY) found = { fsType, options: (options ?? '').split(',') };
  }
  return found;
}

/** A soft/hard pair from /proc/self/limits; Infinity for unlimited. */
export function readLimit(label: string): { soft: number; hard: number } | undefined {
  const text = readText('/proc/self/limits');
  if (!text) return undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(label)) continue;
    const fields = line.slice(label.length).trim().split(/\s+/);
    const parse = (v: string) => (v === 'unlimited' ? Infinity : Number(v));
    return { soft: parse(fields[0]), hard: parse(fields[1]) };
  }
  return undefined;
}

function kernelAtLeast(major: number, minor: number): boolean {
  const match = /^(\d+)\.(\d+)/.exec(os.release());
  if (!match) return false;
  const [ma, mi] = [Number(match[1]), Number(match[2])];
  return ma > major || (ma === major && mi >= minor);
}

function nativeAddon(): { futexWaitvSupported(): boolean } | Error {
  try {
    // Loaded lazily and tolerated missing: every other check (and ls, inspect, rm, gc) works without it.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require(path.join(__dirname, '..', 'core', 'native')) as { native: { futexWaitvSupported(): boolean } }).native;
  } catch (error) {
    return error as Error;
  }
}

/** Container hints: the runtime's marker files and pid 1's cgroup. */
function detectContainer(): string | undefined {
  if (fs.existsSync('/.dockerenv')) return 'docker';
  if (fs.existsSync('/run/.containerenv')) return 'podman';
  if (process.env.KUBERNETES_SERVICE_HOST) return 'kubernetes';
  const cgroup = readText('/proc/1/cgroup') ?? '';
  if (/kubepods/.test(cgroup)) return 'kubernetes';
  if (/docker|containerd/.test(cgroup)) return 'docker';
  if (/lxc/.test(cgroup)) return 'lxc';
  return undefined;
}

const SHM_SIZE_FIX = (container: string | undefined): { text: string; commands: string[] } => ({
  text:
    container === undefined
      ? 'Grow /dev/shm (tmpfs: memory is only used as segments fill it); make it permanent in /etc/fstab.'
      : `Give the ${container} container a bigger /dev/shm when starting it.`,
  commands:
    container === 'kubernetes'
      ? ['volumes: [{name: dshm, emptyDir: {medium: Memory, sizeLimit: 1Gi}}]  # mounted at /dev/shm']
      : container !== undefined
        ? ['docker run --shm-size=1g ...', 'docker compose: shm_size: "1gb"', 'mount -o remount,size=1G /dev/shm  # inside, if privileged']
        : ['sudo mount -o remount,size=1G /dev/shm', 'echo "tmpfs /dev/shm tmpfs defaults,size=1G 0 0" | sudo tee -a /etc/fstab'],
});

export function runChecks(found: Survey): Check[] {
  const checks: Check[] = [];
  const container = detectContainer();
  const mount = shmMount();

  // /dev/shm itself.
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(SHM_DIRECTORY);
  } catch {
    stat = undefined;
  }
  if (!stat || !stat.isDirectory()) {
    checks.push({
      id: 'shm-mount',
      title: '/dev/shm',
      status: 'fail',
      finding: '/dev/shm does not exist: POSIX shared memory (shm_open) has nowhere to live',
      fix: { text: 'Mount a tmpfs on /dev/shm.', commands: ['sudo mkdir -p /dev/shm && sudo mount -t tmpfs -o mode=1777,size=1G tmpfs /dev/shm'] },
    });
    return checks;
  }
  checks.push({
    id: 'shm-mount',
    title: '/dev/shm',
    status: mount && mount.fsType !== 'tmpfs' ? 'warn' : 'ok',
    finding: mount
      ? `${mount.fsType} (${mount.options.join(',')})${mount.fsType !== 'tmpfs' ? ': not tmpfs, segments may be written to disk' : ''}`
      : 'mounted (mount table unreadable)',
    fix: mount && mount.fsType !== 'tmpfs' ? { text: 'Mount a tmpfs on /dev/shm.', commands: ['sudo mount -t tmpfs -o mode=1777,size=1G tmpfs /dev/shm'] } : undefined,
    values: { fsType: mount?.fsType ?? null, options: mount?.options ?? null },
  });

  const mode = stat.mode & 0o7777;
  const permissionsOk = (mode & 0o1777) === 0o1777;
  checks.push({
    id: 'shm-permissions',
    title: '/dev/shm permissions',
    status: permissionsOk ? 'ok' : 'warn',
    finding: permissionsOk
      ? `mode ${mode.toString(8)}: everyone may create segments, only owners may remove theirs`
      : `mode ${mode.toString(8)}, expected 1777: shm_open fails with EACCES for other users${(mode & 0o1000) === 0 ? ', and anyone may delete others\u2019 segments (no sticky bit)' : ''}`,
    fix: permissionsOk ? undefined : { text: 'Restore the standard mode.', commands: ['sudo chmod 1777 /dev/shm'] },
    values: { mode: mode.toString(8) },
  });

  let total = 0;
  let free = 0;
  try {
    const fsStat = fs.statfsSync(SHM_DIRECTORY);
    total = fsStat.blocks * fsStat.bsize;
    free = fsStat.bavail * fsStat.bsize;
  } catch {
    // reported below as unknown
  }
  const small = total > 0 && total <= SMALL_SHM_BYTES;
  const space = describeShmSpace(total, free, container);
  checks.push({
    id: 'shm-space',
    title: '/dev/shm size and free space',
    status: space.status,
    finding: space.finding,
    fix: space.needsMore ? SHM_SIZE_FIX(container) : undefined,
    values: { totalBytes: total, freeBytes: free },
  });

  checks.push({
    id: 'container',
    title: 'container',
    status: container && small ? 'warn' : 'info',
    finding: container
      ? `looks like ${container}${small ? ` with a small /dev/shm (${formatBytes(total)})` : `; /dev/shm is ${formatBytes(total)}`}` +
        '; processes share rings only if they share this /dev/shm (same container, or a shared volume / --ipc)'
      : 'not a container',
    fix: container
      ? small
        ? SHM_SIZE_FIX(container)
        : { text: 'To share rings between containers, share IPC and /dev/shm.', commands: ['docker run --ipc=shareable ... / docker run --ipc=container:NAME ...'] }
      : undefined,
    values: { container: container ?? null },
  });

  // System V limits: often blamed, irrelevant to POSIX shm on tmpfs.
  const shmmax = readText('/proc/sys/kernel/shmmax')?.trim();
  const shmall = readText('/proc/sys/kernel/shmall')?.trim();
  checks.push({
    id: 'sysv-limits',
    title: 'shmmax / shmall',
    status: 'info',
    finding:
      `shmmax ${shmmax ?? '?'} bytes, shmall ${shmall ?? '?'} pages: System V limits (ipcs/shmget); ` +
      'shmring uses POSIX shm on tmpfs, limited by the size of /dev/shm instead',
    values: { shmmax: shmmax ?? null, shmall: shmall ?? null },
  });

  const memlock = readLimit('Max locked memory');
  checks.push({
    id: 'memlock',
    title: 'locked memory (ulimit -l)',
    status: 'info',
    finding: memlock
      ? `${memlock.soft === Infinity ? 'unlimited' : formatBytes(memlock.soft)} (hard ${memlock.hard === Infinity ? 'unlimited' : formatBytes(memlock.hard)}): ` +
        'only rings created with the `lock` option (mlock, never swapped) count against it; bigger ones fail with EAGAIN/ENOMEM'
      : 'unknown',
    fix:
      memlock && memlock.soft !== Infinity
        ? {
            text: 'Only if you lock rings in memory: raise the limit for the service.',
            commands: ['ulimit -l unlimited', 'systemd: LimitMEMLOCK=infinity', 'docker run --ulimit memlock=-1 ...', '/etc/security/limits.conf: <user> - memlock unlimited'],
          }
        : undefined,
    values: { soft: memlock?.soft === Infinity ? 'unlimited' : (memlock?.soft ?? null), hard: memlock?.hard === Infinity ? 'unlimited' : (memlock?.hard ?? null) },
  });

  const nofile = readLimit('Max open files');
  const nofileLow = nofile !== undefined && nofile.soft < 1024;
  checks.push({
    id: 'nofile',
    title: 'open files (ulimit -n)',
    status: nofileLow ? 'warn' : 'ok',
    finding: nofile ? `${nofile.soft === Infinity ? 'unlimited' : nofile.soft}${nofileLow ? ': low; opening many rings fails with EMFILE' : ''}` : 'unknown',
    fix: nofileLow ? { text: 'Raise the open-file limit.', commands: ['ulimit -n 65536', 'systemd: LimitNOFILE=65536'] } : undefined,
    values: { soft: nofile?.soft === Infinity ? 'unlimited' : (nofile?.soft ?? null) },
  });

  const thpText = readText('/sys/kernel/mm/transparent_hugepage/shmem_enabled');
  const thp = thpText ? (/\[(\w[\w-]*)\]/.exec(thpText)?.[1] ?? thpText.trim()) : undefined;
  const hugeMount = mount?.options.find((o) => o.startsWith('huge='));
  checks.push({
    id: 'thp-shmem',
    title: 'transparent huge pages (shmem)',
    status: 'info',
    finding: thp
      ? `shmem_enabled=${thp}${hugeMount ? `, /dev/shm mounted ${hugeMount}` : ''}: ` +
        (thp === 'never' || thp === 'deny'
          ? 'the `hugePages` option has no effect (fewer TLB misses for big rings need huge pages)'
          : 'rings created with the `hugePages` option can use 2 MiB pages')
      : 'not available on this kernel',
    fix:
      thp === 'never' || thp === 'deny'
        ? { text: 'Only for large rings with the `hugePages` option: allow huge pages where asked for.', commands: ['echo advise | sudo tee /sys/kernel/mm/transparent_hugepage/shmem_enabled'] }
        : undefined,
    values: { shmemEnabled: thp ?? null, mountHuge: hugeMount ?? null },
  });

  const addon = nativeAddon();
  let waitv: boolean;
  let waitvSource: string;
  if (addon instanceof Error) {
    waitv = kernelAtLeast(5, 16);
    waitvSource = `kernel ${os.release()}`;
  } else {
    try {
      waitv = addon.futexWaitvSupported();
      waitvSource = 'probed';
    } catch {
      waitv = kernelAtLeast(5, 16);
      waitvSource = `kernel ${os.release()}`;
    }
  }
  checks.push({
    id: 'native-addon',
    title: 'native addon',
    status: addon instanceof Error ? 'fail' : 'ok',
    finding: addon instanceof Error ? `cannot be loaded: ${addon.message}` : 'loaded',
    fix: addon instanceof Error ? { text: 'Rebuild it (needs g++, make, python3).', commands: ['npm rebuild shmring', 'apt-get install g++ make python3'] } : undefined,
  });
  checks.push({
    id: 'futex-waitv',
    title: 'futex_waitv (Linux 5.16+)',
    status: waitv ? 'ok' : 'warn',
    finding: `${waitv ? 'supported' : 'not supported'} (${waitvSource})${waitv ? '' : ': waiting on several rings at once (fan-in) cannot sleep on all of them'}`,
    fix: waitv ? undefined : { text: 'Run on Linux 5.16 or later for fan-in.', commands: ['uname -r'] },
    values: { supported: waitv, kernel: os.release() },
  });

  // Rings left behind.
  const abandoned = found.rings.filter((r) => r.status === 'abandoned');
  // A damaged or other-version ring that a live process uses belongs to that process (another shmring
  // release, or another program): reported, never something to remove.
  const damagedKinds = (r: (typeof found.rings)[number]) => r.kind === 'corrupt' || r.kind === 'incompatible' || r.kind === 'initialising';
  const damaged = found.rings.filter((r) => damagedKinds(r) && !r.inUse);
  const othersRings = found.rings.filter((r) => (r.kind === 'corrupt' || r.kind === 'incompatible') && r.inUse);
  const abandonedBytes = abandoned.reduce((sum, r) => sum + r.size, 0);
  const euid = process.geteuid?.() ?? 0;
  const othersAbandoned = euid === 0 ? [] : abandoned.filter((r) => r.uid !== euid);
  checks.push({
    id: 'leftover-rings',
    title: 'rings left by dead processes',
    status: abandoned.length > 0 ? 'warn' : 'ok',
    finding:
      abandoned.length > 0
        ? `${abandoned.length} ring(s) nothing alive uses, ${formatBytes(abandonedBytes)} of /dev/shm: ${abandoned.slice(0, 5).map((r) => r.name).join(', ')}${abandoned.length > 5 ? ', ...' : ''}`
        : `none (${found.rings.length} ring(s) in use)`,
    fix:
      abandoned.length > 0
        ? {
            // /dev/shm is sticky: another user's rings can be removed only by that user or root.
            text: `Remove them (processes that use a ring are never touched).${othersAbandoned.length > 0 ? ` ${othersAbandoned.length} of them belong to other users: run gc as their owner or root.` : ''}`,
            commands: ['npx shmring gc --dry-run', 'npx shmring gc'],
          }
        : undefined,
    values: { count: abandoned.length, bytes: abandonedBytes, names: abandoned.map((r) => r.name) },
  });
  if (damaged.length > 0) {
    checks.push({
      id: 'damaged-rings',
      title: 'corrupt or incompatible rings',
      status: 'warn',
      finding: damaged.map((r) => `${r.name}: ${r.error?.message ?? r.kind}${r.inUse ? ' (in use)' : ''}`).join('; '),
      fix: {
        text: 'Look at them; remove them when nothing uses them (a restarted producer also replaces them).',
        commands: damaged.slice(0, 3).flatMap((r) => [`npx shmring inspect ${r.name}`, `npx shmring rm ${r.name}`]),
      },
      values: { names: damaged.map((r) => r.name) },
    });
  }
  if (othersRings.length > 0) {
    checks.push({
      id: 'rings-in-use-elsewhere',
      title: 'other versions\u2019 rings in use',
      status: 'info',
      finding:
        othersRings.map((r) => `${r.name}: ${r.error?.message ?? r.kind}, used by pid ${r.mappers.map((m) => m.pid).join(', ') || '?'}`).join('; ') +
        ': a running program (or another shmring release) uses them; nothing to do here',
      values: { names: othersRings.map((r) => r.name) },
    });
  }
  // Other programs' files: their business. Counted (they take /dev/shm space), never to be removed.
  const others = [...found.foreign, ...found.unreadable];
  if (others.length > 0) {
    const bytes = others.reduce((sum, f) => sum + f.size, 0);
    checks.push({
      id: 'other-files',
      title: 'other programs\u2019 files',
      status: 'info',
      finding:
        `${others.length} file(s) in /dev/shm that are not shmring rings${found.unreadable.length ? ` or cannot be read by this user (${found.unreadable.length})` : ''}, ` +
        `${formatBytes(bytes)}: left alone (\`shmring ls\` lists them)`,
      values: { count: others.length, bytes, names: others.map((f) => f.name) },
    });
  }
  const deletedBytes = found.deletedMappings.reduce((sum, d) => sum + d.bytes, 0);
  if (deletedBytes > 0) {
    const pids = [...new Set(found.deletedMappings.map((d) => d.pid))];
    checks.push({
      id: 'deleted-segments',
      title: 'removed segments still mapped',
      status: 'info',
      finding:
        `${formatBytes(deletedBytes)} of unlinked /dev/shm segments still mapped by pid ${pids.slice(0, 8).join(', ')}` +
        ': memory not shown by `df /dev/shm`, freed when those processes unmap or exit',
      values: { bytes: deletedBytes, pids },
    });
  }
  return checks;
}

const STATUS_ORDER: Record<CheckStatus, number> = { fail: 0, warn: 1, info: 2, ok: 3 };

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check /dev/shm, limits, huge pages, futex_waitv, containers and leftover rings; say what to change')
    .option('--json', 'machine-readable output')
    .option('--no-color', 'no colour even on a terminal')
    .addHelpText(
      'after',
      `
Exits 0 when healthy, 1 when something needs action (a "warn" or "fail" finding).

Examples:
  $ shmring doctor
  $ shmring doctor --json | jq '.checks[] | select(.status != "ok")'`,
    )
    .action(async (options: OutputOptions) => {
      const found = await survey({ rateSampleMs: 0 });
      const checks = runChecks(found);
      const healthy = !checks.some((c) => c.status === 'warn' || c.status === 'fail');
      process.exitCode = healthy ? ExitCode.OK : ExitCode.ERROR;
      if (options.json) {
        const needAction = checks.filter((c) => c.status === 'warn' || c.status === 'fail');
        const failure = healthy
          ? {}
          : jsonError(new CliError(`${needAction.length} check(s) need action: ${needAction.map((c) => c.id).join(', ')}`, ExitCode.ERROR, 'UNHEALTHY'));
        printJson({ healthy, checks, ...failure } satisfies DoctorReport);
        return;
      }
      const colors = colorsFor(options);
      const paint: Record<CheckStatus, (s: string) => string> = {
        ok: colors.green,
        info: colors.cyan,
        warn: colors.yellow,
        fail: colors.red,
      };
      const table = makeTable(['CHECK', 'STATUS', 'FINDING'], colors, ['left', 'left', 'left']);
      for (const check of checks) table.push([check.title, paint[check.status](check.status), check.finding]);
      const out = [tableText(table)];
      const todo = checks.filter((c) => c.fix).sort((a, b) => STATUS_ORDER[a.status] - STATUS_ORDER[b.status]);
      if (todo.length > 0) {
        out.push('', colors.bold('What to change'));
        for (const check of todo) {
          out.push(`${paint[check.status](check.status === 'info' ? 'optional' : check.status)}  ${check.title}: ${check.fix!.text}`);
          for (const command of check.fix!.commands) out.push(`    ${colors.bold(command)}`);
        }
      }
      out.push('', healthy ? colors.green('Healthy.') : colors.yellow('Something needs action (see above).'));
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
