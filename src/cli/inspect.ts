/**
 * `shmring inspect NAME`: the header, the counters, every consumer slot, and a picture of the ring.
 * Read-only: takes a snapshot (src/ring/snapshot.ts), never joins the ring.
 */
import type { Command } from 'commander';
import { assessUse, describeStatus, readSnapshot, type RingSnapshot } from '../ring/snapshot';
import { scanShmUsage, type UnreadableProcess } from '../core/procmaps';
import {
  colorsFor,
  describeUninspected,
  ExitCode,
  exitCodeFor,
  itemError,
  jsonError,
  CliError,
  formatBytes,
  formatMode,
  groupName,
  makeTable,
  parseNonNegativeInteger,
  printJson,
  tableText,
  userName,
  type OutputOptions,
} from './common';
import { formatMappers } from './ls';
import { unreadableError } from './survey';

type Colors = ReturnType<typeof colorsFor>;

const SLOT_MARKS = '0123456789abcdefghijklmnopqrstuvwxyz';

/**
 * A bar of the data region: cells holding readable records (oldest..tail) filled, the producer's tail
 * marked `P` above, the oldest record `O`, and each consumer's position below by slot number.
 */
export function renderRingBar(snapshot: RingSnapshot, width: number, colors: Colors): string[] {
  const { geometry, positions } = snapshot;
  if (!geometry || !positions) return [];
  const capacity = geometry.capacity;
  const cells = Math.max(8, Math.min(width, capacity));
  const mask = capacity - 1;
  const cellOf = (offset: number) => Math.min(cells - 1, Math.floor((offset * cells) / capacity));

  const filled = new Array<boolean>(cells).fill(false);
  if (positions.used !== null && positions.used > 0) {
    const start = positions.oldest & mask;
    const intervals: [number, number][] =
      positions.used >= capacity ? [[0, capacity]]
      : start + positions.used <= capacity ? [[start, start + positions.used]]
      : [[start, capacity], [0, start + positions.used - capacity]];
    for (let c = 0; c < cells; c++) {
      const from = (c * capacity) / cells;
      const to = ((c + 1) * capacity) / cells;
      filled[c] = intervals.some(([a, b]) => a < to && b > from);
    }
  }
  const bar = filled.map((f) => (f ? colors.green('█') : colors.dim('·'))).join('');

  const top = new Array<string>(cells).fill(' ');
  top[cellOf(positions.oldest & mask)] = colors.cyan('O');
  top[cellOf(positions.publishedTail & mask)] = colors.bold(colors.magenta('P'));

  const below = new Array<string>(cells).fill(' ');
  const occupied = new Array<number>(cells).fill(0);
  for (const consumer of snapshot.consumers) {
    const cell = cellOf(consumer.head & mask);
    occupied[cell] += 1;
    let mark = consumer.slot < SLOT_MARKS.length ? SLOT_MARKS[consumer.slot] : '#';
    if (occupied[cell] > 1) mark = '*';
    const color = consumer.status === 'dead' ? colors.dim : consumer.lapped ? colors.red : colors.yellow;
    below[cell] = color(mark);
  }
  const lines = [` ${top.join('').replace(/\s+$/, '')}`, `[${bar}]`];
  if (snapshot.consumers.length > 0) lines.push(` ${below.join('').replace(/\s+$/, '')}`);
  const cellBytes = capacity / cells;
  lines.push(
    colors.dim(
      `O oldest record  P producer (tail)  █ readable records  0-9a-z consumer slot  * several; ` +
        `each cell ${Number.isInteger(cellBytes) ? '' : '≈ '}${formatBytes(cellBytes)}`,
    ),
  );
  return lines;
}

/** ISO time, or a plain description for a value no Date can hold (it came from shared memory). */
function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `invalid time ${ms}` : date.toISOString();
}

function ago(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined) return 'never';
  const seconds = Math.max(0, (now - ms) / 1000);
  const when = isoTime(ms);
  if (seconds < 60) return `${when} (${seconds.toFixed(1)} s ago)`;
  if (seconds < 3600) return `${when} (${(seconds / 60).toFixed(1)} min ago)`;
  return `${when} (${(seconds / 3600).toFixed(1)} h ago)`;
}

function statusText(status: string, colors: Colors): string {
  const text = describeStatus(status as Parameters<typeof describeStatus>[0]);
  if (status === 'alive') return colors.green(text);
  if (status === 'dead') return colors.red(text);
  return colors.yellow(text);
}

/** Whether a registered process may still run: alive, stopped, or in another pid namespace. */
function mayBeAlive(status: string): boolean {
  return status === 'alive' || status === 'stopped' || status === 'unknown';
}

/** The error a snapshot reports, for people and for --json: library codes, and what a denial means. */
export function snapshotError(snapshot: RingSnapshot) {
  if (!snapshot.error) return undefined;
  return snapshot.kind === 'unreadable' ? unreadableError(snapshot) : itemError(snapshot.error, snapshot.file.name);
}

/** The "in use" line: yes (who), no (why), or unknown (what could not be read, and why). */
function useText(snapshot: RingSnapshot, extra: ReturnType<typeof assessUse>, uninspected: UnreadableProcess[], colors: Colors): string {
  const denied = describeUninspected(uninspected);
  if (!extra.unused) return `yes: ${extra.reasons.join('; ')}`;
  if (snapshot.kind === 'unreadable') {
    return colors.yellow(
      `unknown: the segment cannot be read, so neither can the producer and consumers registered in it` +
        `${denied ? `; and ${denied}` : '; no process this user can inspect maps it'}`,
    );
  }
  // Registered processes are checked through /proc/PID/stat, which anyone may read: only mappers can hide.
  return colors.yellow(`no: ${extra.reasons.join('; ')}${denied ? ` (among the processes this user can inspect; ${denied})` : ''}`);
}

export function renderInspect(
  snapshot: RingSnapshot,
  extra: ReturnType<typeof assessUse>,
  options: OutputOptions & { width: number; uninspected?: UnreadableProcess[] },
): string {
  const colors = colorsFor(options);
  const { file } = snapshot;
  const now = snapshot.takenAtMs;
  const uninspected = options.uninspected ?? [];
  const out: string[] = [];
  const kindColor = snapshot.kind === 'ring' ? colors.green : colors.red;
  const error = snapshotError(snapshot);
  const kindText = snapshot.kind === 'unreadable' && error?.code === 'PERMISSION_DENIED' ? 'unreadable: permission denied' : snapshot.kind;
  out.push(`${colors.bold(file.name)}  ${kindColor(kindText)}${extra.unused && snapshot.kind === 'ring' ? colors.yellow('  abandoned (nothing alive uses it)') : ''}`);

  const fields = makeTable([], colors, ['left', 'left']);
  fields.push([
    'file',
    `${file.path}  ${formatBytes(file.size)} (${file.size} B)  ${userName(file.uid)}:${groupName(file.gid)}  ${formatMode(file.mode)}`,
  ]);
  if (error) fields.push(['error', colors.red(`${error.code}: ${error.message}`)]);
  if (error?.hint) fields.push(['hint', error.hint]);
  if (snapshot.layoutVersion !== undefined) fields.push(['layout', `version ${snapshot.layoutVersion}`]);
  const g = snapshot.geometry;
  if (g) {
    fields.push([
      'geometry',
      `capacity ${formatBytes(g.capacity)}, control region ${formatBytes(g.controlLength)}, ` +
        `max message ${formatBytes(g.maxMessageLength)}, ${g.maxConsumers} consumer slots`,
    ]);
  }
  if (snapshot.creator && snapshot.creator.pid !== 0) {
    fields.push(['created', `by pid ${snapshot.creator.pid} at ${ago(snapshot.creator.createdAtMs || null, now)}`]);
  }
  const p = snapshot.producer;
  if (p) {
    const producer =
      p.status === 'none' ? 'none'
      : p.status === 'closed' ? `${colors.yellow('closed')}${p.pid ? ` (was pid ${p.pid})` : ''}`
      : `pid ${p.pid} ${statusText(p.status, colors)}`;
    // The state word is what the producer last wrote; a producer killed without closing leaves it `live`.
    const stateWord =
      p.state === 'live' && p.status === 'dead'
        ? colors.red(`state word still live, but pid ${p.pid} is gone: it died without closing the ring`)
        : `state word ${p.state}`;
    // Only the C producer's release-store publish is worth a word: its consumers pay a membarrier per sleep.
    const fence = p.publishFence === 'full' ? '' : `, publish fence ${p.publishFence}`;
    fields.push(['producer', `${producer}, epoch ${p.epoch}${fence}, ${stateWord}`]);
  }
  const pos = snapshot.positions;
  if (pos && g) {
    const used = pos.used === null ? colors.red('invalid') : `${formatBytes(pos.used)} (${((pos.used / g.capacity) * 100).toFixed(1)}%)`;
    fields.push([
      'positions',
      `tail ${pos.publishedTail}, oldest ${pos.oldest}, intent ${pos.tailIntent}, next sequence ${pos.nextSequence}; readable ${used}`,
    ]);
  }
  const c = snapshot.counters;
  if (c) {
    const n = (v: number | null) => (v === null ? colors.red('invalid') : String(v));
    fields.push([
      'counters',
      `messages ${n(c.messagesSent)}, bytes ${n(c.bytesSent)}, producer stalls ${n(c.producerStalls)}, ` +
        `wakes ${n(c.wakesSent)}, consumers reclaimed ${n(c.consumersReclaimed)}, takeovers ${n(c.takeovers)}`,
    ]);
    fields.push(['last send', c.lastSendAtMs === null && c.messagesSent ? 'not recorded' : ago(c.lastSendAtMs, now)]);
  }
  if (snapshot.waiting) {
    // The flags are set by a sleeper and cleared by the next wake: one left by a process that died asleep
    // stays set until then, so say so rather than claim someone sleeps.
    const consumerAlive = snapshot.consumers.some((consumer) => mayBeAlive(consumer.status));
    const producerAlive = p !== undefined && mayBeAlive(p.status);
    const data =
      !snapshot.waiting.dataWaiters ? 'no consumer asleep'
      : consumerAlive ? 'a consumer is (or was about to be) asleep'
      : 'waiter flag set, but no consumer is alive (left by one that died asleep; the next send clears it)';
    const space =
      !snapshot.waiting.producerWaiting ? 'not waiting'
      : producerAlive ? 'waiting for space'
      : 'space flag set, but the producer is not alive (it died waiting for space)';
    fields.push(['sleeping', `${data} on the data futex; producer ${space}`]);
  }
  const mapped = formatMappers(extra.users.map((u) => ({ ...u, command: `${u.command}${u.writable ? ' rw' : u.mapped ? ' ro' : ' fd'}` })), 20);
  fields.push(['mapped by', extra.users.length === 0 && uninspected.length > 0 ? `${mapped} (among the processes this user can inspect)` : mapped]);
  fields.push(['in use', useText(snapshot, extra, uninspected, colors)]);
  out.push(tableText(fields).replace(/^/gm, '  '));

  if (snapshot.kind === 'ring') {
    out.push('', colors.bold('Consumers'));
    if (snapshot.consumers.length === 0) out.push('  none');
    else {
      const table = makeTable(
        ['SLOT', 'PID', 'STATUS', 'TETHERED', 'POSITION', 'LAG', 'RECEIVED', 'LOST', 'JOINED'],
        colors,
        ['right', 'right', 'left', 'left', 'right', 'right', 'right', 'right', 'left'],
      );
      for (const consumer of snapshot.consumers) {
        const lag = consumer.lag === null ? colors.red('invalid') : `${formatBytes(consumer.lag)}${consumer.lapped ? colors.red(' lapped') : ''}`;
        table.push([
          consumer.slot,
          consumer.pid,
          statusText(consumer.status, colors) + (consumer.state === 'claiming' ? colors.dim(' joining') : ''),
          consumer.tethered ? 'yes' : 'no',
          consumer.head,
          lag,
          consumer.received ?? colors.red('invalid'),
          consumer.lost ? colors.red(String(consumer.lost)) : (consumer.lost ?? colors.red('invalid')),
          consumer.joinedAtMs ? isoTime(consumer.joinedAtMs) : '-',
        ]);
      }
      out.push(tableText(table).replace(/^/gm, '  '));
    }
    out.push('', colors.bold(`Ring (data region, ${formatBytes(g?.capacity)})`));
    out.push(...renderRingBar(snapshot, options.width, colors).map((line) => `  ${line}`));
  }
  if (snapshot.problems.length > 0) {
    out.push('', colors.red(colors.bold('Problems (damaged segment, or read while being updated)')));
    for (const problem of snapshot.problems) out.push(colors.red(`  - ${problem}`));
  }
  return `${out.join('\n')}\n`;
}

interface InspectOptions extends OutputOptions {
  width?: number;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .argument('<name>', 'ring name: /name, name, or /dev/shm/name')
    .description('show a ring: header, counters, each consumer (position, lag, loss) and a picture of the ring')
    .option('--json', 'machine-readable output')
    .option('--width <cells>', 'width of the ring picture', parseNonNegativeInteger('--width'))
    .option('--no-color', 'no colour even on a terminal')
    .addHelpText(
      'after',
      `
Reads the segment without joining the ring (no consumer slot, no writes).
Exits 3 when there is no such segment, 5 when it is not a valid ring (the report says why), 7 when this
user may not read it (another user's segment: run as its owner or root).

Examples:
  $ shmring inspect /telemetry
  $ shmring inspect telemetry --json | jq '.consumers[] | {pid, lag, lost}'`,
    )
    .action((name: string, options: InspectOptions) => {
      const snapshot = readSnapshot(name);
      const usage = scanShmUsage();
      const use = assessUse(snapshot, usage);
      const error = snapshotError(snapshot);
      const exitCode = snapshot.kind === 'ring' ? ExitCode.OK : error ? exitCodeFor(error.code) : ExitCode.NOT_A_RING;
      if (options.json) {
        // A segment that is not a readable ring exits non-zero: its `error` then has the shape of every
        // --json failure (code, message, hint, segment, exitCode).
        const failure = exitCode !== ExitCode.OK && error ? jsonError(new CliError(error.message, exitCode, error.code, error.hint, snapshot.file.name)) : {};
        printJson({
          ...snapshot,
          ...(error ? { error } : {}),
          ...failure,
          mappers: use.users,
          // null: cannot be told (the segment itself cannot be read).
          inUse: use.unused && snapshot.kind === 'unreadable' ? null : !use.unused,
          reasons: use.reasons,
          uninspected: usage.unreadable,
        });
      } else {
        const columns = process.stdout.isTTY ? process.stdout.columns : 80;
        const width = options.width ?? Math.max(16, Math.min(96, (columns || 80) - 6));
        process.stdout.write(renderInspect(snapshot, use, { ...options, width, uninspected: usage.unreadable }));
      }
      // Already reported in full above: only the exit code is left to set.
      if (exitCode !== ExitCode.OK) process.exitCode = exitCode;
    });
}
