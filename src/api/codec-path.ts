/**
 * Where in a message a refused value sits, as a JavaScript-like path (`a.b[3]`, `m.get("k")`), found
 * after the encoder refused it, so that encoding itself keeps no path. Walks the same children the
 * encoder does: array items, own enumerable string keys, Map keys and values, Set items, Error causes.
 */

/** Longest path segment quoted in a message. */
const MAX_KEY_LENGTH = 40;

function keySegment(key: string): string {
  if (/^[A-Za-z_$][\w$]*$/.test(key) && key.length <= MAX_KEY_LENGTH) return `.${key}`;
  const shown = key.length > MAX_KEY_LENGTH ? `${key.slice(0, MAX_KEY_LENGTH)}...` : key;
  return `[${JSON.stringify(shown)}]`;
}

function describeKey(key: unknown): string {
  if (typeof key === 'string') return JSON.stringify(key.length > MAX_KEY_LENGTH ? `${key.slice(0, MAX_KEY_LENGTH)}...` : key);
  if (typeof key === 'number' || typeof key === 'boolean' || key === null || key === undefined) return String(key);
  if (typeof key === 'bigint') return `${key}n`;
  return `<${Array.isArray(key) ? 'array' : typeof key}>`;
}

function children(value: unknown): Array<[string, unknown]> {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date) return [];
  if (Array.isArray(value)) return value.map((item, index) => [`[${index}]`, item]);
  if (value instanceof Map) {
    const result: Array<[string, unknown]> = [];
    let index = 0;
    for (const [key, item] of value) {
      result.push([`.<key ${index}>`, key], [`.get(${describeKey(key)})`, item]);
      index++;
    }
    return result;
  }
  if (value instanceof Set) return [...value].map((item, index) => [`.<item ${index}>`, item]);
  if (value instanceof Error) return 'cause' in value ? [['.cause', value.cause]] : [];
  return Object.keys(value).map((key) => [keySegment(key), (value as Record<string, unknown>)[key]]);
}

/** The path from the message root (`value`) to `target`, or undefined when it is not found. */
export function pathTo(root: unknown, target: unknown, maxDepth: number): string | undefined {
  const seen = new Set<unknown>();
  const search = (value: unknown, path: string, depth: number): string | undefined => {
    if (Object.is(value, target)) return path;
    if (depth > maxDepth || value === null || typeof value !== 'object' || seen.has(value)) return undefined;
    seen.add(value);
    for (const [segment, child] of children(value)) {
      const found = search(child, path + segment, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return search(root, '', 0);
}

/**
 * Why a message nests too deep: the first cycle (a path and the ancestor it refers back to), or else
 * the path at which it passes `maxDepth`.
 */
export function explainDepth(root: unknown, maxDepth: number): { path: string; cycleTo?: string } {
  const ancestors = new Map<unknown, string>();
  const search = (value: unknown, path: string, depth: number): { path: string; cycleTo?: string } | undefined => {
    if (value === null || typeof value !== 'object') return undefined;
    const earlier = ancestors.get(value);
    if (earlier !== undefined) return { path, cycleTo: earlier };
    if (depth >= maxDepth) return { path };
    ancestors.set(value, path);
    for (const [segment, child] of children(value)) {
      const found = search(child, path + segment, depth + 1);
      if (found !== undefined) return found;
    }
    ancestors.delete(value);
    return undefined;
  };
  return search(root, '', 0) ?? { path: '' };
}

/** A path for a message: `(root)` for the value itself, without the leading dot otherwise. */
export function displayPath(path: string): string {
  if (path === '') return '(the message itself)';
  return path.startsWith('.') ? path.slice(1) : path;
}
