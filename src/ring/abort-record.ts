/**
 * The payload of an ABORT record: UTF-8 JSON `{ "message": string, "code"?: string }`, at most 4 KiB
 * (docs/protocol.md, "Records"). Written by the producer's abort(); read from shared memory by consumers,
 * so decoding accepts anything and never throws.
 */

export const MAX_ABORT_PAYLOAD_LENGTH = 4096;

export interface AbortReason {
  message: string;
  code?: string;
}

/** Encodes a reason, the message cut until it fits `maxLength` (and 4 KiB). */
export function encodeAbortReason(reason: AbortReason, maxLength: number): Uint8Array {
  const limit = Math.min(maxLength, MAX_ABORT_PAYLOAD_LENGTH);
  const code = reason.code?.slice(0, 64);
  let text = reason.message;
  for (;;) {
    const bytes = Buffer.from(JSON.stringify(code === undefined ? { message: text } : { message: text, code }), 'utf8');
    if (bytes.length <= limit) return bytes;
    if (text.length === 0) return new Uint8Array(0);
    text = text.slice(0, Math.floor(text.length / 2));
  }
}

/** Decodes a payload read from the ring; a payload that is not the expected JSON gives an unknown reason. */
export function decodeAbortReason(payload: Uint8Array): AbortReason {
  const reason: AbortReason = { message: 'no reason given' };
  try {
    const parsed = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8')) as unknown;
    if (parsed !== null && typeof parsed === 'object') {
      const fields = parsed as { message?: unknown; code?: unknown };
      if (typeof fields.message === 'string') reason.message = fields.message.slice(0, MAX_ABORT_PAYLOAD_LENGTH);
      if (typeof fields.code === 'string') reason.code = fields.code.slice(0, 64);
    }
  } catch {
    // Not JSON: the stream still ends with an error, for a reason we cannot tell.
  }
  return reason;
}
