/**
 * What every subcommand shares: exit codes, errors, colour and table output, formatting.
 */
import Table from 'cli-table3';
import { InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import * as fs from 'fs';
import { fromSystemError } from '../errors';
import type { UnreadableProcess } from '../core/procmaps';

type Colors = ReturnType<typeof pc.createColors>;

/** Exit codes of every subcommand; documented in `shmring --help` and docs/operations.md. */
export const ExitCode = {
  OK: 0,
  /** Something failed, or (doctor) something needs action. */
  ERROR: 1,
  /** Bad arguments or options. */
  USAGE: 2,
  /** No such segment in /dev/shm. */
  NOT_FOUND: 3,
  /** Refused: a live process uses the segment (rm, gc). */
  IN_USE: 4,
  /** The segment is not a ring: foreign, corrupt, of another layout version, or still initialising. */
  NOT_A_RING: 5,
  /** tail: fewer than -n messages arrived before --timeout. */
  TIMEOUT: 6,
  /** The segment cannot be read (or removed) by this user: another user's, with a mode that keeps others out. */
  PERMISSION_DENIED: 7,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0  ok
  1  error; doctor: something needs action; gc: a removal failed; tail: the producer died
  2  usage: bad arguments or options, unknown command
  3  not found: no such segment in /dev/shm (inspect, tail, rm)
  4  refused: a live process uses the segment (rm); --force overrides
  5  not a ring: foreign file, corrupt header, other layout version (inspect, tail, rm)
  6  timed out: tail got fewer than -n messages before --timeout
  7  permission denied: the segment is another user's (inspect, tail, rm); run as its owner or root`;

/** A failure the CLI reports with a message, an optional hint, and an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code: string,
    readonly hint?: string,
    readonly segment?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface OutputOptions {
  json?: boolean;
  color?: boolean;
}

/** Colour only on a terminal, never with --json, never when NO_COLOR is set (https://no-color.org). */
export function colorsFor(options: OutputOptions, stream: NodeJS.WriteStream = process.stdout): Colors {
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  const enabled = !options.json && options.color !== false && !noColor && (stream.isTTY === true || process.env.FORCE_COLOR === '1');
  return pc.createColors(enabled);
}

/** A borderless table with aligned columns (cli-table3), headings in bold when colour is on. */
export function makeTable(head: string[], colors: Colors, align?: ('left' | 'right')[]): Table.Table {
  return new Table({
    head: head.map((h) => colors.bold(h)),
    colAligns: align,
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
      bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '',
      right: '', 'right-mid': '', middle: '  ',
    },
    // cli-table3 colours headings and borders itself unless told not to; colour is ours to decide.
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
}

/** Writes a table, without the trailing spaces cli-table3 pads the last column with. */
export function tableText(table: Table.Table): string {
  return table
    .toString()
    .split('\n')
    .map((line) => line.replace(/\s+$/, ''))
    .join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  // A byte count that is not whole (an average, a share of a ring) is rounded: nobody reads 885.62 B.
  if (unit === 0) return `${Math.round(value)} B`;
  return `${value >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

export function formatCount(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '-';
  if (value < 10_000) return String(value);
  const units = ['k', 'M', 'G', 'T'];
  let scaled = value;
  let unit = -1;
  while (scaled >= 1000 && unit < units.length - 1) {
    scaled /= 1000;
    unit += 1;
  }
  return `${scaled >= 100 ? scaled.toFixed(0) : scaled.toFixed(1)}${units[unit]}`;
}

export function formatRate(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond)) return '-';
  return `${formatCount(Math.round(perSecond))}/s`;
}

export function formatMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

let users: Map<number, string> | undefined;
let groups: Map<number, string> | undefined;

function readIdNames(file: string): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields.length >= 3 && /^\d+$/.test(fields[2]) && !names.has(Number(fields[2]))) names.set(Number(fields[2]), fields[0]);
    }
  } catch {
    // no /etc/passwd (a minimal container): numeric ids it is
  }
  return names;
}

export function userName(uid: number): string {
  users ??= readIdNames('/etc/passwd');
  return users.get(uid) ?? String(uid);
}

export function groupName(gid: number): string {
  groups ??= readIdNames('/etc/group');
  return groups.get(gid) ?? String(gid);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Commander option parser for a non-negative integer, naming the option and the value on error. */
export function parseNonNegativeInteger(label: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
      // commander reports it as a usage error naming the option (exit code 2, see main.ts).
      throw new InvalidArgumentError(`${label} must be a non-negative integer.`);
    }
    return n;
  };
}

/**
 * The library's code for an error a tool found (src/errors.ts: SEGMENT_NOT_FOUND, PERMISSION_DENIED...),
 * where the source only had an errno name (ENOENT, EACCES from fs); other codes are kept.
 */
export function libraryCode(code: string | undefined, segment = ''): string {
  if (code === undefined || code === '') return 'SYSTEM_ERROR';
  if (!/^E[A-Z0-9]+$/.test(code)) return code;
  return fromSystemError({ code }, { segment }).code;
}

/** A per-item error (a ring in `ls`, a removal in `gc`) in the shape every --json output uses. */
export interface JsonItemError {
  code: string;
  message: string;
  hint?: string;
}

export function itemError(error: { code?: string; message: string; hint?: string }, segment?: string): JsonItemError {
  return { code: libraryCode(error.code, segment), message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
}

/** Exit code for a library error code. */
export function exitCodeFor(code: string): number {
  switch (code) {
    case 'SEGMENT_NOT_FOUND':
      return ExitCode.NOT_FOUND;
    case 'NOT_A_RING':
    case 'CORRUPT_SEGMENT':
    case 'INCOMPATIBLE_VERSION':
    case 'INITIALISING':
      return ExitCode.NOT_A_RING;
    case 'PERMISSION_DENIED':
    case 'FOREIGN_OWNER':
      return ExitCode.PERMISSION_DENIED;
    case 'IN_USE':
      return ExitCode.IN_USE;
    case 'TIMEOUT':
      return ExitCode.TIMEOUT;
    case 'USAGE':
      return ExitCode.USAGE;
    default:
      return ExitCode.ERROR;
  }
}

/** Turns anything thrown into a CliError with an exit code and the library's error code. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const e = error as { name?: string; code?: string; message?: string; hint?: string; segment?: string };
  if (e?.name === 'SegmentNotFoundError') {
    return new CliError(e.message ?? 'not found', ExitCode.NOT_FOUND, 'SEGMENT_NOT_FOUND', 'List the rings with `shmring ls`.', e.segment);
  }
  if (error instanceof RangeError || error instanceof TypeError) {
    return new CliError(error.message, ExitCode.USAGE, 'USAGE');
  }
  const code = libraryCode(typeof e?.code === 'string' ? e.code : undefined, e?.segment);
  return new CliError(e?.message ?? String(error), exitCodeFor(code), code, e?.hint, e?.segment);
}

/**
 * The one shape of a failure in --json output, on stdout, whatever the command:
 * `{"error": {"code", "message", "hint"?, "segment"?, "exitCode"}}` (docs/operations.md).
 */
export function jsonError(error: CliError): { error: { code: string; message: string; hint?: string; segment?: string; exitCode: number } } {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.hint ? { hint: error.hint } : {}),
      ...(error.segment ? { segment: error.segment } : {}),
      exitCode: error.exitCode,
    },
  };
}

/** Reports an error (JSON on stdout with --json, for scripts; text on stderr otherwise) and sets the exit code. */
export function reportError(error: unknown, options: OutputOptions): void {
  const cliError = toCliError(error);
  if (options.json) {
    // One line: a valid last line of `tail --json`'s JSON lines as well as a whole document elsewhere.
    process.stdout.write(`${JSON.stringify(jsonError(cliError))}\n`);
  } else {
    const colors = colorsFor(options, process.stderr);
    process.stderr.write(`${colors.red('error:')} ${cliError.message}\n`);
    if (cliError.hint) process.stderr.write(`${colors.dim('hint:')} ${cliError.hint}\n`);
  }
  process.exitCode = cliError.exitCode;
}

/** "pid 1 (systemd), pid 7 (node) and 3 more" */
function listProcesses(processes: UnreadableProcess[], max = 3): string {
  const shown = processes.slice(0, max).map((p) => `pid ${p.pid}${p.command ? ` (${p.command})` : ''}`);
  return `${shown.join(', ')}${processes.length > max ? ` and ${processes.length - max} more` : ''}`;
}

/**
 * What could not be read in /proc, and why, in one sentence; undefined when everything could. As root the
 * advice to run as root would be wrong: then it is a kernel restriction (another user namespace, no
 * CAP_SYS_PTRACE in a container, a hardened /proc).
 */
export function describeUninspected(processes: UnreadableProcess[], euid = process.geteuid?.() ?? -1): string | undefined {
  if (processes.length === 0) return undefined;
  const files = [...new Set(processes.flatMap((p) => p.paths.map((path) => path.replace(/\/\d+\//, '/PID/'))))].join(' and ');
  const what = processes.length === 1 ? `${processes[0].paths.join(' and ')} of ${listProcesses(processes)}` : `${files} of ${processes.length} processes (${listProcesses(processes)})`;
  const hidden = processes.length === 1 ? 'segments it maps or holds open are not listed' : 'segments they map or hold open are not listed';
  if (euid === 0) {
    return `permission denied reading ${what} even as root (another user namespace, no CAP_SYS_PTRACE in this container, or a hardened /proc): ${hidden}`;
  }
  return `permission denied reading ${what}: ${hidden}; run as their owner or root to see them`;
}
