// The layers of src/ (docs/architecture.md): each imports only from the layers below it, and no module
// imports itself back through a cycle. Read from the source text, so a new file is covered the day it lands.
import * as fs from 'fs';
import * as path from 'path';

const SRC = path.join(__dirname, '..', 'src');

/** Lower number = lower layer. errors.ts is at the bottom, used by all; index.ts is the API's front door. */
const LAYERS: Array<[prefix: string, rank: number]> = [
  ['errors.ts', 0],
  ['core/', 1],
  ['ring/', 2],
  ['api/', 3],
  ['index.ts', 3],
  ['integrations/', 4],
  ['cli/', 5],
];

function rankOf(file: string): number {
  const rel = path.relative(SRC, file).split(path.sep).join('/');
  for (const [prefix, rank] of LAYERS) if (rel === prefix || rel.startsWith(prefix)) return rank;
  throw new Error(`src/${rel} is in no layer: add its folder to LAYERS and to docs/architecture.md`);
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Relative imports of a file (static, dynamic and require), resolved to files. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from\s+|require\(\s*|import\(\s*)['"](\.[^'"]+)['"]/g)) {
    const base = path.resolve(path.dirname(file), match[1]);
    const candidates = [`${base}.ts`, path.join(base, 'index.ts'), base];
    const target = candidates.find((candidate) => fs.existsSync(candidate) && fs.statSync(candidate).isFile());
    // A require of ../../package.json or similar lies outside src/: not a layer question.
    if (target && target.startsWith(SRC + path.sep) && target.endsWith('.ts')) found.push(target);
  }
  return found;
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const rel = (file: string) => `src/${path.relative(SRC, file).split(path.sep).join('/')}`;

describe('architecture', () => {
  it('puts every source file in a layer', () => {
    for (const file of files) expect(() => rankOf(file)).not.toThrow();
  });

  it('never lets a lower layer import a higher one', () => {
    const violations: string[] = [];
    for (const [file, imports] of graph) {
      for (const target of imports) {
        if (rankOf(target) > rankOf(file)) violations.push(`${rel(file)} imports ${rel(target)}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string): void => {
      state.set(file, 'visiting');
      stack.push(file);
      for (const target of graph.get(file) ?? []) {
        if (state.get(target) === 'visiting') cycles.push([...stack.slice(stack.indexOf(target)), target].map(rel).join(' -> '));
        else if (!state.has(target)) visit(target);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it('keeps modules small, or says at the top why one is not', () => {
    const large = files.filter((file) => {
      const text = fs.readFileSync(file, 'utf8');
      return text.split('\n').length > 520 && !/^ \* Size: /m.test(text.slice(0, 3000));
    });
    expect(large.map(rel)).toEqual([]);
  });

  it('is described by docs/architecture.md: every folder of src/ is named there', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', 'docs', 'architecture.md'), 'utf8');
    const folders = fs.readdirSync(SRC, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
    for (const folder of folders) expect(doc).toContain(`src/${folder}/`);
    for (const file of files) expect(doc).toContain(path.basename(file));
  });
});
