/**
 * What the bridge test files share: the processes of a bridged run (producer on "host A", both bridges as
 * `shmring bridge` processes, the reader on "host B"), their failure reports, and the servers and rings
 * each test made (stopped and removed after it, landing logs included).
 */
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { landingLogName } from '../../src/integrations/bridge';
import { Child, runFixture, within } from '../support/children';
import { NatsServer } from '../support/nats';
import { trackRings } from '../support/teardown';

export const CLI = '../../dist/cli/main.js';
export const RING_CAPACITY = 16 << 20;

export interface Run {
  source: string;
  target: string;
  producer: Child;
  sink: Child;
  receiving: Child;
  prefix: string;
  stream: string;
}

/** Call at the top of a test file: registers the teardown and returns the helpers. */
export function bridgeHarness() {
  const rings = trackRings();
  const servers: NatsServer[] = [];

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });

  function describeChild(name: string, child: Child): Promise<string> {
    return Promise.race([
      child.exited.then((r) => `${name}: exit ${r.code ?? r.signal}\nstdout: ${r.stdout.slice(-1500)}\nstderr: ${r.stderr.slice(-1500)}`),
      new Promise<string>((resolve) => setTimeout(() => resolve(`${name}: still running`), 100)),
    ]);
  }

  /** Waits for `child` to exit 0; otherwise fails with what every process printed. */
  async function expectSuccess(name: string, child: Child, ms: number, others: Record<string, Child>): Promise<string> {
    let result;
    try {
      result = await within(child.exited, ms, name);
    } catch (error) {
      child.process.kill('SIGKILL');
      const reports = await Promise.all(Object.entries({ [name]: child, ...others }).map(([n, c]) => describeChild(n, c)));
      throw new Error(`${(error as Error).message}\n${reports.join('\n')}\n${servers.map((s) => s.log().slice(-1500)).join('\n')}`);
    }
    if (result.code !== 0) {
      const reports = await Promise.all(Object.entries(others).map(([n, c]) => describeChild(n, c)));
      throw new Error(`${name} exited ${result.code ?? result.signal}\nstdout: ${result.stdout.slice(-3000)}\nstderr: ${result.stderr.slice(-3000)}\n${reports.join('\n')}`);
    }
    return result.stdout;
  }

  function bridgeToNats(ring: string, server: string, stream: string | undefined, prefix: string): Child {
    return runFixture(CLI, [
      'bridge', '--from-ring', ring, '--to-subject', `${prefix}.{host}.{ring}`, '--server', server,
      ...(stream ? ['--jetstream', stream] : []), '--open-timeout', '30000', '--json', '--status-interval', '100',
    ]);
  }

  function bridgeToRing(ring: string, server: string, stream: string | undefined, prefix: string): Child {
    return runFixture(CLI, [
      'bridge', '--from-subject', `${prefix}.*.*`, '--to-ring', ring, '--server', server,
      ...(stream ? ['--jetstream', stream] : []), '--ring-capacity', String(RING_CAPACITY), '--json', '--status-interval', '100',
    ]);
  }

  async function streamMessages(url: string, stream: string): Promise<{ messages: number; lastSequence: number | undefined }> {
    const nc = await connect({ servers: url });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(stream);
      const subject = (await jsm.streams.getMessage(stream, { seq: info.state.last_seq }))?.header.get('Shmring-Sequence');
      return { messages: info.state.messages, lastSequence: subject === undefined ? undefined : Number(subject) };
    } finally {
      await nc.close();
    }
  }


  /** Starts the sink, the NATS → ring bridge and the producer (the ring → NATS bridge is the caller's). */
  function startRun(server: NatsServer, count: number, tag: string, receivingServer = server, jetstream = true): Run {
    const source = rings.ringName(`${tag}-a`);
    const target = rings.ringName(`${tag}-b`);
    // The receiving bridge's landing log: a SIGKILLed bridge leaves it (by design), the teardown removes it.
    rings.trackName(landingLogName(target));
    const prefix = `t${process.pid}${tag.replace(/[^a-z0-9]/gi, '')}`;
    const stream = `S${prefix}`;
    const receiving = bridgeToRing(target, receivingServer.url, jetstream ? stream : undefined, prefix);
    const sink = runFixture('bridge-sink.js', [target, String(count)]);
    const producer = runFixture('bridge-producer.js', [source, String(count), String(RING_CAPACITY)]);
    return { source, target, producer, sink, receiving, prefix, stream };
  }

  return { rings, servers, describeChild, expectSuccess, bridgeToNats, bridgeToRing, streamMessages, startRun };
}
