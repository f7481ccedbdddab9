/**
 * The consumer as a good citizen of a Node process: it sleeps without using CPU, never blocks the event
 * loop, lets the process exit once closed, and works inside worker_threads (including busy-spin there).
 */
import { Producer } from '../../src';
import { runFixture, within } from '../support/children';
import { segmentExists } from '../support/names';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

async function sendSequence(producer: Producer, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (!producer.send({ i })) await producer.sendAsync({ i }, { timeout: 10000 });
  }
}

describe('an idle consumer', () => {
  it.each(['spin-then-sleep', 'sleep'])('(%s) uses well under 10%% of a core while it sleeps, and timers keep running', async (wait) => {
    const name = ringName('idle');
    track(Producer.create(name, { capacity: 4096 }));
    const idle = runFixture('api-child.js', [JSON.stringify({ mode: 'idle', name, options: { wait } })]);
    const done = await idle.waitForLine((m) => m.done || m.error);
    expect(done.error).toBeUndefined();
    // A resource bound: CPU time over wall time of the ~1 s measurement.
    expect(done.cpuUs / done.elapsedUs).toBeLessThan(0.1);
    expect(done.ticks).toBeGreaterThanOrEqual(5); // a 50 ms interval kept firing
    expect(done.received).toBe(0);
    expect((await within(idle.exited, 10000, 'child exit')).code).toBe(0);
  });
});

describe('process exit', () => {
  it('a process whose producer and consumer are closed exits by itself after the end of stream', async () => {
    const name = ringName('exit-end');
    const child = runFixture('api-child.js', [JSON.stringify({ mode: 'lifecycle', name })]);
    const exited = await within(child.exited, 10000, 'child exit');
    expect(exited.stderr).toBe('');
    expect(exited.code).toBe(0);
    expect(JSON.parse(exited.stdout.trim())).toEqual({ done: true, count: 10 });
    expect(segmentExists(name)).toBe(false);
  });

  it('a process exits by itself when a consumer asleep in the kernel is closed', async () => {
    const name = ringName('exit-idle');
    const child = runFixture('api-child.js', [JSON.stringify({ mode: 'idleClose', name })]);
    const exited = await within(child.exited, 10000, 'child exit');
    expect(exited.code).toBe(0);
    expect(segmentExists(name)).toBe(false);
  });

  it('an unref()ed consumer waiting for messages does not keep the process alive', async () => {
    const name = ringName('exit-unref');
    track(Producer.create(name, { capacity: 4096 }));
    const child = runFixture('api-child.js', [JSON.stringify({ mode: 'iterate', name, options: { ref: false } })]);
    const exited = await within(child.exited, 10000, 'child exit');
    expect(exited.code).toBe(0);
    expect(exited.stdout).toContain('"ready":true');
    expect(exited.stdout).not.toContain('"done"');
  });
});

describe('worker_threads', () => {
  it.each(['spin-then-sleep', 'spin'])(
    'a consumer in a worker (%s) receives everything from a producer in another process',
    async (wait) => {
      const name = ringName(`worker-${wait}`);
      const producer = track(Producer.create(name, { capacity: 4096 }));
      const host = runFixture('api-worker-host.js', [JSON.stringify({ name, wait })]);
      await host.waitForLine((m) => m.ready || m.error);
      await sendSequence(producer, 2000);
      producer.close();
      const done = await host.waitForLine((m) => m.done || m.error);
      expect(done).toMatchObject({ done: true, count: 2000, ordered: true, ended: true });
      // The worker's spinning or sleeping never blocked the host's main thread.
      expect(done.mainThreadTicks).toBeGreaterThan(0);
      const exited = await within(host.exited, 10000, 'host exit');
      expect(exited.code).toBe(0);
    },
  );
});
