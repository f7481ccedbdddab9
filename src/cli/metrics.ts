/**
 * `shmring metrics --listen 127.0.0.1:9464`: serves every ring's counters at /metrics in the Prometheus
 * text format (src/integrations/metrics.ts), until SIGINT or SIGTERM.
 */
import * as http from 'http';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { createRingMetricsRegistry } from '../integrations/metrics';
import { CliError, ExitCode } from './common';

export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9464';

interface MetricsOptions {
  listen: { host: string; port: number };
  prefix?: string;
}

export function parseListen(value: string): { host: string; port: number } {
  // host:port, [v6]:port, or a bare port (loopback).
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value) ?? (/^\d{1,5}$/.test(value) ? [value, undefined, '127.0.0.1', value] : null);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    throw new InvalidArgumentError(`--listen must be host:port (e.g. 127.0.0.1:9464), got ${JSON.stringify(value)}`);
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

export function registerMetrics(program: Command): void {
  program
    .command('metrics')
    .description('serve every ring\'s counters to Prometheus at http://HOST:PORT/metrics (until SIGINT/SIGTERM)')
    .addOption(
      new Option('--listen <host:port>', 'address to listen on (port 0: any free port, printed at start)')
        .argParser(parseListen)
        .default(parseListen(DEFAULT_METRICS_LISTEN), DEFAULT_METRICS_LISTEN),
    )
    .option('--prefix <prefix>', 'only rings whose name starts with this')
    .addHelpText(
      'after',
      `
Metric names, a scrape config and alert rules: docs/operations.md, "Metrics (Prometheus)".
Prints one line when ready: "shmring metrics: listening on http://HOST:PORT/metrics".`,
    )
    .action(async (options: MetricsOptions) => {
      const registry = createRingMetricsRegistry({ ringPrefix: options.prefix });
      const server = http.createServer((request, response) => {
        const path = (request.url ?? '/').split('?')[0];
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          response.writeHead(405, { allow: 'GET, HEAD' }).end();
        } else if (path === '/metrics') {
          registry.metrics().then(
            (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(request.method === 'HEAD' ? undefined : text),
            (error: Error) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`reading the rings failed: ${error.message}\n`),
          );
        } else if (path === '/') {
          response.writeHead(200, { 'content-type': 'text/plain' }).end('shmring metrics: see /metrics\n');
        } else {
          response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
        }
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) => {
          reject(
            new CliError(
              `cannot listen on ${options.listen.host}:${options.listen.port}: ${error.message}`,
              ExitCode.ERROR,
              error.code ?? 'LISTEN_FAILED',
              error.code === 'EADDRINUSE' ? 'Another process holds the port: choose another with --listen.' : undefined,
            ),
          );
        });
        server.listen(options.listen.port, options.listen.host, () => resolve());
      });
      const address = server.address() as { address: string; port: number };
      const host = address.address.includes(':') ? `[${address.address}]` : address.address;
      process.stdout.write(`shmring metrics: listening on http://${host}:${address.port}/metrics\n`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.removeListener('SIGINT', stop);
          process.removeListener('SIGTERM', stop);
          // Stop accepting, and drop idle keep-alive connections (Prometheus keeps one open).
          server.close(() => resolve());
          server.closeIdleConnections();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
