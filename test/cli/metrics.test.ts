/**
 * `shmring metrics` scraped by a REAL Prometheus (Debian's prometheus 2.42): a ring with a producer and
 * two consumers in child processes (test/fixtures/metrics-ring.js), the metrics endpoint on a free
 * loopback port, and Prometheus scraping it every second with the alert rules of docs/operations.md
 * loaded. The series are queried back through Prometheus' HTTP API; the endpoint's output is checked with
 * `promtool check metrics`, and the documented rules and scrape config with `promtool check`.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Registry } from 'prom-client';
import { Child, runFixture, sleep, within } from '../support/children';
import { trackRings } from '../support/teardown';
import { Producer } from '../../src';
import { registerRingMetrics } from '../../src/integrations/metrics';
import { MAIN } from './cli-helpers';
import { hasSystemPackage } from '../support/system-packages';

jest.setTimeout(30_000);

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
/** The suite that starts a real Prometheus and checks with promtool (both in Debian's prometheus). */
const describeWithPrometheus =
  hasSystemPackage(PROMETHEUS, 'prometheus', 'cli/metrics') && hasSystemPackage(PROMTOOL, 'prometheus', 'cli/metrics') ? describe : describe.skip;
const OPERATIONS_MD = path.join(__dirname, '..', '..', 'docs', 'operations.md');

const rings = trackRings();

interface Server {
  process: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}
const servers: Server[] = [];
let tempDir: string;

function startServer(command: string, args: string[]): Server {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const server = { process: child, output: () => output, exited };
  servers.push(server);
  return server;
}

beforeEach(() => {
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-metrics-'));
});

afterEach(async () => {
  for (const server of servers.splice(0)) {
    if (server.process.exitCode === null && server.process.signalCode === null) {
      server.process.kill('SIGTERM');
      const stopped = await within(server.exited, 5000, 'server exit').catch(() => undefined);
      if (!stopped) server.process.kill('SIGKILL');
      await within(server.exited, 5000, 'server exit after SIGKILL').catch(() => undefined);
    }
  }
  fs.rmSync(tempDir, { recursive: true, force: true });
});

function get(url: string): Promise<{ status: number; body: string; contentType: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, contentType: String(response.headers['content-type']) }));
    });
    request.setTimeout(5000, () => request.destroy(new Error(`GET ${url}: no answer within 5 s`)));
    request.on('error', reject);
  });
}

/** A loopback port nothing listens on now (Prometheus cannot be told to pick one and print it). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The first ```yaml block of docs/operations.md that contains `marker`. */
function yamlBlock(marker: string): string {
  const blocks = [...fs.readFileSync(OPERATIONS_MD, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  const block = blocks.find((text) => text.includes(marker));
  if (!block) throw new Error(`no yaml block with ${marker} in docs/operations.md`);
  return block;
}

async function startMetrics(prefix: string): Promise<{ server: Server; url: string }> {
  const server = startServer(process.execPath, [MAIN, 'metrics', '--listen', '127.0.0.1:0', '--prefix', prefix]);
  const deadline = Date.now() + 15_000;
  let match: RegExpExecArray | null = null;
  while (!(match = /listening on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(server.output()))) {
    if (Date.now() > deadline || server.process.exitCode !== null) throw new Error(`shmring metrics did not start: ${server.output()}`);
    await sleep(20);
  }
  return { server, url: match[1] };
}

/** Polls an instant query until `accept` likes its result (bounded); returns that result. */
async function queryUntil(base: string, query: string, accept: (result: any[]) => boolean, what: string): Promise<any[]> {
  const deadline = Date.now() + 15_000;
  let last = '';
  for (;;) {
    try {
      const { body } = await get(`${base}/api/v1/query?query=${encodeURIComponent(query)}`);
      last = body;
      const parsed = JSON.parse(body);
      if (parsed.status === 'success' && accept(parsed.data.result)) return parsed.data.result;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) throw new Error(`${what}: Prometheus never answered as expected to ${query}; last answer: ${last}`);
    await sleep(200);
  }
}

const value = (result: any[]): number => Number(result[0]?.value?.[1]);

describeWithPrometheus('shmring metrics, scraped by a real Prometheus', () => {
  it('serves every counter of a live ring, Prometheus reads them back, and a killed producer shows as dead and fires the alert', async () => {
    const name = rings.ringName('metrics');
    const prefix = name; // only this test's ring

    // Prometheus and the endpoint start while the ring is being set up.
    const metrics = await startMetrics(prefix);
    const target = new URL(metrics.url).host;
    const promPort = await freePort();
    fs.writeFileSync(path.join(tempDir, 'rules.yml'), yamlBlock('ShmringProducerDead'));
    fs.writeFileSync(
      path.join(tempDir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${path.join(tempDir, 'rules.yml')}`,
        'scrape_configs:',
        '  - job_name: shmring',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    );
    const prometheus = startServer(PROMETHEUS, [
      `--config.file=${path.join(tempDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(tempDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ]);
    const base = `http://127.0.0.1:${promPort}`;

    // The ring: a 4 KiB ring, 400 messages; a tethered consumer that starts reading only once the producer
    // is held back (a stall), an untethered one that reads only after it was lapped (lost messages).
    const producer: Child = runFixture('metrics-ring.js', ['producer', name, '400']);
    const tethered: Child = runFixture('metrics-ring.js', ['consumer', name, 'tethered']);
    const untethered: Child = runFixture('metrics-ring.js', ['consumer', name, 'untethered']);
    await tethered.waitForLine((m) => m.joined);
    await untethered.waitForLine((m) => m.joined);
    await producer.waitForLine((m) => m.held);
    tethered.process.kill('SIGUSR2');
    await producer.waitForLine((m) => m.sent === 400);
    await tethered.waitForLine((m) => m.received === 400);
    untethered.process.kill('SIGUSR2');
    const lapped = await untethered.waitForLine((m) => m.received !== undefined && m.received + m.lost === 400);
    expect(lapped.lost).toBeGreaterThan(0);

    // The endpoint itself: valid exposition format, the ring's series with their values.
    const scraped = await get(metrics.url);
    expect(scraped.status).toBe(200);
    expect(scraped.contentType).toContain('text/plain');
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: scraped.body, encoding: 'utf8', timeout: 10_000 });
    expect({ code: check.status, output: check.stdout + check.stderr }).toEqual({ code: 0, output: '' });
    expect(scraped.body).toContain(`shmring_messages_sent_total{ring="${name}"} 400`);
    expect(scraped.body).toContain(`shmring_bytes_sent_total{ring="${name}"} 6400`);

    // The same values, back from Prometheus.
    const ring = `ring="${name}"`;
    await queryUntil(base, `shmring_messages_sent_total{${ring}}`, (r) => value(r) === 400, 'messages sent');
    await queryUntil(base, `shmring_producer_alive{${ring}}`, (r) => value(r) === 1, 'producer alive');
    await queryUntil(base, `shmring_consumers{${ring}}`, (r) => value(r) === 2, 'consumers');
    await queryUntil(base, `shmring_producer_stalls_total{${ring}}`, (r) => value(r) >= 1, 'producer stalls');
    await queryUntil(base, `shmring_capacity_bytes{${ring}}`, (r) => value(r) === 4096, 'capacity');
    const received = await queryUntil(
      base,
      `shmring_consumer_received_total{${ring},pid="${tethered.process.pid}",tethered="true"}`,
      (r) => value(r) === 400,
      'received by the tethered consumer',
    );
    expect(received[0].metric.slot).toMatch(/^\d+$/);
    await queryUntil(
      base,
      `shmring_consumer_lost_total{${ring},pid="${untethered.process.pid}",tethered="false"}`,
      (r) => value(r) === lapped.lost,
      'lost by the untethered consumer',
    );
    await queryUntil(base, `shmring_consumer_lag_bytes{${ring},pid="${tethered.process.pid}"}`, (r) => value(r) === 0, 'lag');
    await queryUntil(base, `shmring_producer_dead{${ring}}`, (r) => value(r) === 0, 'producer not dead');

    // kill -9 the producer: the next scrapes say so, and the documented alert goes pending.
    producer.process.kill('SIGKILL');
    await queryUntil(base, `shmring_producer_dead{${ring}}`, (r) => value(r) === 1, 'producer dead');
    await queryUntil(base, `shmring_producer_alive{${ring}}`, (r) => value(r) === 0, 'producer no longer alive');
    await queryUntil(base, `ALERTS{alertname="ShmringProducerDead",${ring}}`, (r) => r.length === 1, 'alert ShmringProducerDead');

    // SIGTERM: the endpoint stops cleanly (exit 0), even with Prometheus' keep-alive connection open.
    metrics.server.process.kill('SIGTERM');
    expect(await within(metrics.server.exited, 10_000, 'shmring metrics exit')).toEqual({ code: 0, signal: null });
    expect(prometheus.process.exitCode).toBeNull();
  });

  it('checks the documented alert rules and scrape config with promtool', () => {
    const rulesFile = path.join(tempDir, 'rules.yml');
    fs.writeFileSync(rulesFile, yamlBlock('groups:'));
    const rules = spawnSync(PROMTOOL, ['check', 'rules', rulesFile], { encoding: 'utf8', timeout: 10_000 });
    expect({ code: rules.status, output: rules.stdout + rules.stderr }).toMatchObject({ code: 0, output: expect.stringContaining('SUCCESS: 3 rules found') });
    const configFile = path.join(tempDir, 'prometheus.yml');
    fs.writeFileSync(configFile, yamlBlock('scrape_configs:'));
    const config = spawnSync(PROMTOOL, ['check', 'config', configFile], { encoding: 'utf8', timeout: 10_000 });
    expect({ code: config.status, output: config.stdout + config.stderr }).toMatchObject({ code: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('answers 404 off /metrics, and refuses a bad --listen as a usage error', async () => {
    const metrics = await startMetrics(rings.ringName('metrics-404'));
    expect((await get(metrics.url.replace('/metrics', '/nope'))).status).toBe(404);
    const bad = spawnSync(process.execPath, [MAIN, 'metrics', '--listen', 'localhost'], { encoding: 'utf8', timeout: 10_000 });
    expect({ code: bad.status, stderr: bad.stderr }).toMatchObject({ code: 2, stderr: expect.stringContaining('--listen must be host:port') });
  });
});

describe('registerRingMetrics in an application\'s own registry', () => {
  it('is reachable as shmring/metrics with require and import', () => {
    const script = [
      "import { registerRingMetrics, RING_METRICS } from 'shmring/metrics';",
      "import { createRequire } from 'node:module';",
      'const cjs = createRequire(import.meta.url)("shmring/metrics");',
      'console.log(JSON.stringify({ type: typeof registerRingMetrics, same: cjs.registerRingMetrics === registerRingMetrics, metrics: RING_METRICS.length }));',
    ].join('\n');
    const output = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: path.join(__dirname, '..', '..'), encoding: 'utf8', timeout: 15_000 });
    expect({ stdout: output.stdout, stderr: output.stderr }).toEqual({ stdout: '{"type":"function","same":true,"metrics":14}\n', stderr: '' });
  });

  it('adds the ring metrics with a prefix, reads them at scrape time, and removes them again', async () => {
    const name = rings.ringName('metrics-app');
    const registry = new Registry();
    const added = registerRingMetrics(registry, { prefix: 'app_shm_', ringPrefix: name });
    const producer = rings.track(Producer.create(name, { capacity: 4096 }));
    producer.send({ hello: 'world' });
    const first = await registry.metrics();
    expect(first).toContain(`app_shm_messages_sent_total{ring="${name}"} 1`);
    producer.send({ again: true });
    // Read again at the next scrape (after the snapshot cache's 100 ms).
    await sleep(150);
    expect(await registry.metrics()).toContain(`app_shm_messages_sent_total{ring="${name}"} 2`);
    added.unregister();
    expect(await registry.metrics()).not.toContain('app_shm_');
    expect(() => registerRingMetrics(registry, { prefix: 'bad-prefix' })).toThrow(RangeError);
  });
});
