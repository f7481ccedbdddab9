/**
 * The default codec's encoder: @msgpack/msgpack's Encoder, taught the values structured clone carries
 * (undefined, BigInt, Map, Set, RegExp, Error; typed arrays, DataView, ArrayBuffer and Date through the
 * extension codec) and to refuse everything else with a coded error, in the one pass that encodes.
 *
 * Nothing is written to a ring until encode() returns, so a refused value leaves no trace. The path of
 * the refused value (`a.b[3]`) is found only after the refusal (codec-path.ts): the fast path keeps no
 * path.
 *
 * Encoder's methods are private in its TypeScript declarations, so they are replaced on a subclass's
 * prototype, as codec.ts does for the decoder; the codec tests guard it against a library upgrade.
 */
import { Encoder, ExtData } from '@msgpack/msgpack';
import type { ExtensionCodecType } from '@msgpack/msgpack';
import { EXT_ERROR, EXT_MAP, EXT_REGEXP, EXT_SET, StructuredExtensionCodec } from './codec-extensions';

import { MAX_ENCODE_DEPTH } from './codec-types';

/** Thrown inside the encoder for a value it refuses; codec.ts turns it into UNSUPPORTED_VALUE with a path. */
export class Refused {
  constructor(readonly value: unknown, readonly why: string) {}
}

/** Thrown inside the encoder past MAX_ENCODE_DEPTH; codec.ts turns it into TOO_DEEP. */
export class TooDeep {}

/** The parts of Encoder's (private) interface used here. */
interface EncoderInternals {
  pos: number;
  view: DataView;
  extensionCodec: ExtensionCodecType<undefined>;
  context: undefined;
  doEncode(object: unknown, depth: number): void;
  encodeObject(object: unknown, depth: number): void;
  encodeArray(object: unknown[], depth: number): void;
  encodeMap(object: Record<string, unknown>, depth: number): void;
  encodeString(object: string): void;
  encodeExtension(ext: ExtData): void;
  ensureBufferSizeToWrite(size: number): void;
}

export class StructuredEncoder extends Encoder {
  constructor(extensionCodec: ExtensionCodecType<undefined>) {
    // The depth check is ours (doEncode below), with a coded error; the library's would be plain.
    super({ extensionCodec, maxDepth: Number.MAX_SAFE_INTEGER });
  }
}

/** Objects structured clone refuses, and what to call them. */
function refusedObjectKind(object: object): string | undefined {
  if (object instanceof Promise) return 'a Promise';
  if (object instanceof WeakMap) return 'a WeakMap';
  if (object instanceof WeakSet) return 'a WeakSet';
  if (object instanceof WeakRef) return 'a WeakRef';
  if (object instanceof SharedArrayBuffer) return 'a SharedArrayBuffer (its memory cannot be shared through a ring)';
  if (object instanceof Number || object instanceof String || object instanceof Boolean) {
    return 'a boxed primitive (send the primitive itself)';
  }
  return undefined;
}

const encoderPrototype = Encoder.prototype as unknown as EncoderInternals;
const baseDoEncode = encoderPrototype.doEncode;
const baseEncodeObject = encoderPrototype.encodeObject;

/** Writes an ext 32 header (0xc9, u32 length, i8 type) around what `writeBody` encodes, patching the length in. */
function encodeNested(encoder: EncoderInternals, type: number, writeBody: () => void): void {
  encoder.ensureBufferSizeToWrite(6);
  const headerAt = encoder.pos;
  encoder.pos += 6;
  writeBody();
  // The buffer may have grown during writeBody: use the encoder's current view.
  const view = encoder.view;
  view.setUint8(headerAt, 0xc9);
  view.setUint32(headerAt + 1, encoder.pos - headerAt - 6);
  view.setInt8(headerAt + 5, type);
}

function writeArrayHeader(encoder: EncoderInternals, size: number): void {
  encoder.ensureBufferSizeToWrite(5);
  const view = encoder.view;
  if (size < 16) {
    view.setUint8(encoder.pos++, 0x90 + size);
  } else if (size < 0x10000) {
    view.setUint8(encoder.pos, 0xdc);
    view.setUint16(encoder.pos + 1, size);
    encoder.pos += 3;
  } else {
    view.setUint8(encoder.pos, 0xdd);
    view.setUint32(encoder.pos + 1, size);
    encoder.pos += 5;
  }
}

Object.defineProperty(StructuredEncoder.prototype, 'doEncode', {
  value: function doEncode(this: EncoderInternals, object: unknown, depth: number): void {
    if (depth > MAX_ENCODE_DEPTH) throw new TooDeep();
    switch (typeof object) {
      case 'undefined':
        this.encodeExtension(StructuredExtensionCodec.undefinedExtension);
        return;
      case 'bigint':
        this.encodeExtension(StructuredExtensionCodec.bigintExtension(object));
        return;
      case 'function':
        throw new Refused(object, `a function (${(object as { name?: string }).name || 'anonymous'})`);
      case 'symbol':
        throw new Refused(object, `a symbol (${String(object)})`);
      default:
        baseDoEncode.call(this, object, depth);
    }
  },
});

Object.defineProperty(StructuredEncoder.prototype, 'encodeObject', {
  value: function encodeObject(this: EncoderInternals, object: object, depth: number): void {
    // The common case first, without asking the extension codec: plain objects and arrays.
    const ctor = object.constructor;
    if (ctor === Object) return this.encodeMap(object as Record<string, unknown>, depth);
    if (ctor === Array) return this.encodeArray(object as unknown[], depth);
    const ext = this.extensionCodec.tryToEncode(object, this.context);
    if (ext !== null) return this.encodeExtension(ext);
    if (object instanceof Map) {
      return encodeNested(this, EXT_MAP, () => {
        writeArrayHeader(this, object.size * 2);
        for (const [key, value] of object) {
          this.doEncode(key, depth + 1);
          this.doEncode(value, depth + 1);
        }
      });
    }
    if (object instanceof Set) {
      return encodeNested(this, EXT_SET, () => {
        writeArrayHeader(this, object.size);
        for (const value of object) this.doEncode(value, depth + 1);
      });
    }
    if (object instanceof RegExp) {
      return encodeNested(this, EXT_REGEXP, () => {
        writeArrayHeader(this, 2);
        this.encodeString(object.source);
        this.encodeString(object.flags);
      });
    }
    if (object instanceof Error) return encodeError(this, object, depth);
    const refused = refusedObjectKind(object);
    if (refused !== undefined) throw new Refused(object, refused);
    // Arrays of other realms or subclasses, typed arrays (bin) and other objects (their own enumerable
    // properties, as structured clone copies a class instance) go the library's way.
    baseEncodeObject.call(this, object, depth);
  },
});

/** An Error as a map of name, message, stack (when a string) and cause (when present). */
function encodeError(encoder: EncoderInternals, error: Error, depth: number): void {
  encodeNested(encoder, EXT_ERROR, () => {
    const fields: Record<string, unknown> = { name: String(error.name), message: String(error.message) };
    if (typeof error.stack === 'string') fields.stack = error.stack;
    if ('cause' in error) fields.cause = error.cause;
    encoder.encodeMap(fields, depth);
  });
}
