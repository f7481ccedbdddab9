/**
 * Option validation shared by the public classes: misspelled keys and wrong types are TypeErrors, values
 * out of range are RangeErrors, each naming the option and the value, thrown before any syscall.
 */
import { invalidArgType, invalidArgValue, outOfRange, quote } from '../errors';

export function rejectUnknownKeys(what: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw invalidArgValue(`${what}: unknown option '${key}' (known options: ${known.join(', ')})`);
    }
  }
}

export function checkOptionsObject(what: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType(`${what}: options must be an object, got ${describe(options)}`);
  }
  return options as Record<string, unknown>;
}

export function integerOption(
  what: string,
  key: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalidArgType(`${what}: ${key} must be an integer, got ${describe(value)}`);
  }
  if (value < min || value > max) throw outOfRange(`${what}: ${key} must be in ${min}..${max}, got ${value}`);
  return value;
}

/** A duration in milliseconds: a finite number >= 0, or Infinity where `allowInfinity`. */
export function durationOption(what: string, key: string, value: unknown, fallback: number, allowInfinity = true): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (!allowInfinity && !Number.isFinite(value))) {
    // A RangeError either way (as before); the code says whether the type or the number was wrong.
    throw (typeof value === 'number' ? outOfRange : rangeOfWrongType)(`${what}: ${key} must be a number of milliseconds >= 0${allowInfinity ? ' or Infinity' : ''}, got ${describe(value)}`);
  }
  return value;
}

export function booleanOption(what: string, key: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgType(`${what}: ${key} must be a boolean, got ${describe(value)}`);
  return value;
}

export function choiceOption<T extends string>(what: string, key: string, value: unknown, fallback: T, choices: readonly T[]): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw invalidArgValue(`${what}: ${key} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${describe(value)}`, 'range');
  }
  return value as T;
}

function rangeOfWrongType(message: string): RangeError {
  const error = outOfRange(message);
  error.code = 'ERR_INVALID_ARG_TYPE';
  return error;
}


export function describe(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : `an object (${value.constructor?.name ?? 'Object'})`;
}

/** The { signal, timeout } options of the waiting calls (receive, sendAsync), checked. */
export function waitOptions(what: string, input: unknown): { signal: AbortSignal | undefined; timeout: number } {
  const options = checkOptionsObject(what, input);
  rejectUnknownKeys(what, options, ['signal', 'timeout']);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalidArgType(`${what}: signal must be an AbortSignal, got ${describe(options.signal)}`);
  }
  return {
    signal: options.signal as AbortSignal | undefined,
    timeout: durationOption(what, 'timeout', options.timeout, Infinity),
  };
}

