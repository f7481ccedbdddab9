/**
 * Message codecs. The default is MessagePack (@msgpack/msgpack) with extension types so that typed
 * arrays come back as the same typed array, and Dates (MessagePack's timestamp extension) as Dates.
 * A codec is pluggable: anything with encode/decode works, e.g. JSON or protobuf.
 */
import { Decoder, Encoder, ExtensionCodec } from '@msgpack/msgpack';

export interface Codec {
  /** Encodes a value. The result may be a view that is only valid until the next encode() call. */
  encode(value: unknown): Uint8Array;
  /**
   * Decodes one message. `bytes` may be a view into the ring (or a scratch copy) that is reused after
   * this call returns: the decoded value must not keep references into it.
   */
  decode(bytes: Uint8Array): unknown;
}

type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/**
 * MessagePack extension type numbers used for typed arrays (application range 0..127). Part of the wire
 * format: documented in docs/protocol.md. Uint8Array is not here: MessagePack's own `bin` carries it.
 * Element bytes are little-endian (every Linux platform Node supports).
 */
export const TYPED_ARRAY_EXTENSIONS: ReadonlyArray<readonly [number, TypedArrayConstructor]> = [
  [0x11, Int8Array],
  [0x12, Uint8ClampedArray],
  [0x13, Int16Array],
  [0x14, Uint16Array],
  [0x15, Int32Array],
  [0x16, Uint32Array],
  [0x17, Float32Array],
  [0x18, Float64Array],
  [0x19, BigInt64Array],
  [0x1a, BigUint64Array],
];

function typedArrayExtensions(): ExtensionCodec {
  const codec = new ExtensionCodec();
  for (const [type, Ctor] of TYPED_ARRAY_EXTENSIONS) {
    codec.register({
      type,
      encode(input: unknown): Uint8Array | null {
        // Exact constructor match: a Uint8ClampedArray is not an Int8Array, and subclasses keep their type.
        if (input === null || typeof input !== 'object' || input.constructor !== Ctor) return null;
        const view = input as ArrayBufferView;
        return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      },
      decode(data: Uint8Array): unknown {
        if (data.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) {
          throw new RangeError(`a ${Ctor.name} extension of ${data.byteLength} bytes is not a whole number of elements`);
        }
        // Copy: `data` points into the message buffer (unaligned, and reused after decode returns).
        const copy = data.slice();
        return new Ctor(copy.buffer, 0, copy.byteLength / Ctor.BYTES_PER_ELEMENT);
      },
    });
  }
  return codec;
}

export interface MessagePackCodecOptions {
  /** Extra extension types (merged with the typed-array ones). Default: none. */
  extensionCodec?: ExtensionCodec;
}

/** The default codec: MessagePack with typed-array and Date round trips. One encoder/decoder reused. */
export function createMessagePackCodec(options: MessagePackCodecOptions = {}): Codec {
  const extensionCodec = options.extensionCodec ?? typedArrayExtensions();
  const encoder = new Encoder({ extensionCodec });
  const decoder = new Decoder({ extensionCodec });
  return {
    encode: (value) => encoder.encodeSharedRef(value),
    // `bin` values decode as views into the input: decode from a private copy so that they stay valid
    // after the ring slot is reused. The copy is a few nanoseconds against microseconds of decoding.
    decode: (bytes) => decoder.decode(bytes.slice()),
  };
}

export { ExtensionCodec };
