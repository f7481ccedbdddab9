/**
 * The rule for a segment name, in one place, with no native code: the library (core/segment.ts) and the
 * command (ring/snapshot.ts normalizeName) both apply it, so both state the same limit the same way.
 */
import { invalidArgType, invalidArgValue, quote } from '../errors';

/** Longest segment name, in bytes, including the leading '/' (NAME_MAX). */
export const MAX_SEGMENT_NAME_BYTES = 255;

/**
 * Throws unless `name` is a valid POSIX shared-memory name: a TypeError with code ERR_INVALID_ARG_TYPE
 * for a non-string, ERR_INVALID_ARG_VALUE naming the rule broken otherwise (the name quoted, cut if long).
 */
export function validateSegmentName(name: unknown): asserts name is string {
  if (typeof name !== 'string') {
    throw invalidArgType(`segment name must be a string, got ${name === null ? 'null' : typeof name}`);
  }
  const rule = brokenNameRule(name);
  if (rule !== undefined) {
    throw invalidArgValue(`segment name ${rule}, got ${quote(name)} (a name is '/' followed by 1..${MAX_SEGMENT_NAME_BYTES - 1} bytes, no other '/', no NUL)`);
  }
}

/** Which rule of shm_open names `name` breaks, or undefined. */
function brokenNameRule(name: string): string | undefined {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (!name.startsWith('/')) return "must start with '/'";
  if (bytes < 2) return "must have at least one byte after the '/'";
  if (bytes > MAX_SEGMENT_NAME_BYTES) return `must be at most ${MAX_SEGMENT_NAME_BYTES} bytes long including the '/' (this one has ${bytes})`;
  if (name.indexOf('/', 1) !== -1) return "must not contain a '/' after the first character";
  if (name.includes('\0')) return 'must not contain a NUL character';
  if (name === '/.' || name === '/..') return "must not be '/.' or '/..'";
  return undefined;
}

