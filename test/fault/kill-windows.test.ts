/**
 * Crashes inside windows too narrow for a random kill -9 to hit: two stores that belong together, with a
 * SIGKILL landing between them. The real code runs in this process and "dies" just before its k-th Atomics
 * operation (every k in turn), leaving exactly the shared state such a kill leaves; the OS side of the
 * death (the pid gone) is a pid that has exited. Then the survivors (a restarted producer, the producer
 * reclaiming a slot) must cope.
 * docs/crashes.md describes each window and how the code closes it.
 */
import { spawn } from 'child_process';
import { Consumer, Producer } from '../../src';
import * as L from '../../src/ring/layout';
import { currentProcess, liveness } from '../../src/core/liveness';
import {
  DATA_WAITERS_CI32,
  PRODUCER_PID_I32,
  PRODUCER_START_TIME_F64,
  PUBLISHED_TAIL_I32,
  RingMemory,
} from '../../src/ring/memory';
import { RingReader } from '../../src/ring/reader';
import { claimSlot, readSlot, reclaimSlot } from '../../src/ring/slots';
import { trackRings } from '../support/teardown';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const record = require('../fixtures/fault-record.js');

const { ringName, track } = trackRings();

function memoryOf(endpoint: Producer | Consumer): RingMemory {
  return (endpoint as unknown as { memory: RingMemory }).memory;
}

/** The pid of a process that has exited (and been reaped): a consumer "killed" for good. */
async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

class Killed extends Error {}

/**
 * Runs `fn` as a process that is SIGKILLed just before its `step`-th Atomics operation (0 = the first):
 * every plain store before that point has happened, nothing after it. Returns whether `fn` completed.
 */
function runKilledAt(step: number, fn: () => void): boolean {
  const ops = ['load', 'store', 'add', 'sub', 'exchange', 'compareExchange', 'and', 'or', 'xor'] as const;
  const saved = ops.map((op) => (Atomics as any)[op]);
  let count = 0;
  ops.forEach((op, i) => {
    (Atomics as any)[op] = (...args: unknown[]) => {
      if (count++ === step) throw new Killed(`killed before Atomics.${op} #${step}`);
      return saved[i].apply(Atomics, args);
    };
  });
  try {
    fn();
    return true;
  } catch (error) {
    if (error instanceof Killed) return false;
    throw error;
  } finally {
    ops.forEach((op, i) => {
      (Atomics as any)[op] = saved[i];
    });
  }
}

/** Makes the ring's producer lock look held by a process that died (the OS side of a kill -9). */
async function producerDies(memory: RingMemory): Promise<void> {
  const pid = await deadPid();
  Atomics.store(memory.controlI32, PRODUCER_PID_I32, pid);
  memory.controlF64[PRODUCER_START_TIME_F64] = 1;
}

it('producer killed at any point of send() (e.g. between storing NEXT_SEQUENCE and PUBLISHED_TAIL): after takeover, consumers count no phantom loss, messagesSent is exact', async () => {
  const failures: string[] = [];
  // The loop ends when fn ran to completion (every kill point before it tried); the bound only stops a
  // runaway, and reaching it fails the test.
  let completed = false;
  let steps = 0;
  for (let step = 0; !completed && step < 200; step++) {
    steps++;
    const name = ringName(`send-k${step}`);
    // Not tracked: this producer "dies" below, it must not close (close would unlink the ring).
    const dying = Producer.create(name, { capacity: 8192, maxConsumers: 8 });
    const consumer = track(Consumer.open(name, { waitForRestartMs: 30000 }));
    const got: number[] = [];
    const drain = () => {
      for (let bytes; (bytes = consumer.tryReceiveBytes()) !== undefined; ) got.push(record.decode(bytes).counter);
    };
    for (let i = 0; i < 10; i++) dying.sendBytes(record.encode(i, 1, 64));
    drain();
    completed = runKilledAt(step, () => dying.sendBytes(record.encode(10, 1, 64)));
    await producerDies(memoryOf(dying));
    drain();

    const restarted = track(Producer.create(name, { capacity: 8192, maxConsumers: 8 }));
    expect(restarted.tookOver).toBe(true);
    const next = got[got.length - 1] + 1;
    restarted.sendBytes(record.encode(next, 2, 64));
    drain();
    const contiguous = got.every((counter, i) => counter === i);
    if (!contiguous || consumer.lost !== 0 || restarted.stats.messagesSent !== got.length) {
      failures.push(`killed before Atomics op #${step}: received ${got.length} contiguous=${contiguous}, consumer.lost ${consumer.lost}, messagesSent ${restarted.stats.messagesSent}`);
    }
    consumer.close();
    restarted.close();
  }
  expect({ completed, killPointsTried: steps > 1, failures }).toEqual({ completed: true, killPointsTried: true, failures: [] });
});

it('a consumer killed at any point of going to sleep never costs a live sleeper its wakeup, and leaves no wake behind but the trailing one', async () => {
  const failures: string[] = [];
  // The loop ends when fn ran to completion (every kill point before it tried); the bound only stops a
  // runaway, and reaching it fails the test.
  let completed = false;
  let steps = 0;
  for (let step = 0; !completed && step < 50; step++) {
    steps++;
    const name = ringName(`sleep-k${step}`);
    const producer = track(Producer.create(name, { capacity: 4096 }));
    const memory = memoryOf(producer);
    const words = memory.controlI32;
    // The consumer that dies while announcing its sleep, read through the real RingReader code.
    const pid = await deadPid();
    const tail = Atomics.load(words, PUBLISHED_TAIL_I32);
    const slot = claimSlot(memory, { pid, startTime: 1, pidNamespace: currentProcess().pidNamespace }, false, tail, 0);
    completed = runKilledAt(step, () => new RingReader(memory, false, slot, tail, 0).prepareToSleep());

    // A live consumer announces that it is going to sleep: the next publish must wake it.
    const sleeper = track(Consumer.open(name, { tethered: false }));
    expect(sleeper._prepareToSleep()).toBeDefined();
    const wakes = producer.stats.wakesSent;
    producer.sendBytes(record.encode(0, 1, 100));
    const woken = producer.stats.wakesSent === wakes + 1;
    // Nobody announced a sleep since: one more wake only (the publish after one that took an announcement
    // wakes again, docs/protocol.md "Sleeping and waking"), whatever the dead consumer left behind.
    for (let i = 1; i < 100; i++) producer.sendBytes(record.encode(i, 1, 100));
    const spare = producer.stats.wakesSent - wakes - 1;
    if (!woken || spare !== 1 || Atomics.load(memory.consumerI32, DATA_WAITERS_CI32) !== 0) {
      failures.push(`killed before Atomics op #${step}: live sleeper woken ${woken}, spare wakes ${spare}`);
    }
    sleeper.close();
    producer.close();
  }
  expect({ completed, killPointsTried: steps > 1, failures }).toEqual({ completed: true, killPointsTried: true, failures: [] });
});

it('a live consumer claiming a slot last held by a dead consumer is not judged dead by a producer scanning meanwhile (stale start time)', async () => {
  const name = ringName('claim-window');
  const producer = track(Producer.create(name, { capacity: 4096, livenessIntervalMs: 1 }));
  const memory = memoryOf(producer);
  const words = memory.controlI32;
  const pid = await deadPid();
  const slot = claimSlot(memory, { pid, startTime: 12345, pidNamespace: currentProcess().pidNamespace }, true, Atomics.load(words, PUBLISHED_TAIL_I32), 0);
  expect(reclaimSlot(memory, slot, pid)).toBe(true);

  // A live consumer (this process) has done the first step of claimSlot, CAS(pid 0 -> own pid), and not
  // yet written its start time and namespace.
  const pidIndex = (L.slotOffset(slot) - L.CONSUMER_REGION_OFFSET + L.SLOT_PID_OFFSET) >> 2;
  expect(Atomics.compareExchange(memory.consumerI32, pidIndex, 0, process.pid)).toBe(0);

  expect(liveness(readSlot(memory, slot))).toBe('alive');
  // The producer's reclaim pass (run when the ring is full) must leave the slot to its new owner.
  (producer as unknown as { reclaimDeadConsumers(force: boolean): boolean }).reclaimDeadConsumers(true);
  expect(Atomics.load(memory.consumerI32, pidIndex)).toBe(process.pid);
});
