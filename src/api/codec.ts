/**
 * Message codecs. The default is MessagePack (@msgpack/msgpack) with extension types so that typed
 * arrays come back as the same typed array, and Dates (MessagePack's timestamp extension) as Dates.
 * A codec is pluggable: anything with encode/decode works, e.g. JSON or protobuf.
 */
import { Decoder, Encoder, ExtData, ExtensionCodec } from '@msgpack/msgpack';
import type { ExtensionCodecType } from '@msgpack/msgpack';

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

/**
 * The typed-array extensions as one extension codec. @msgpack/msgpack asks the extension codec about
 * every object it encodes; registering ten extensions would mean ten calls per object (the root object of
 * every message included). This asks one question (is it an ArrayBufferView of a type we map?) and
 * leaves everything else, Dates among them, to the library's default codec.
 */
class TypedArrayExtensionCodec implements ExtensionCodecType<undefined> {
  private readonly typeOf = new Map<unknown, number>(TYPED_ARRAY_EXTENSIONS.map(([type, Ctor]) => [Ctor, type]));
  private readonly ctorOf = new Map<number, TypedArrayConstructor>(TYPED_ARRAY_EXTENSIONS.map(([type, Ctor]) => [type, Ctor]));

  tryToEncode(object: unknown, context: undefined): ExtData | null {
    if (ArrayBuffer.isView(object)) {
      // Exact constructor match: a Uint8ClampedArray is not an Int8Array, and subclasses keep their type.
      const type = this.typeOf.get(object.constructor);
      if (type !== undefined) return new ExtData(type, new Uint8Array(object.buffer, object.byteOffset, object.byteLength));
    }
    return ExtensionCodec.defaultCodec.tryToEncode(object, context);
  }

  decode(data: Uint8Array, type: number, context: undefined): unknown {
    const Ctor = this.ctorOf.get(type);
    if (Ctor === undefined) return ExtensionCodec.defaultCodec.decode(data, type, context);
    if (data.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) {
      throw new RangeError(`a ${Ctor.name} extension of ${data.byteLength} bytes is not a whole number of elements`);
    }
    // Copy: `data` points into the message (unaligned, and reused after decode returns).
    const copy = data.slice();
    return new Ctor(copy.buffer, 0, copy.byteLength / Ctor.BYTES_PER_ELEMENT);
  }
}

export interface MessagePackCodecOptions {
  /**
   * Extension codec to use instead of the built-in typed-array one (Dates keep working: MessagePack's
   * timestamp extension is built into every ExtensionCodec). Default: typed arrays as TYPED_ARRAY_EXTENSIONS.
   */
  extensionCodec?: ExtensionCodecType<undefined>;
}

/** The default codec: MessagePack with typed-array and Date round trips. One encoder/decoder reused. */
export function createMessagePackCodec(options: MessagePackCodecOptions = {}): Codec {
  const extensionCodec = options.extensionCodec ?? new TypedArrayExtensionCodec();
  const encoder = new Encoder({ extensionCodec });
  const decoder = new CopyingDecoder({ extensionCodec });
  return {
    encode: (value) => encoder.encodeSharedRef(value),
    decode: copiesBinary
      ? (bytes) => decoder.decode(bytes)
      : // Fallback for a @msgpack/msgpack without decodeBinary: decode from a private copy (slower: a
        // fresh ArrayBuffer per message costs more than the decode of a small object).
        (bytes) => decoder.decode(bytes.slice()),
  };
}

/**
 * MessagePack decodes `bin` values as views into its input, which here is the ring (or a scratch buffer)
 * and is reused as soon as decode() returns. Copying each `bin` value as it is decoded lets us decode
 * straight from the ring, with no copy of the whole message. decodeBinary is @msgpack/msgpack's (v3)
 * internal method for `bin`; the codec test "keeps decoded binary valid after the ring slot is reused"
 * guards this.
 */
class CopyingDecoder extends Decoder {}
const decoderPrototype = Decoder.prototype as unknown as { decodeBinary?: (byteLength: number, headOffset: number) => Uint8Array };
const copiesBinary = typeof decoderPrototype.decodeBinary === 'function';
if (copiesBinary) {
  const decodeBinary = decoderPrototype.decodeBinary!;
  Object.defineProperty(CopyingDecoder.prototype, 'decodeBinary', {
    value: function (this: Decoder, byteLength: number, headOffset: number): Uint8Array {
      return decodeBinary.call(this, byteLength, headOffset).slice();
    },
  });
}

export { ExtensionCodec };
