/**
 * Least privilege: a consumer maps the data region and the producer's page (tail, intent, oldest,
 * counters) read-only (a consumer bug can neither alter a message nor make other consumers read stale
 * data), and only the consumers' pages read-write (its slot, the sleep flag, the space-wake word). A
 * consumer that writes into the consumers' pages can hold a producer back (that is what tethered means) but
 * cannot make it overwrite what other tethered consumers have not read: the producer clamps every head.
 */
import * as fs from 'fs';
import { Consumer, Producer, Segment } from '../../src';
import * as L from '../../src/ring/layout';
import { runFixture, within } from '../support/children';
import { uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';

const { trackName: track } = trackRings();

const CAPACITY = 8192;

describe('the data region is mapped read-only in consumers', () => {
  it.each([true, false])('/proc/<pid>/maps of a consumer (tethered: %p) shows the producer page and the data region r--s, only the consumers\' pages rw-s', async (tethered) => {
    const name = track(uniqueName('maps'));
    const producer = Producer.create(name, { capacity: CAPACITY });
    try {
      const child = runFixture('security-child.js', ['maps', name, JSON.stringify({ options: { tethered } })]);
      const { stdout, signal } = await within(child.exited, 20000, 'maps child');
      expect(signal).toBeNull();
      const result = JSON.parse(stdout.trim().split('\n').pop()!) as { ok: boolean; lines: string[] };
      expect(result.ok).toBe(true);
      // "start-end perms offset dev inode path"
      const mappings = result.lines.map((line) => {
        const [range, perms, offset] = line.split(/\s+/);
        const [start, end] = range.split('-').map((hex) => parseInt(hex, 16));
        return { perms, offset: parseInt(offset, 16), length: end - start };
      });
      const controlLength = L.controlLength(L.DEFAULT_MAX_CONSUMERS);
      expect(mappings).toContainEqual({ perms: 'r--s', offset: 0, length: controlLength });
      expect(mappings).toContainEqual({ perms: 'rw-s', offset: L.CONSUMER_REGION_OFFSET, length: controlLength - L.CONSUMER_REGION_OFFSET });
      expect(mappings).toContainEqual({ perms: 'r--s', offset: controlLength, length: CAPACITY });
      // Nothing writable covers the producer's page or the data region.
      const writable = mappings.filter((m) => m.perms.includes('w'));
      expect(writable.filter((m) => m.offset < L.CONSUMER_REGION_OFFSET || m.offset + m.length > controlLength)).toEqual([]);
    } finally {
      producer.close();
    }
  });

  it('a tethered consumer that writes into the view tryReceiveBytes returned dies with SIGSEGV; the message is intact', async () => {
    const name = track(uniqueName('segv'));
    const producer = Producer.create(name, { capacity: CAPACITY });
    const witness = Consumer.open(name);
    try {
      const child = runFixture('security-child.js', ['write-view', name, JSON.stringify({ tethered: true })]);
      await child.waitForLine((m) => m.ready);
      producer.sendBytes(Uint8Array.of(1, 2, 3, 4));
      const { signal, stdout } = await within(child.exited, 20000, 'write-view child');
      expect(stdout).toContain('"received":true');
      expect(stdout).not.toContain('"wrote":true');
      expect(signal).toBe('SIGSEGV');
      expect(Array.from(witness.tryReceiveBytes()!)).toEqual([1, 2, 3, 4]);
    } finally {
      witness.close();
      producer.close();
    }
  });

  it('an untethered consumer gets a private copy: writing into it changes nothing in the ring', () => {
    const name = track(uniqueName('copy'));
    const producer = Producer.create(name, { capacity: CAPACITY });
    const untethered = Consumer.open(name, { tethered: false });
    const witness = Consumer.open(name);
    try {
      producer.sendBytes(Uint8Array.of(9, 8, 7));
      const view = untethered.tryReceiveBytes()!;
      view[0] = 0;
      expect(Array.from(witness.tryReceiveBytes()!)).toEqual([9, 8, 7]);
    } finally {
      witness.close();
      untethered.close();
      producer.close();
    }
  });
});

describe('what a consumer with write access to the control region can do to the producer', () => {
  function controlOf(name: string): { i32: Int32Array; close: () => void } {
    const segment = Segment.open(name);
    const buffer = segment.map(0, L.controlLength(L.DEFAULT_MAX_CONSUMERS), { writable: true });
    return { i32: new Int32Array(buffer), close: () => segment.close() };
  }

  it.each([
    // [label, hostile head, whether the producer can still send (a head behind holds it back: allowed)]
    ['far ahead of the tail', (tail: number) => (tail + 1_000_000) | 0, true],
    ['just ahead of the tail', (tail: number) => (tail + 16) | 0, true],
    ['more than a ring behind', (tail: number) => (tail - 5 * CAPACITY) | 0, false],
    ['at -2^31', () => -0x80000000, false],
  ])('a hostile head %s cannot make the producer overwrite what another tethered consumer has not read', (_label, hostile, canSend) => {
    const name = track(uniqueName('clamp'));
    const producer = Producer.create(name, { capacity: CAPACITY });
    const attacker = Consumer.open(name); // slot 0
    const victim = Consumer.open(name); // slot 1: reads nothing until the end
    const control = controlOf(name);
    try {
      const headIndex = (L.slotOffset(0) + L.SLOT_HEAD_OFFSET) >> 2;
      let sent = 0;
      for (let round = 0; round < 50; round++) {
        Atomics.store(control.i32, headIndex, hostile(Atomics.load(control.i32, L.PUBLISHED_TAIL_OFFSET >> 2)));
        if (producer.send({ n: sent, pad: 'x'.repeat(100) })) sent++;
      }
      if (canSend) expect(sent).toBeGreaterThan(0);
      // The victim gets every message sent, in order, none lost.
      const received: number[] = [];
      for (let value = victim.tryReceive(); value !== undefined; value = victim.tryReceive()) received.push((value as { n: number }).n);
      expect(received).toEqual(Array.from({ length: sent }, (_, i) => i));
      expect(victim.lost).toBe(0);
    } finally {
      control.close();
      victim.close();
      attacker.close();
      producer.close();
    }
  });

  it('a tethered consumer that stops reading holds the producer back (send returns false), and nothing more', () => {
    const name = track(uniqueName('hold'));
    const producer = Producer.create(name, { capacity: CAPACITY });
    const stuck = Consumer.open(name);
    try {
      let sent = 0;
      while (producer.send({ n: sent }) && sent < 10_000) sent++;
      expect(sent).toBeLessThan(10_000);
      expect(producer.send({ n: -1 })).toBe(false);
      stuck.close(); // leaving frees the producer
      expect(producer.send({ n: sent })).toBe(true);
    } finally {
      producer.close();
    }
  });

  it('a consumer cannot open the data region writable through the library, but its fd is read-write (documented)', () => {
    const name = track(uniqueName('fd'));
    const producer = Producer.create(name, { capacity: CAPACITY });
    try {
      // The consumer's descriptor must be O_RDWR for the control region; the same access lets any process
      // of that user write the data region by other means. Read-only mapping is a guard against bugs.
      const consumer = Consumer.open(name);
      try {
        producer.sendBytes(Uint8Array.of(5, 6, 7));
        const dataStart = L.controlLength(L.DEFAULT_MAX_CONSUMERS);
        const fd = fs.openSync(`/dev/shm${name}`, 'r+');
        try {
          // Write access to the data region through the descriptor: a byte of the record header written
          // back unchanged (so the message stays intact) is accepted.
          const byte = Buffer.alloc(1);
          expect(fs.readSync(fd, byte, 0, 1, dataStart)).toBe(1);
          expect(fs.writeSync(fd, byte, 0, 1, dataStart)).toBe(1);
        } finally {
          fs.closeSync(fd);
        }
        // Through the library, the same consumer only ever gets read-only views of the data region (the
        // maps test above shows r--s); the message is delivered unchanged.
        expect(Array.from(consumer.tryReceiveBytes()!)).toEqual([5, 6, 7]);
      } finally {
        consumer.close();
      }
    } finally {
      producer.close();
    }
  });
});
