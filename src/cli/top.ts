/**
 * `shmring top`: a live view of every ring (rates, lag, loss), redrawn in place every interval.
 * Read-only like `ls`: it samples the counters tools can read without joining a ring.
 */
import * as readline from 'readline';
import type { Command } from 'commander';
import {
  colorsFor,
  formatBytes,
  formatCount,
  formatRate,
  makeTable,
  parseNonNegativeInteger,
  printJson,
  sleep,
  tableText,
  type OutputOptions,
} from './common';
import { formatConsumers, formatProducer, statusColor } from './ls';
import { rateBetween, survey, type RingSummary, type Survey } from './survey';

const CLEAR_HOME = '\x1b[H\x1b[2J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

export const DEFAULT_TOP_INTERVAL_MS = 1000;

interface TopOptions extends OutputOptions {
  once?: boolean;
  interval: number;
  iterations?: number;
  prefix?: string;
}

type Colors = ReturnType<typeof colorsFor>;

interface TopColumn {
  head: string;
  align: 'left' | 'right';
  cell: (ring: RingSummary, colors: Colors) => string;
}

/** Every column, in display order. */
const COLUMNS: TopColumn[] = [
  { head: 'RING', align: 'left', cell: (ring) => ring.name },
  { head: 'STATUS', align: 'left', cell: (ring, colors) => statusColor(ring.status, colors)(ring.status) },
  { head: 'PRODUCER', align: 'left', cell: (ring, colors) => formatProducer(ring, colors) },
  { head: 'CONSUMERS', align: 'left', cell: (ring, colors) => formatConsumers(ring, colors) },
  { head: 'MSG/S', align: 'right', cell: (ring) => (ring.rate ? formatRate(ring.rate.messages) : '-') },
  { head: 'BYTES/S', align: 'right', cell: (ring) => (ring.rate ? `${formatBytes(Math.round(ring.rate.bytes))}/s` : '-') },
  { head: 'MESSAGES', align: 'right', cell: (ring) => formatCount(ring.messagesSent) },
  { head: 'MAX LAG', align: 'right', cell: (ring) => (ring.maxLag === null ? '-' : formatBytes(ring.maxLag)) },
  { head: 'LOST', align: 'right', cell: (ring, colors) => (ring.lost ? colors.red(formatCount(ring.lost)) : formatCount(ring.lost)) },
  {
    head: 'LOST/S',
    align: 'right',
    cell: (ring, colors) => {
      const lostRate = ring.rate?.lost ?? null;
      return lostRate ? colors.red(formatRate(lostRate)) : lostRate === null ? '-' : '0/s';
    },
  },
];

/** Columns given up, in this order, when the terminal is too narrow for all of them. */
export const DROP_ORDER = ['BYTES/S', 'LOST/S', 'MESSAGES', 'PRODUCER', 'MAX LAG', 'CONSUMERS'];
/** Ring names are shortened to this before any column is given up, and never shorter than MIN_NAME_WIDTH. */
const SHORT_NAME_WIDTH = 24;
const MIN_NAME_WIDTH = 12;

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

export function visibleLength(text: string): number {
  return text.replace(ANSI, '').length;
}

/** Cuts `text` to `width` visible characters (colour codes kept, and closed), with an ellipsis. */
export function cutToWidth(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  let out = '';
  let visible = 0;
  for (let i = 0; i < text.length && visible < width - 1; ) {
    const escape = text[i] === '\x1b' ? /^\x1b\[[0-9;?]*[A-Za-z]/.exec(text.slice(i)) : null;
    if (escape) {
      out += escape[0];
      i += escape[0].length;
    } else {
      out += text[i];
      i += 1;
      visible += 1;
    }
  }
  return `${out}…${text.includes('\x1b[') ? '\x1b[0m' : ''}`;
}

/** `/myapp.very-long-ring-name` → `/myapp.ve…ng-name`: both ends, where ring names differ. */
export function shortenName(name: string, width: number): string {
  if (name.length <= width) return name;
  const tail = Math.floor((width - 1) / 2);
  return `${name.slice(0, width - 1 - tail)}…${name.slice(name.length - tail)}`;
}

function renderTable(rings: RingSummary[], columns: TopColumn[], colors: Colors, nameWidth: number): string {
  const table = makeTable(
    columns.map((c) => c.head),
    colors,
    columns.map((c) => c.align),
  );
  for (const ring of rings) {
    table.push(columns.map((c) => (c.head === 'RING' ? shortenName(ring.name, nameWidth) : c.cell(ring, colors))));
  }
  return tableText(table);
}

function widest(text: string): number {
  return Math.max(0, ...text.split('\n').map(visibleLength));
}

/**
 * The table for `width` columns of terminal: all columns if they fit; else the least useful are left out
 * (DROP_ORDER), then long ring names are shortened in the middle; any line still too long is cut.
 */
export function fitTable(rings: RingSummary[], colors: Colors, width: number): string {
  const longestName = Math.max(4, ...rings.map((r) => r.name.length));
  /** The table with these columns, names shortened as far as needed but not below `floor`. */
  const attempt = (columns: TopColumn[], floor: number): string => {
    const text = renderTable(rings, columns, colors, longestName);
    const overflow = widest(text) - width;
    if (overflow <= 0 || longestName <= floor) return text;
    return renderTable(rings, columns, colors, Math.max(floor, longestName - overflow));
  };
  let columns = COLUMNS;
  let text = attempt(columns, SHORT_NAME_WIDTH);
  for (const head of DROP_ORDER) {
    if (widest(text) <= width) return text;
    columns = columns.filter((c) => c.head !== head);
    text = attempt(columns, SHORT_NAME_WIDTH);
  }
  if (widest(text) > width) text = attempt(columns, MIN_NAME_WIDTH);
  return text
    .split('\n')
    .map((line) => cutToWidth(line, width))
    .join('\n');
}

/** The terminal's width: the TTY's, else $COLUMNS (so a pipe can ask for it), else no limit. */
export function outputColumns(stream: NodeJS.WriteStream = process.stdout): number {
  if (stream.isTTY && stream.columns > 0) return stream.columns;
  const fromEnv = Number(process.env.COLUMNS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : Infinity;
}

export function renderTop(frame: Survey, options: OutputOptions & { interval: number; columns?: number; quitKey?: boolean }): string {
  const colors = colorsFor(options);
  const width = options.columns ?? Infinity;
  const time = new Date(frame.takenAtMs).toISOString().replace('T', ' ').slice(0, 19);
  const lines = [
    cutToWidth(
      `${colors.bold('shmring top')}  ${time}  ${frame.rings.length} ring(s)  every ${options.interval} ms  ${colors.dim(options.quitKey ? 'q to quit' : 'Ctrl-C to quit')}`,
      width,
    ),
    '',
  ];
  if (frame.rings.length === 0) lines.push('No shmring rings in /dev/shm.');
  else lines.push(fitTable(frame.rings, colors, width));
  return `${lines.join('\n')}\n`;
}

/**
 * On a terminal, `q` (or Ctrl-C, which raw mode turns into a key) calls `quit`. Returns the undo, which
 * gives the terminal back as it was; undefined when stdin is not a terminal.
 */
function listenForQuitKey(quit: () => void): (() => void) | undefined {
  const input = process.stdin;
  if (!input.isTTY || typeof input.setRawMode !== 'function') return undefined;
  readline.emitKeypressEvents(input);
  const onKey = (text: string | undefined, key: { name?: string; ctrl?: boolean } | undefined) => {
    if (text === 'q' || text === 'Q' || (key?.ctrl === true && key.name === 'c')) quit();
  };
  input.setRawMode(true);
  input.on('keypress', onKey);
  input.resume();
  return () => {
    input.removeListener('keypress', onKey);
    input.setRawMode(false);
    input.pause();
  };
}

/** Fills each ring's rate from the previous frame (same name, same inode-independent counters). */
function withRates(frame: Survey, previous: Survey | undefined): Survey {
  if (!previous) return frame;
  const before = new Map<string, RingSummary>(previous.rings.map((r) => [r.name, r]));
  for (const ring of frame.rings) {
    const old = before.get(ring.name);
    if (old) ring.rate = rateBetween(old, ring, ring.takenAtMs - old.takenAtMs);
  }
  return frame;
}

export function registerTop(program: Command): void {
  program
    .command('top')
    .description('live view of all rings: message and byte rates, consumer lag, loss; refreshes in place')
    .option('--once', 'print one frame and exit (rates over a 200 ms sample)')
    .option('-i, --interval <ms>', 'refresh interval', parseNonNegativeInteger('--interval'), DEFAULT_TOP_INTERVAL_MS)
    .option('--iterations <n>', 'exit after this many frames', parseNonNegativeInteger('--iterations'))
    .option('--prefix <prefix>', 'only rings whose name starts with this')
    .option('--json', 'one JSON object per frame, one per line')
    .option('--no-color', 'no colour even on a terminal')
    .addHelpText(
      'after',
      `
On a terminal the view is redrawn in place, fitted to its width (the least useful columns are left out
first), and q quits; otherwise frames are printed one after the other ($COLUMNS sets a width).

Examples:
  $ shmring top
  $ shmring top --interval 250 --prefix /telemetry
  $ shmring top --once --json`,
    )
    .action(async (options: TopOptions) => {
      const interval = Math.max(50, options.interval);
      const inPlace = process.stdout.isTTY === true && !options.json && !options.once;
      let quitKey = false;
      const emit = (frame: Survey) => {
        if (options.json) process.stdout.write(`${JSON.stringify(frame)}\n`);
        else process.stdout.write(`${inPlace ? CLEAR_HOME : ''}${renderTop(frame, { ...options, interval, columns: outputColumns(), quitKey })}`);
      };
      if (options.once) {
        const frame = await survey({ prefix: options.prefix, rateSampleMs: Math.min(interval, 200) });
        if (options.json) printJson(frame);
        else emit(frame);
        return;
      }
      let stopped = false;
      const stop = () => {
        stopped = true;
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const stopListening = inPlace ? listenForQuitKey(stop) : undefined;
      quitKey = stopListening !== undefined;
      if (inPlace) process.stdout.write(HIDE_CURSOR);
      try {
        let previous: Survey | undefined;
        let frames = 0;
        // The first frame samples briefly so it already has rates; later ones compare with the previous frame.
        previous = await survey({ prefix: options.prefix, rateSampleMs: Math.min(interval, 200) });
        emit(previous);
        frames += 1;
        while (!stopped && (options.iterations === undefined || frames < options.iterations)) {
          const deadline = Date.now() + interval;
          while (!stopped && Date.now() < deadline) await sleep(Math.min(100, deadline - Date.now()));
          if (stopped) break;
          const frame = withRates(await survey({ prefix: options.prefix }), previous);
          emit(frame);
          previous = frame;
          frames += 1;
        }
      } finally {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
        stopListening?.();
        if (inPlace) process.stdout.write(SHOW_CURSOR);
      }
    });
}
