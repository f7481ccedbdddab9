/**
 * `shmring top`: a live view of every ring (rates, lag, loss), redrawn in place every interval.
 * Read-only like `ls`: it samples the counters tools can read without joining a ring.
 */
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

export function renderTop(frame: Survey, options: OutputOptions & { interval: number }): string {
  const colors = colorsFor(options);
  const time = new Date(frame.takenAtMs).toISOString().replace('T', ' ').slice(0, 19);
  const lines = [
    `${colors.bold('shmring top')}  ${time}  ${frame.rings.length} ring(s)  every ${options.interval} ms  ${colors.dim('Ctrl-C to quit')}`,
    '',
  ];
  if (frame.rings.length === 0) lines.push('No shmring rings in /dev/shm.');
  else {
    const table = makeTable(
      ['RING', 'STATUS', 'PRODUCER', 'CONSUMERS', 'MSG/S', 'BYTES/S', 'MESSAGES', 'MAX LAG', 'LOST', 'LOST/S'],
      colors,
      ['left', 'left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
    );
    for (const ring of frame.rings) {
      const lostRate = ring.rate?.lost ?? null;
      table.push([
        ring.name,
        statusColor(ring.status, colors)(ring.status),
        formatProducer(ring, colors),
        formatConsumers(ring, colors),
        ring.rate ? formatRate(ring.rate.messages) : '-',
        ring.rate ? `${formatBytes(Math.round(ring.rate.bytes))}/s` : '-',
        formatCount(ring.messagesSent),
        ring.maxLag === null ? '-' : formatBytes(ring.maxLag),
        ring.lost ? colors.red(formatCount(ring.lost)) : formatCount(ring.lost),
        lostRate ? colors.red(formatRate(lostRate)) : lostRate === null ? '-' : '0/s',
      ]);
    }
    lines.push(tableText(table));
  }
  return `${lines.join('\n')}\n`;
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
On a terminal the view is redrawn in place; otherwise frames are printed one after the other.

Examples:
  $ shmring top
  $ shmring top --interval 250 --prefix /telemetry
  $ shmring top --once --json`,
    )
    .action(async (options: TopOptions) => {
      const interval = Math.max(50, options.interval);
      const inPlace = process.stdout.isTTY === true && !options.json && !options.once;
      const emit = (frame: Survey) => {
        if (options.json) process.stdout.write(`${JSON.stringify(frame)}\n`);
        else process.stdout.write(`${inPlace ? CLEAR_HOME : ''}${renderTop(frame, { ...options, interval })}`);
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
        if (inPlace) process.stdout.write(SHOW_CURSOR);
      }
    });
}
