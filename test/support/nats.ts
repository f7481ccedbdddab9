/**
 * Real nats-server processes for tests: one server, or a cluster of three on loopback with routes, each
 * with JetStream and a store in a temporary directory; stopped (and the directories removed) by stop().
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

/** A loopback port nobody listens on now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Everything the server logged (stderr), for failure messages. */
  log(): string;
  /** SIGKILL (no shutdown at all), waiting for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
  /** SIGTERM (SIGKILL after 5 s), then removes the store. Idempotent. */
  stop(): Promise<void>;
}

interface ServerSpec {
  port: number;
  args: string[];
  storeDir: string;
  ready: RegExp;
}

function launch(spec: ServerSpec, logs: string[]): Promise<ChildProcess> {
  const child = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(spec.port), '-js', '-sd', spec.storeDir, ...spec.args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exits.set(child, gone);
  return new Promise((resolve, reject) => {
    let ready = false;
    let seen = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nats-server on port ${spec.port} was not ready within 20 s:\n${seen.slice(-3000)}`));
    }, 20_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${NATS_SERVER} (apt-get install nats-server): ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      if (ready) return;
      clearTimeout(timer);
      reject(new Error(`nats-server on port ${spec.port} exited (${code ?? signal}) before it was ready:\n${seen.slice(-3000)}`));
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      seen += chunk;
      logs.push(chunk.toString());
      if (spec.ready.test(seen)) {
        if (ready) return;
        ready = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

const exits = new WeakMap<ChildProcess, Promise<void>>();

function exited(child: ChildProcess): Promise<void> {
  return exits.get(child) ?? Promise.resolve();
}

function makeServer(spec: ServerSpec, child: ChildProcess, logs: string[], ownsDir: string): NatsServer {
  let current: ChildProcess | undefined = child;
  let stopped = false;
  return {
    url: `nats://127.0.0.1:${spec.port}`,
    port: spec.port,
    storeDir: spec.storeDir,
    log: () => logs.join(''),
    async kill() {
      const c = current;
      current = undefined;
      if (!c) return;
      c.kill('SIGKILL');
      await exited(c);
    },
    async restart() {
      if (stopped) throw new Error('restart after stop');
      await this.kill();
      current = await launch(spec, logs);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const c = current;
      current = undefined;
      if (c) {
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
        await exited(c);
        clearTimeout(timer);
      }
      fs.rmSync(ownsDir, { recursive: true, force: true });
    },
  };
}

/** Resolves once the server at `url` answers a JetStream account-info request; bounded by `ms`. */
async function waitForJetStream(url: string, ms: number): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const deadline = Date.now() + ms;
  for (let lastError: unknown; ; ) {
    if (Date.now() > deadline) throw new Error(`JetStream at ${url} did not answer within ${ms} ms: ${(lastError as Error)?.message}`);
    const nc = await connect({ servers: url, timeout: 2000 }).catch((error: unknown) => {
      lastError = error;
      return undefined;
    });
    if (nc) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2000 });
        await jsm.getAccountInfo();
        return;
      } catch (error) {
        lastError = error;
      } finally {
        await nc.close();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** One nats-server with JetStream on a free loopback port, its store in a new temporary directory. */
export async function startNatsServer(): Promise<NatsServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-nats-'));
  const spec: ServerSpec = { port: await freePort(), args: [], storeDir: dir, ready: /Server is ready/ };
  const logs: string[] = [];
  try {
    return makeServer(spec, await launch(spec, logs), logs, dir);
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Three nats-servers with JetStream, routed to each other on loopback (cluster 'shmring-test'). Resolves
 * once the routes are up and JetStream has elected its metadata leader.
 */
export async function startNatsCluster(): Promise<NatsServer[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shmring-nats-cluster-'));
  const clientPorts = [await freePort(), await freePort(), await freePort()];
  const routePorts = [await freePort(), await freePort(), await freePort()];
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const servers: NatsServer[] = [];
  try {
    const launches = clientPorts.map((port, i) => {
      const storeDir = path.join(dir, `n${i}`);
      fs.mkdirSync(storeDir);
      const spec: ServerSpec = {
        port,
        storeDir,
        ready: /Server is ready/,
        args: ['-n', `n${i}`, '--cluster_name', 'shmring-test', '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes],
      };
      const logs: string[] = [];
      return launch(spec, logs).then((child) => servers.push(makeServer(spec, child, logs, storeDir)));
    });
    const results = await Promise.allSettled(launches);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    servers.sort((a, b) => clientPorts.indexOf(a.port) - clientPorts.indexOf(b.port));
    // Ready means: each server answers JetStream API requests (routes up, a metadata leader elected).
    await Promise.all(servers.map((server) => waitForJetStream(server.url, 30_000)));
    // The parent directory goes when the last of the three has stopped.
    let running = servers.length;
    for (const server of servers) {
      const stopOne = server.stop.bind(server);
      let stopped = false;
      server.stop = async () => {
        if (stopped) return;
        stopped = true;
        await stopOne();
        if (--running === 0) fs.rmSync(dir, { recursive: true, force: true });
      };
    }
    return servers;
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
