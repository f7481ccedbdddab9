/** cork()/uncork(): batches of messages published with one store, never held back when the ring fills. */
import { Consumer, Producer } from '../../src';
import { removeSegment, uniqueName } from '../support/names';

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanup.reverse()) fn();
  cleanup = [];
});

function pair(capacity: number): { producer: Producer; consumer: Consumer } {
  const name = uniqueName('cork');
  const producer = Producer.create(name, { capacity });
  const consumer = Consumer.open(name);
  cleanup.push(() => {
    consumer.close();
    producer.close();
    removeSegment(name);
  });
  return { producer, consumer };
}

describe('cork and uncork', () => {
  it('makes a corked batch visible only at the last uncork, in order', () => {
    const { producer, consumer } = pair(65536);
    producer.cork();
    producer.cork();
    for (let i = 0; i < 10; i++) expect(producer.send(i)).toBe(true);
    expect(consumer.tryReceive()).toBeUndefined();
    producer.uncork();
    expect(consumer.tryReceive()).toBeUndefined(); // still corked once
    producer.uncork();
    const got: unknown[] = [];
    consumer.drain((v) => got.push(v));
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    producer.uncork(); // extra uncork: harmless
  });

  it('publishes by itself once a quarter of the ring is pending', () => {
    const { producer, consumer } = pair(4096);
    producer.cork();
    let sent = 0;
    while (consumer.tryReceiveBytes() === undefined) {
      expect(producer.sendBytes(new Uint8Array(48))).toBe(true);
      sent++;
      expect(sent).toBeLessThan(64);
    }
    expect(sent * 64).toBeGreaterThanOrEqual(1024);
    producer.uncork();
  });

  it('never holds back a batch when the ring is full, so consumers can free space', () => {
    const { producer, consumer } = pair(4096);
    producer.cork();
    let sent = 0;
    while (producer.sendBytes(new Uint8Array(100))) sent++;
    let received = 0;
    while (consumer.tryReceiveBytes() !== undefined) received++;
    expect(received).toBe(sent);
    expect(producer.sendBytes(new Uint8Array(100))).toBe(true);
    producer.close(); // publishes the pending message, then END
    expect(consumer.tryReceiveBytes()?.length).toBe(100);
    expect(consumer.tryReceiveBytes()).toBeUndefined();
    expect(consumer.ended).toBe(true);
  });
});
