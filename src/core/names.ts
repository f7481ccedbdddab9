/**
 * The rule for a segment name, in one place, with no native code: the library (core/segment.ts) and the
 * command (ring/snapshot.ts normalizeName) both apply it, so both state the same limit the same way.
 */

/** Longest segment name, in bytes, including the leading '/' (NAME_MAX). */
export const MAX_SEGMENT_NAME_BYTES = 255;

/** Throws TypeError unless `name` is a valid POSIX shared-memory name. */
export function validateSegmentName(name: unknown): asserts name is string {
  if (typeof name !== 'string') {
    throw new TypeError(`segment name must be a string, got ${typeof name}`);
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (!name.startsWith('/') || name.indexOf('/', 1) !== -1 || bytes < 2 || bytes > MAX_SEGMENT_NAME_BYTES ||
      name.includes('\0') || name === '/.' || name === '/..') {
    throw new TypeError(
      `segment name must be '/' followed by 1..${MAX_SEGMENT_NAME_BYTES - 1} bytes with no other '/' or NUL, ` +
        `got ${JSON.stringify(name)}`,
    );
  }
}

