/**
 * The reason an ABORT record carries (src/ring/abort-record.ts, docs/protocol.md "Records"), written
 * against mutants of abort-record.ts that the in-process suite did not notice (docs/testing.md, "Mutation
 * testing"): what a producer's abort(reason) puts in the record (JSON, at most maxMessageLength and 4 KiB,
 * the message cut until it fits, the code cut to 64 characters) and what a consumer makes of any payload
 * (never a throw; a payload that is not that JSON is "no reason given").
 */
import { Consumer, Producer, ShmRingError } from '../../src';
import { decodeAbortReason, encodeAbortReason, MAX_ABORT_PAYLOAD_LENGTH } from '../../src/ring/abort-record';
import { trackRings } from '../support/teardown';

const { ringName, track } = trackRings();

const utf8 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'));
const json = (bytes: Uint8Array): unknown => JSON.parse(Buffer.from(bytes).toString('utf8'));

describe('encoding a reason', () => {
  it('keeps a message and a code that fit whole, to the byte', () => {
    const reason = { message: 'x'.repeat(100), code: 'EDISK' };
    const whole = JSON.stringify(reason).length;
    const bytes = encodeAbortReason(reason, whole);
    expect(bytes.length).toBe(whole);
    expect(json(bytes)).toEqual(reason);
    // No code: no code key.
    expect(json(encodeAbortReason({ message: 'gone' }, 100))).toEqual({ message: 'gone' });
  });

  it('cuts the message, from its end, until the JSON fits maxLength', () => {
    const message = Array.from({ length: 200 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const bytes = encodeAbortReason({ message, code: 'E' }, 120);
    expect(bytes.length).toBeLessThanOrEqual(120);
    const decoded = json(bytes) as { message: string; code: string };
    expect(decoded.code).toBe('E');
    expect(decoded.message.length).toBeGreaterThan(0);
    expect(message.startsWith(decoded.message)).toBe(true);
  });

  it('never exceeds 4 KiB, whatever maxLength allows', () => {
    const bytes = encodeAbortReason({ message: 'y'.repeat(3 * MAX_ABORT_PAYLOAD_LENGTH) }, 1 << 20);
    expect(bytes.length).toBeLessThanOrEqual(MAX_ABORT_PAYLOAD_LENGTH);
    expect((json(bytes) as { message: string }).message.length).toBeGreaterThan(MAX_ABORT_PAYLOAD_LENGTH / 4);
  });

  it('cuts the code to 64 characters', () => {
    const code = 'C'.repeat(100);
    expect(json(encodeAbortReason({ message: 'm', code }, 1000))).toEqual({ message: 'm', code: 'C'.repeat(64) });
  });

  it('gives an empty payload when not even an empty message fits', () => {
    expect(encodeAbortReason({ message: 'a long enough message', code: 'EDISK' }, 10)).toEqual(new Uint8Array(0));
  });
});

describe('decoding a payload read from the ring', () => {
  it('reads the message and the code of the JSON', () => {
    expect(decodeAbortReason(utf8('{"message":"disk full","code":"ENOSPC"}'))).toEqual({ message: 'disk full', code: 'ENOSPC' });
    expect(decodeAbortReason(utf8('{"message":"disk full"}'))).toEqual({ message: 'disk full' });
  });

  it('keeps the code when the message is missing or not a string', () => {
    expect(decodeAbortReason(utf8('{"code":"ENOSPC"}'))).toEqual({ message: 'no reason given', code: 'ENOSPC' });
    expect(decodeAbortReason(utf8('{"message":42,"code":"ENOSPC"}'))).toEqual({ message: 'no reason given', code: 'ENOSPC' });
  });

  it('reads a payload that is a view into a larger buffer (as the ring hands it out)', () => {
    const ring = utf8('garbage{"message":"inside"}garbage');
    expect(decodeAbortReason(ring.subarray(7, 7 + '{"message":"inside"}'.length))).toEqual({ message: 'inside' });
  });

  it.each([
    ['empty', ''],
    ['not JSON', '{"message":'],
    ['null', 'null'],
    ['a string', '"disk full"'],
    ['a number', '42'],
    ['a message that is not a string', '{"message":42}'],
  ])('gives "no reason given" for a payload that is %s, without throwing', (_label, text) => {
    expect(decodeAbortReason(utf8(text))).toEqual({ message: 'no reason given' });
  });

  it('ignores a code that is not a string, and cuts a long message to 4 KiB and a long code to 64 characters', () => {
    expect(decodeAbortReason(utf8('{"message":"m","code":7}'))).toEqual({ message: 'm' });
    expect(decodeAbortReason(utf8('{"message":"m","code":["E","F"]}'))).toEqual({ message: 'm' });
    const long = JSON.stringify({ message: 'z'.repeat(MAX_ABORT_PAYLOAD_LENGTH + 10), code: 'K'.repeat(70) });
    expect(decodeAbortReason(utf8(long))).toEqual({ message: 'z'.repeat(MAX_ABORT_PAYLOAD_LENGTH), code: 'K'.repeat(64) });
  });
});

describe('through a ring', () => {
  it("a consumer's PRODUCER_ABORTED names the reason and its code, cut to fit a small maxMessageLength", () => {
    const name = ringName('abort-reason');
    const producer = track(Producer.create(name, { capacity: 4096, maxMessageLength: 100 }));
    const consumer = track(Consumer.open(name));
    producer.abort(Object.assign(new Error('q'.repeat(500)), { code: 'EFAULTY' }));
    let error: unknown;
    try {
      consumer.tryReceiveBytes();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ShmRingError);
    expect((error as ShmRingError).code).toBe('PRODUCER_ABORTED');
    expect((error as Error).message).toMatch(/aborted: q+ \(EFAULTY\)$/);
  });
});
