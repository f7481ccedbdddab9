/**
 * `shmring ls`: every ring in /dev/shm, who produces and consumes it, whether they are alive, how busy it
 * is, and which processes map it right now. Other files in /dev/shm are listed as foreign, never touched.
 */
import type { Command } from 'commander';
import {
  colorsFor,
  describeUninspected,
  formatBytes,
  formatCount,
  formatRate,
  makeTable,
  parseNonNegativeInteger,
  printJson,
  tableText,
  type OutputOptions,
} from './common';
import { survey, type MapperSummary, type RingStatus, type RingSummary, type Survey } from './survey';

type Colors = ReturnType<typeof colorsFor>;

export const DEFAULT_RATE_SAMPLE_MS = 200;

export function statusColor(status: RingStatus, colors: Colors): (text: string) => string {
  switch (status) {
    case 'live':
      return colors.green;
    case 'stopped':
    case 'closed':
    case 'no-producer':
    case 'unknown':
    case 'initialising':
      return colors.yellow;
    default:
      return colors.red;
  }
}

export function formatMappers(mappers: MapperSummary[], max = 3): string {
  if (mappers.length === 0) return '-';
  const shown = mappers.slice(0, max).map((m) => `${m.pid}${m.command ? ` ${m.command}` : ''}`);
  if (mappers.length > max) shown.push(`+${mappers.length - max}`);
  return shown.join(', ');
}

export function formatProducer(ring: RingSummary, colors: Colors): string {
  const producer = ring.producer;
  if (!producer) return '-';
  if (producer.status === 'none') return colors.dim('none');
  if (producer.status === 'closed') return colors.yellow('closed');
  const color = producer.status === 'alive' ? colors.green : producer.status === 'dead' ? colors.red : colors.yellow;
  return `${producer.pid} ${color(producer.status)}`;
}

export function formatConsumers(ring: RingSummary, colors: Colors): string {
  const c = ring.consumers;
  if (ring.kind !== 'ring') return '-';
  if (c.total === 0) return colors.dim('0');
  const parts: string[] = [];
  if (c.alive) parts.push(`${c.alive} alive`);
  if (c.stopped) parts.push(colors.yellow(`${c.stopped} stopped`));
  if (c.unknown) parts.push(colors.yellow(`${c.unknown} unknown`));
  if (c.dead) parts.push(colors.red(`${c.dead} dead`));
  return parts.join(', ');
}

export function renderSurvey(result: Survey, options: OutputOptions & { rate?: boolean }): string {
  const colors = colorsFor(options);
  const lines: string[] = [];
  if (result.rings.length === 0) {
    lines.push('No shmring rings in /dev/shm.');
  } else {
    const head = ['RING', 'STATUS', 'SIZE', 'OWNER', 'MODE', 'PRODUCER', 'CONSUMERS', 'MESSAGES', 'LOST'];
    const align: ('left' | 'right')[] = ['left', 'left', 'right', 'left', 'left', 'left', 'left', 'right', 'right'];
    if (options.rate !== false) {
      head.push('RATE');
      align.push('right');
    }
    head.push('MAPPED BY');
    align.push('left');
    const table = makeTable(head, colors, align);
    for (const ring of result.rings) {
      const row = [
        ring.name,
        statusColor(ring.status, colors)(ring.status),
        formatBytes(ring.size),
        `${ring.owner}:${ring.group}`,
        ring.mode,
        formatProducer(ring, colors),
        formatConsumers(ring, colors),
        formatCount(ring.messagesSent),
        // Messages untethered consumers missed (the producer lapped them), summed over the ring's consumers.
        ring.lost ? colors.red(formatCount(ring.lost)) : formatCount(ring.lost),
      ];
      if (options.rate !== false) row.push(ring.rate ? formatRate(ring.rate.messages) : '-');
      row.push(formatMappers(ring.mappers));
      table.push(row);
    }
    lines.push(tableText(table));
    const troubled = result.rings.filter((r) => r.error || r.problems.length > 0);
    for (const ring of troubled) {
      const detail = ring.error ? ring.error.message : ring.problems.join('; ');
      lines.push(colors.red(`  ${ring.name}: ${detail}`));
    }
    const abandoned = result.rings.filter((r) => r.status === 'abandoned').length;
    if (abandoned > 0) {
      lines.push(colors.yellow(`${abandoned} abandoned ring${abandoned === 1 ? '' : 's'} (nothing alive uses them): remove with \`shmring gc\`.`));
    }
  }
  if (result.foreign.length > 0) {
    lines.push('', colors.bold('Foreign files in /dev/shm (not shmring rings; never touched):'));
    const table = makeTable(['NAME', 'TYPE', 'SIZE', 'OWNER', 'MODE', 'MAPPED BY'], colors, ['left', 'left', 'right', 'left', 'left', 'left']);
    for (const file of result.foreign) {
      table.push([
        file.name,
        file.kind === 'unreadable' ? 'unreadable' : file.type,
        formatBytes(file.size),
        `${file.owner}:${file.group}`,
        file.mode,
        formatMappers(file.mappers),
      ]);
    }
    lines.push(tableText(table));
  }
  if (result.unreadable.length > 0) {
    lines.push('', colors.bold('Unreadable files in /dev/shm (permission denied: rings or not, cannot be told; run as their owner or root):'));
    const table = makeTable(['NAME', 'SIZE', 'OWNER', 'MODE', 'MAPPED BY'], colors, ['left', 'right', 'left', 'left', 'left']);
    for (const file of result.unreadable) {
      table.push([file.name, formatBytes(file.size), `${file.owner}:${file.group}`, file.mode, formatMappers(file.mappers)]);
    }
    lines.push(tableText(table));
  }
  const uninspected = describeUninspected(result.uninspected);
  if (uninspected) lines.push(colors.dim(`note: ${uninspected}.`));
  return `${lines.join('\n')}\n`;
}

interface LsOptions extends OutputOptions {
  rate: boolean;
  sample: number;
  prefix?: string;
}

export function registerLs(program: Command): void {
  program
    .command('ls')
    .alias('list')
    .description('list every ring in /dev/shm: status, owner, producer, consumers, traffic, and who maps it now')
    .option('--json', 'machine-readable output')
    .option('--no-rate', 'do not sample the counters twice to compute rates (faster)')
    .option('--sample <ms>', 'time between the two counter samples of a rate', parseNonNegativeInteger('--sample'), DEFAULT_RATE_SAMPLE_MS)
    .option('--prefix <prefix>', 'only rings whose name starts with this')
    .option('--no-color', 'no colour even on a terminal')
    .addHelpText(
      'after',
      `
Status: live, stopped (producer SIGSTOPped: alive), closed, producer-dead, no-producer,
        abandoned (nothing alive uses it: \`shmring gc\` removes it), corrupt, incompatible, initialising.

Examples:
  $ shmring ls
  $ shmring ls --no-rate --prefix /telemetry
  $ shmring ls --json | jq '.rings[] | select(.status == "abandoned") | .name'`,
    )
    .action(async (options: LsOptions) => {
      const result = await survey({ prefix: options.prefix, rateSampleMs: options.rate ? options.sample : 0 });
      if (options.json) printJson(result);
      else process.stdout.write(renderSurvey(result, options));
    });
}
