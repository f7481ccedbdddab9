/**
 * The wire-format numbers of the default codec's MessagePack extension types (docs/protocol.md,
 * "Extension types"), and the shape of a custom extension codec, kept free of @msgpack/msgpack's own
 * declarations: those name DOM types (BufferSource) that a Node-only project's `lib` does not have.
 */

/** Deepest nesting encoded (objects in objects); deeper, or a cycle, is TOO_DEEP. */
export const MAX_ENCODE_DEPTH = 100;

/** Extension type numbers (MessagePack's application range is 0..127; shmring uses 0x01..0x1f). */
export const EXT_UNDEFINED = 0x01;
export const EXT_BIGINT = 0x02;
export const EXT_MAP = 0x03;
export const EXT_SET = 0x04;
export const EXT_REGEXP = 0x05;
export const EXT_ERROR = 0x06;
export const EXT_DATA_VIEW = 0x07;
export const EXT_ARRAY_BUFFER = 0x08;
/** Types 0x01..0x1f are shmring's: a custom extension codec must use 0x20..0x7f. */
export const RESERVED_EXTENSION_TYPES = 0x1f;

export type TypedArrayConstructor =
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
 * MessagePack extension type numbers used for typed arrays. Part of the wire format: documented in
 * docs/protocol.md. Uint8Array is not here: MessagePack's own `bin` carries it. Element bytes are
 * little-endian (every Linux platform Node supports).
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

/** What an extension codec returns for a value it encodes (@msgpack/msgpack's ExtData has this shape). */
export interface ExtensionData {
  readonly type: number;
  readonly data: Uint8Array | ((pos: number) => Uint8Array);
}

/** A MessagePack extension codec (e.g. @msgpack/msgpack's ExtensionCodec), for MessagePackCodecOptions. */
export interface ExtensionCodecLike {
  tryToEncode(object: unknown, context: undefined): ExtensionData | null;
  decode(data: Uint8Array, extensionType: number, context: undefined): unknown;
}

/** @msgpack/msgpack's ExtensionCodec, as far as registering your own types goes. */
export interface ExtensionCodecConstructor {
  new (): ExtensionCodecLike & {
    register(extension: {
      type: number;
      encode: (input: unknown, context: undefined) => Uint8Array | ((pos: number) => Uint8Array) | null;
      decode: (data: Uint8Array, extensionType: number, context: undefined) => unknown;
    }): void;
  };
}
