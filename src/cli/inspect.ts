/**
 * `shmring inspect NAME`: the header, the counters, every consumer slot, and a picture of the ring.
 * Read-only: takes a snapshot (src/ring/snapshot.ts), never joins the ring.
 */
import type { Command } from 'commander';
import { assessUse, describeStatus, readSnapshot, type RingSnapshot } from '../ring/snapshot';
import { scanShmUsage } from '../core/procmaps';
import {
  colorsFor,
  ExitCode,
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
  lines.push(
    colors.dim(
      `O oldest record  P producer (tail)  █ readable records  0-9a-z consumer slot  * several; ` +
        `each cell ${formatBytes(capacity / cells)}`,
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

export function renderInspect(snapshot: RingSnapshot, extra: ReturnType<typeof assessUse>, options: OutputOptions & { width: number }): string {
  const colors = colorsFor(options);
  const { file } = snapshot;
  const now = snapshot.takenAtMs;
  const out: string[] = [];
  const kindColor = snapshot.kind === 'ring' ? colors.green : colors.red;
  out.push(`${colors.bold(file.name)}  ${kindColor(snapshot.kind)}${extra.unused && snapshot.kind === 'ring' ? colors.yellow('  abandoned (nothing alive uses it)') : ''}`);

  const fields = makeTable([], colors, ['left', 'left']);
  fields.push([
    'file',
    `${file.path}  ${formatBytes(file.size)} (${file.size} B)  ${userName(file.uid)}:${groupName(file.gid)}  ${formatMode(file.mode)}`,
  ]);
  if (snapshot.error) fields.push(['error', colors.red(`${snapshot.error.code}: ${snapshot.error.message}`)]);
  if (snapshot.error?.hint) fields.push(['hint', snapshot.error.hint]);
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
    fields.push(['producer', `${producer}, epoch ${p.epoch}, state word ${p.state}`]);
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
    fields.push([
      'sleeping',
      `${snapshot.waiting.dataWaiters ? 'a consumer is (or was about to be) asleep' : 'no consumer asleep'} on the data futex; producer ${snapshot.waiting.producerWaiting ? 'waiting for space' : 'not waiting'}`,
    ]);
  }
  fields.push(['mapped by', formatMappers(extra.users.map((u) => ({ ...u, command: `${u.command}${u.writable ? ' rw' : u.mapped ? ' ro' : ' fd'}` })), 20)]);
  fields.push(['in use', extra.unused ? colors.yellow(`no: ${extra.reasons.join('; ')}`) : `yes: ${extra.reasons.join('; ')}`]);
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
Exits 3 when there is no such segment, 5 when it is not a valid ring (the report says why).

Examples:
  $ shmring inspect /telemetry
  $ shmring inspect telemetry --json | jq '.consumers[] | {pid, lag, lost}'`,
    )
    .action((name: string, options: InspectOptions) => {
      const snapshot = readSnapshot(name);
      const use = assessUse(snapshot, scanShmUsage());
      if (options.json) {
        printJson({ ...snapshot, mappers: use.users, inUse: !use.unused, reasons: use.reasons });
      } else {
        const columns = process.stdout.isTTY ? process.stdout.columns : 80;
        const width = options.width ?? Math.max(16, Math.min(96, (columns || 80) - 6));
        process.stdout.write(renderInspect(snapshot, use, { ...options, width }));
      }
      if (snapshot.kind !== 'ring') {
        // Already reported in full above: only the exit code is left to set.
        process.exitCode = ExitCode.NOT_A_RING;
      }
    });
}
