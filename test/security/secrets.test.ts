/**
 * No message outlives its ring by accident: a new ring's memory is zeroed (nothing from an earlier
 * segment of the same name), and `wipeOnClose` zeroes the data region on close, seen through a mapping
 * that is still open.
 */
import { Consumer, Producer, Segment } from '../../src';
import * as L from '../../src/ring/layout';
import { uniqueName } from '../support/names';
import { trackRings } from '../support/teardown';

const { trackName: track } = trackRings();

const CAPACITY = 8192;
const SECRET = 0xab;

/** Fills the ring with records whose payload bytes are all SECRET. */
function fillWithSecrets(producer: Producer): void {
  const consumer = Consumer.open(producer.name, { tethered: false });
  try {
    for (let i = 0; i < 40; i++) producer.sendBytes(new Uint8Array(500).fill(SECRET));
  } finally {
    consumer.close();
  }
}

function countSecretBytes(bytes: Uint8Array): number {
  let count = 0;
  for (const b of bytes) if (b === SECRET) count++;
  return count;
}

/** A read-only look at the data region of the ring `name`, through its own mapping. */
function dataRegion(name: string): { bytes: Uint8Array; close: () => void } {
  const segment = Segment.open(name, { readWrite: false, allowForeignOwner: true });
  const controlLength = L.controlLength(L.DEFAULT_MAX_CONSUMERS);
  const buffer = segment.map(controlLength, segment.size - controlLength, { writable: false });
  return { bytes: new Uint8Array(buffer), close: () => segment.close() };
}

describe('a new ring is zeroed', () => {
  it('after the previous segment of the same name was unlinked holding data', () => {
    const name = track(uniqueName('zero-new'));
    const first = Producer.create(name, { capacity: CAPACITY });
    fillWithSecrets(first);
    const before = dataRegion(name);
    expect(countSecretBytes(before.bytes)).toBeGreaterThan(CAPACITY / 2);
    before.close();
    first.close(); // unlinks

    const second = Producer.create(name, { capacity: CAPACITY });
    try {
      const after = dataRegion(name);
      expect(countSecretBytes(after.bytes)).toBe(0);
      expect(after.bytes.every((b) => b === 0)).toBe(true);
      after.close();
    } finally {
      second.close();
    }
  });

  it("when `existing: 'replace'` replaces a dead producer's ring that held data", () => {
    const name = track(uniqueName('zero-replace'));
    const first = Producer.create(name, { capacity: CAPACITY, unlinkOnClose: false });
    fillWithSecrets(first);
    first.close(); // leaves the segment, with its data
    const left = dataRegion(name);
    expect(countSecretBytes(left.bytes)).toBeGreaterThan(CAPACITY / 2);
    left.close();

    const second = Producer.create(name, { capacity: CAPACITY, existing: 'replace' });
    try {
      expect(second.tookOver).toBe(false);
      const after = dataRegion(name);
      expect(after.bytes.every((b) => b === 0)).toBe(true);
      after.close();
    } finally {
      second.close();
    }
  });

  it("but `existing: 'takeover'` continues the old ring, data included (documented)", () => {
    const name = track(uniqueName('zero-takeover'));
    const first = Producer.create(name, { capacity: CAPACITY, unlinkOnClose: false });
    fillWithSecrets(first);
    first.close();
    const second = Producer.create(name, { capacity: CAPACITY });
    try {
      expect(second.tookOver).toBe(true);
      const after = dataRegion(name);
      expect(countSecretBytes(after.bytes)).toBeGreaterThan(0);
      after.close();
    } finally {
      second.close();
    }
  });
});

describe('wipeOnClose', () => {
  it('zeroes the data region on close, as seen through a mapping still open', () => {
    const name = track(uniqueName('wipe'));
    const producer = Producer.create(name, { capacity: CAPACITY, wipeOnClose: true });
    fillWithSecrets(producer);
    const view = dataRegion(name); // kept open across the close: it sees the same pages
    try {
      expect(countSecretBytes(view.bytes)).toBeGreaterThan(CAPACITY / 2);
      producer.close();
      expect(countSecretBytes(view.bytes)).toBe(0);
    } finally {
      view.close();
    }
  });

  it('without wipeOnClose the data stays readable through an open mapping after close (the default)', () => {
    const name = track(uniqueName('no-wipe'));
    const producer = Producer.create(name, { capacity: CAPACITY });
    fillWithSecrets(producer);
    const view = dataRegion(name);
    try {
      producer.close();
      expect(countSecretBytes(view.bytes)).toBeGreaterThan(CAPACITY / 2);
    } finally {
      view.close();
    }
  });

  // Regression: the wipe erases the END record and whatever consumers have not read; they must end the
  // stream (counting the loss), not fail with CORRUPT_SEGMENT ("corrupt record ... type 0").
  it.each([true, false])('a consumer (tethered: %p) still reading when the producer wipes ends cleanly instead of CORRUPT_SEGMENT', (tethered) => {
    const name = track(uniqueName('wipe-reader'));
    const producer = Producer.create(name, { capacity: CAPACITY, wipeOnClose: true });
    const consumer = Consumer.open(name, { tethered });
    try {
      producer.send({ n: 1 });
      producer.send({ n: 2 });
      expect(consumer.tryReceive()).toEqual({ n: 1 });
      producer.close();
      const outcome = (() => {
        try {
          const rest: unknown[] = [];
          for (let i = 0; i < 5; i++) {
            const value = consumer.tryReceive();
            if (value !== undefined) rest.push(value);
          }
          return { rest, ended: consumer.ended };
        } catch (error) {
          return { error: (error as { code?: string }).code };
        }
      })();
      // Either the unread message was lost (counted) or delivered; the stream must end, not fail.
      expect(outcome).toEqual({ rest: expect.any(Array), ended: true });
    } finally {
      consumer.close();
      if (!producer.isClosed) producer.close();
    }
  });
});
