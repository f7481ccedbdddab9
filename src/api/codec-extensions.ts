/**
 * The MessagePack extension types of the default codec: what structured clone (postMessage) carries
 * beyond JSON, as themselves. Type numbers and payloads are part of the wire format, documented in
 * docs/protocol.md ("Extension types") so that other languages can decode them.
 *
 * Encoding of the types whose payload is itself MessagePack (Map, Set, RegExp, Error) happens inline in
 * the encoder (codec-encoder.ts), so nested values are checked and encoded in the same pass; this module
 * encodes the flat ones and decodes them all.
 */
import { Decoder, ExtData, ExtensionCodec } from '@msgpack/msgpack';
import type { ExtensionCodecType } from '@msgpack/msgpack';

import {
  EXT_ARRAY_BUFFER,
  EXT_BIGINT,
  EXT_DATA_VIEW,
  EXT_ERROR,
  EXT_MAP,
  EXT_REGEXP,
  EXT_SET,
  EXT_UNDEFINED,
  RESERVED_EXTENSION_TYPES,
  TYPED_ARRAY_EXTENSIONS,
  TypedArrayConstructor,
} from './codec-types';

export { EXT_ERROR, EXT_MAP, EXT_REGEXP, EXT_SET } from './codec-types';

/** Error classes an Error extension is decoded into, by `name`; any other name gives an Error with that name. */
const ERROR_CLASSES: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

const EMPTY = new Uint8Array(0);

/**
 * The default codec's extension codec. @msgpack/msgpack asks it about every object it cannot encode
 * natively; the encoder (codec-encoder.ts) only asks about objects that are not plain objects or arrays,
 * and handles Map, Set, RegExp and Error itself. `custom` (MessagePackCodecOptions.extensionCodec) is
 * asked first when encoding, and decodes every type outside 0x01..0x1f.
 */
export class StructuredExtensionCodec implements ExtensionCodecType<undefined> {
  private readonly typeOf = new Map<unknown, number>(TYPED_ARRAY_EXTENSIONS.map(([type, Ctor]) => [Ctor, type]));
  private readonly ctorOf = new Map<number, TypedArrayConstructor>(TYPED_ARRAY_EXTENSIONS.map(([type, Ctor]) => [type, Ctor]));
  /** Decoders for nested payloads, one per nesting level (a Decoder is not re-entrant). */
  private readonly nestedDecoders: Decoder[] = [];
  private nesting = 0;

  constructor(private readonly custom: ExtensionCodecType<undefined> | undefined) {}

  tryToEncode(object: unknown, context: undefined): ExtData | null {
    if (this.custom !== undefined) {
      const ext = this.custom.tryToEncode(object, context);
      if (ext !== null) return ext;
    }
    if (ArrayBuffer.isView(object)) {
      // Exact constructor match: a Uint8ClampedArray is not an Int8Array, and subclasses keep their type.
      const type = this.typeOf.get(object.constructor);
      if (type !== undefined) return new ExtData(type, bytesOf(object));
      if (object instanceof DataView) return new ExtData(EXT_DATA_VIEW, bytesOf(object));
      return null; // Uint8Array and Buffer: MessagePack bin
    }
    if (object instanceof ArrayBuffer) return new ExtData(EXT_ARRAY_BUFFER, new Uint8Array(object));
    return ExtensionCodec.defaultCodec.tryToEncode(object, context); // Date: the timestamp extension (-1)
  }

  /** The extension an `undefined` value is written as (no payload). */
  static readonly undefinedExtension = new ExtData(EXT_UNDEFINED, EMPTY);

  static bigintExtension(value: bigint): ExtData {
    return new ExtData(EXT_BIGINT, Buffer.from(value.toString(10), 'latin1'));
  }

  decode(data: Uint8Array, type: number, context: undefined): unknown {
    if (type < 0 || type > RESERVED_EXTENSION_TYPES) {
      return (this.custom ?? ExtensionCodec.defaultCodec).decode(data, type, context);
    }
    // `data` is this decoder's own copy (codec.ts copies every bin and ext payload), so views may keep it.
    switch (type) {
      case EXT_UNDEFINED:
        return undefined;
      case EXT_BIGINT:
        return decodeBigInt(data);
      case EXT_MAP: {
        const flat = this.decodeArray(data, 'Map');
        if (flat.length % 2 !== 0) throw new RangeError(`a Map extension holds an odd number (${flat.length}) of keys and values`);
        const map = new Map<unknown, unknown>();
        for (let i = 0; i < flat.length; i += 2) map.set(flat[i], flat[i + 1]);
        return map;
      }
      case EXT_SET:
        return new Set(this.decodeArray(data, 'Set'));
      case EXT_REGEXP: {
        const [source, flags] = this.decodeArray(data, 'RegExp');
        if (typeof source !== 'string' || typeof flags !== 'string') throw new RangeError('a RegExp extension must hold [source, flags] strings');
        return new RegExp(source, flags);
      }
      case EXT_ERROR:
        return this.decodeError(data);
      case EXT_DATA_VIEW:
        return new DataView(data.buffer, data.byteOffset, data.byteLength);
      case EXT_ARRAY_BUFFER:
        return data.buffer.byteLength === data.byteLength ? data.buffer : data.slice().buffer;
      default: {
        const Ctor = this.ctorOf.get(type);
        if (Ctor === undefined) throw new RangeError(`unknown shmring extension type ${type}`);
        if (data.byteLength % Ctor.BYTES_PER_ELEMENT !== 0) {
          throw new RangeError(`a ${Ctor.name} extension of ${data.byteLength} bytes is not a whole number of elements`);
        }
        // Copy: typed arrays need their element alignment, which a payload inside a message lacks.
        const copy = data.slice();
        return new Ctor(copy.buffer, 0, copy.byteLength / Ctor.BYTES_PER_ELEMENT);
      }
    }
  }

  private decodeNested(data: Uint8Array): unknown {
    const decoder = (this.nestedDecoders[this.nesting] ??= new Decoder({ extensionCodec: this }));
    this.nesting++;
    try {
      return decoder.decode(data);
    } finally {
      this.nesting--;
    }
  }

  private decodeArray(data: Uint8Array, what: string): unknown[] {
    const value = this.decodeNested(data);
    if (!Array.isArray(value)) throw new RangeError(`a ${what} extension must hold an array`);
    return value;
  }

  private decodeError(data: Uint8Array): Error {
    const fields = this.decodeNested(data) as Record<string, unknown> | null;
    if (fields === null || typeof fields !== 'object') throw new RangeError('an Error extension must hold a map');
    const name = typeof fields.name === 'string' ? fields.name : 'Error';
    const message = typeof fields.message === 'string' ? fields.message : '';
    const Ctor = Object.prototype.hasOwnProperty.call(ERROR_CLASSES, name) ? ERROR_CLASSES[name]! : Error;
    const error = 'cause' in fields ? new Ctor(message, { cause: fields.cause }) : new Ctor(message);
    if (error.name !== name) Object.defineProperty(error, 'name', { value: name, writable: true, configurable: true, enumerable: false });
    if (typeof fields.stack === 'string') Object.defineProperty(error, 'stack', { value: fields.stack, writable: true, configurable: true, enumerable: false });
    else delete (error as { stack?: string }).stack;
    return error;
  }
}

function decodeBigInt(data: Uint8Array): bigint {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  if (!/^-?[0-9]+$/.test(text)) throw new RangeError('a BigInt extension must hold decimal digits');
  return BigInt(text);
}
