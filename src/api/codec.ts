/**
 * Message codecs. The default is MessagePack (@msgpack/msgpack) carrying what structured clone
 * (postMessage) carries, as themselves: plain objects and arrays, Map, Set, BigInt, Date, RegExp, typed
 * arrays, DataView, ArrayBuffer, Error (name, message, stack, cause) and undefined, through the extension
 * types of codec-extensions.ts. Anything else (functions, symbols, Promises, ...) is refused before
 * anything is written: UNSUPPORTED_VALUE naming where it sits, TOO_DEEP for cycles and deep nesting.
 * A codec is pluggable: anything with encode/decode works, e.g. JSON or protobuf.
 */
import { Decoder, ExtensionCodec as MessagePackExtensionCodec } from '@msgpack/msgpack';
import type { ExtensionCodecType } from '@msgpack/msgpack';
import type { ExtensionCodecConstructor, ExtensionCodecLike } from './codec-types';
import { ShmRingError } from '../errors';
import { StructuredExtensionCodec } from './codec-extensions';
import { Refused, StructuredEncoder, TooDeep } from './codec-encoder';
import { MAX_ENCODE_DEPTH } from './codec-types';
import { displayPath, explainDepth, pathTo } from './codec-path';

export { TYPED_ARRAY_EXTENSIONS } from './codec-types';
export type { ExtensionCodecLike, ExtensionCodecConstructor, ExtensionData } from './codec-types';
export { MAX_ENCODE_DEPTH } from './codec-types';

export interface Codec {
  /** Encodes a value. The result may be a view that is only valid until the next encode() call. */
  encode(value: unknown): Uint8Array;
  /**
   * Decodes one message. `bytes` may be a view into the ring (or a scratch copy) that is reused after
   * this call returns: the decoded value must not keep references into it (custom MessagePack extension
   * decoders must copy the data they keep).
   */
  decode(bytes: Uint8Array): unknown;
}

export interface MessagePackCodecOptions {
  /**
   * An extension codec for your own types, asked before the built-in ones when encoding an object that
   * is not a plain object or array, and decoding every extension type outside shmring's 0x01..0x1f
   * (use 0x20..0x7f). Default: none (the built-in types of docs/protocol.md only).
   */
  extensionCodec?: ExtensionCodecLike;
}

/**
 * @internal The default codec's decoder of a message where it lies (`bytes[offset .. offset + length)`),
 * for the consumer: no view per message. Not part of Codec: other codecs are given a view (decode()).
 */
export const DECODE_RANGE: unique symbol = Symbol('shmring.decodeRange');
export type RangeDecoder = (bytes: Uint8Array, offset: number, length: number) => unknown;

/** The range decoder of `codec`, when it has one (the default codec does). */
export function rangeDecoderOf(codec: Codec): RangeDecoder | undefined {
  const decodeRange = (codec as { [DECODE_RANGE]?: RangeDecoder })[DECODE_RANGE];
  return typeof decodeRange === 'function' ? decodeRange : undefined;
}

/** The default codec: MessagePack with the structured-clone types. One encoder/decoder reused. */
export function createMessagePackCodec(options: MessagePackCodecOptions = {}): Codec {
  const extensionCodec = new StructuredExtensionCodec(options.extensionCodec as ExtensionCodecType<undefined> | undefined);
  const encoder = new StructuredEncoder(extensionCodec);
  const decoder = new CopyingDecoder({ extensionCodec });
  const codec: Codec = {
    encode: (value) => {
      try {
        return encoder.encodeSharedRef(value);
      } catch (error) {
        throw codecError(value, error);
      }
    },
    decode: copiesBinary
      ? (bytes) => decoder.decode(bytes)
      : // Fallback for a @msgpack/msgpack without decodeBinary: decode from a private copy (slower: a
        // fresh ArrayBuffer per message costs more than the decode of a small object).
        (bytes) => decoder.decode(bytes.slice()),
  };
  if (decodesInPlace) {
    Object.defineProperty(codec, DECODE_RANGE, { value: (bytes: Uint8Array, offset: number, length: number) => decoder.decodeRange(bytes, offset, length) });
  }
  return codec;
}

/** The coded error for a value the encoder refused (the path is looked for only now, off the fast path). */
function codecError(message: unknown, error: unknown): unknown {
  if (error instanceof Refused) {
    const path = displayPath(pathTo(message, error.value, MAX_ENCODE_DEPTH) ?? '?');
    return new ShmRingError('UNSUPPORTED_VALUE', `cannot send ${error.why} at ${path}: the codec carries what structured clone carries`, {
      hint:
        'Send plain data: objects, arrays, strings, numbers, booleans, null, undefined, BigInt, Date, RegExp, ' +
        'Map, Set, Error, typed arrays, DataView, ArrayBuffer (see "Values" in docs/api.md); convert the rest first.',
    });
  }
  if (error instanceof TooDeep) {
    const { path, cycleTo } = explainDepth(message, MAX_ENCODE_DEPTH);
    const where = cycleTo !== undefined
      ? `${displayPath(path)} refers back to ${displayPath(cycleTo)} (a cycle)`
      : `it nests deeper than ${MAX_ENCODE_DEPTH} levels at ${displayPath(path)}`;
    return new ShmRingError('TOO_DEEP', `cannot send the message: ${where}`, {
      hint: cycleTo !== undefined
        ? 'A message is a tree: break the cycle (e.g. send ids instead of references).'
        : `Flatten the message; at most ${MAX_ENCODE_DEPTH} levels of nesting are encoded.`,
    });
  }
  return error;
}

/**
 * MessagePack decodes `bin` values as views into its input, which here is the ring (or a scratch buffer)
 * and is reused as soon as decode() returns. Copying each `bin` value as it is decoded lets us decode
 * straight from the ring, with no copy of the whole message. decodeBinary is @msgpack/msgpack's (v3)
 * internal method for `bin`; the codec test "keeps decoded binary valid after the ring slot is reused"
 * guards this.
 */
class CopyingDecoder extends Decoder {
  /** The buffer decodeRange last decoded from, and one DataView over all of it (a ring's data region). */
  private rangeBytes: Uint8Array | undefined;
  private rangeView: DataView | undefined;

  /**
   * Decodes the one value at `bytes[offset .. offset + length)` as decode() would decode that view, but
   * with one DataView per buffer rather than a view and a DataView per message. A value that ends
   * anywhere but at offset + length is refused, as decode() refuses extra or missing bytes (reading past
   * the end stays within `bytes`; bin and ext data are copied, see decodeBinary).
   */
  decodeRange(bytes: Uint8Array, offset: number, length: number): unknown {
    const self = this as unknown as DecoderInternals;
    // Re-entered (an extension decoder decoding with this decoder): the library's own path clones.
    if (self.entered) return this.decode(bytes.subarray(offset, offset + length));
    if (bytes !== this.rangeBytes || this.rangeView === undefined) {
      this.rangeBytes = bytes;
      this.rangeView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    const end = offset + length;
    try {
      self.entered = true;
      self.reinitializeState();
      self.bytes = bytes;
      self.view = this.rangeView;
      self.pos = offset;
      const value = self.doDecodeSync();
      if (self.pos !== end) {
        throw new RangeError(
          self.pos < end
            ? `Extra ${end - self.pos} of ${length} byte(s) found at buffer[${self.pos - offset}]`
            : `Insufficient data: the value needs more than the message's ${length} byte(s)`,
        );
      }
      return value;
    } finally {
      self.entered = false;
    }
  }
}
/** The parts of Decoder's (private) interface decodeRange uses. */
interface DecoderInternals {
  entered: boolean;
  bytes: Uint8Array;
  view: DataView;
  pos: number;
  reinitializeState(): void;
  doDecodeSync(): unknown;
}
const decoderPrototype = Decoder.prototype as unknown as { decodeBinary?: (byteLength: number, headOffset: number) => Uint8Array } & Partial<DecoderInternals>;
const copiesBinary = typeof decoderPrototype.decodeBinary === 'function';
/** Whether this @msgpack/msgpack has the internals decodeRange relies on (the codec tests guard it). */
const decodesInPlace = copiesBinary && typeof decoderPrototype.doDecodeSync === 'function' && typeof decoderPrototype.reinitializeState === 'function';
if (copiesBinary) {
  const decodeBinary = decoderPrototype.decodeBinary!;
  Object.defineProperty(CopyingDecoder.prototype, 'decodeBinary', {
    value: function (this: Decoder, byteLength: number, headOffset: number): Uint8Array {
      return decodeBinary.call(this, byteLength, headOffset).slice();
    },
  });
}

/** @msgpack/msgpack's ExtensionCodec, for MessagePackCodecOptions.extensionCodec. */
export const ExtensionCodec: ExtensionCodecConstructor = MessagePackExtensionCodec as unknown as ExtensionCodecConstructor;
