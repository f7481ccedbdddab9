/**
 * `shmring bridge`: run a bridge between a ring and NATS (docs/bridge.md) in the foreground, printing a
 * status line every --status-interval ms. SIGINT/SIGTERM: stop taking messages, publish and await the
 * acknowledgements of the batch in hand, flush, close.
 */
import type { Command } from 'commander';
import type { BridgeOptions, BridgeStatus } from '../integrations/bridge';
import { CliError, ExitCode, parseNonNegativeInteger } from './common';

interface BridgeCliOptions {
  fromRing?: string;
  toSubject?: string;
  fromSubject?: string;
  toRing?: string;
  server: string[];
  jetstream?: string;
  durable?: string;
  untethered?: boolean;
  maxBatch?: number;
  maxInFlight?: number;
  lingerMs?: number;
  ringCapacity?: number;
  waitForServer?: boolean;
  openTimeout?: number;
  statusInterval: number;
  json?: boolean;
}

function statusLine(s: BridgeStatus): string {
  const arrow = s.direction === 'ring-to-nats' ? `${s.ring} → ${s.subject}` : `${s.subject} → ${s.ring}`;
  return (
    `${new Date().toISOString()} ${s.state} ${arrow}${s.jetstream ? ` (JetStream ${s.jetstream})` : ''}` +
    ` forwarded=${s.forwarded} acked=${s.acked} lost=${s.lost} pending=${s.pending} duplicates=${s.duplicates}` +
    ` retries=${s.retries} disconnects=${s.disconnects} last=${s.lastSequence}`
  );
}

export function registerBridge(program: Command): void {
  program
    .command('bridge')
    .description('bridge a ring to NATS (--from-ring, --to-subject) or NATS to a ring (--from-subject, --to-ring)')
    .option('--from-ring <name>', 'ring to read (as a tethered consumer, unless --untethered)')
    .option('--to-subject <template>', "subject to publish to; {host} and {ring} are replaced", 'shmring.{host}.{ring}')
    .option('--from-subject <subject>', 'subject (wildcards allowed) to take messages from')
    .option('--to-ring <name>', 'ring to feed (the bridge is its producer)')
    .option('--server <url>', 'NATS server URL (repeat for several)', (value: string, previous: string[] | undefined) => [...(previous ?? []), value])
    .option('--jetstream <stream>', 'use this JetStream stream (created if missing): exactly once into the stream')
    .option('--durable <name>', 'NATS → ring with JetStream: durable consumer name')
    .option('--untethered', 'ring → NATS: never hold the ring producer back; count what is overwritten as lost')
    .option('--max-batch <n>', 'messages read and published at once', parseNonNegativeInteger('--max-batch'))
    .option('--max-in-flight <n>', 'JetStream: publishes awaiting their acknowledgement at most', parseNonNegativeInteger('--max-in-flight'))
    .option('--linger-ms <ms>', 'wait this long for a batch to fill', parseNonNegativeInteger('--linger-ms'))
    .option('--ring-capacity <bytes>', 'capacity of the ring the bridge creates (--to-ring)', parseNonNegativeInteger('--ring-capacity'))
    .option('--open-timeout <ms>', 'wait this long for --from-ring to be created', parseNonNegativeInteger('--open-timeout'))
    .option('--wait-for-server', 'keep retrying when no server answers at start')
    .option('--status-interval <ms>', 'print a status line this often (0: only on changes)', parseNonNegativeInteger('--status-interval'), 1000)
    .option('--json', 'status lines as JSON')
    .addHelpText(
      'after',
      `
Runs until the ring's stream ends (--from-ring) or SIGINT/SIGTERM, then flushes, awaits acknowledgements
and exits 0. Exit 1 when NATS refuses the set-up or no server answers at start (code BRIDGE_UNREACHABLE).

Examples:
  $ shmring bridge --from-ring /telemetry --to-subject 'telemetry.{host}.{ring}' --jetstream TELEMETRY
  $ shmring bridge --from-subject 'telemetry.*.telemetry' --to-ring /telemetry-all --jetstream TELEMETRY
  $ shmring bridge --from-ring /telemetry --server nats://10.0.0.5:4222 --untethered     (core NATS)

Docs: docs/bridge.md`,
    )
    .action(async (raw: BridgeCliOptions) => {
      if ((raw.fromRing === undefined) === (raw.toRing === undefined)) {
        throw new CliError('give --from-ring (ring → NATS) or --to-ring with --from-subject (NATS → ring)', ExitCode.USAGE, 'USAGE');
      }
      // Loaded here, not at the top: every other command stays free of the NATS client.
      const { Bridge } = await import('../integrations/bridge');
      const options: BridgeOptions = {
        servers: raw.server ?? undefined,
        jetstream: raw.jetstream,
        statusIntervalMs: raw.statusInterval,
        waitForServer: raw.waitForServer ?? false,
      };
      if (raw.fromRing !== undefined) {
        Object.assign(options, {
          fromRing: raw.fromRing,
          toSubject: raw.toSubject,
          tethered: !raw.untethered,
          maxBatch: raw.maxBatch,
          maxInFlight: raw.maxInFlight,
          lingerMs: raw.lingerMs,
          openTimeout: raw.openTimeout,
        });
      } else {
        if (raw.fromSubject === undefined) throw new CliError('--to-ring needs --from-subject', ExitCode.USAGE, 'USAGE');
        Object.assign(options, { toRing: raw.toRing, fromSubject: raw.fromSubject, durable: raw.durable, ringCapacity: raw.ringCapacity });
      }
      let bridge;
      try {
        bridge = new Bridge(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as BridgeOptions);
      } catch (error) {
        throw new CliError((error as Error).message, ExitCode.USAGE, 'USAGE');
      }
      const print = (s: BridgeStatus) => process.stdout.write(`${raw.json ? JSON.stringify(s) : statusLine(s)}\n`);
      bridge.on('status', print);
      let failure: unknown;
      bridge.on('error', (error: unknown) => {
        failure = error;
      });
      const stop = () => void bridge.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await bridge.start();
        await bridge.finished();
      } finally {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
      }
      if (failure !== undefined) throw failure;
    });
}
