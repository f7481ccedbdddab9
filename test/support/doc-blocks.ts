/**
 * The code blocks of README.md and docs/*.md, as programs to run (test/api/doc-blocks.test.ts).
 *
 * Every ```js block runs, as written, as its own program in a fresh directory where `shmring` resolves
 * to this package (so ESM/CommonJS detection is Node's own, as for a user who pastes it). HTML comments
 * right before a block (invisible on GitHub) say how:
 *
 *   <!-- no-run: why -->                  not run (keep these few)
 *   <!-- with: NAME -->                   run after the prelude NAME of the same page: setup the reader
 *                                         does not need to see (a ring, a producer); a prelude is ESM
 *   <!-- prelude NAME                     defines a prelude (multi-line; anywhere in the page)
 *   code
 *   -->
 *   <!-- run-together: a.js b.js -->      blocks whose first line is `// a.js` / `// b.js` are files of one
 *                                         program: each runs in its own process, started in this order,
 *                                         all must exit 0 (the blocks are not also run alone)
 *   <!-- output of a.js -->               before a ```text block: what a.js (or, as `<!-- output -->`, the
 *                                         block just before) prints; `...` in a line matches anything
 *
 * Ring names in string literals ('/telemetry', '/telemetry.') are made unique per run by a prefix, so
 * runs never collide and global teardown can find anything left behind.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface DocProgram {
  /** e.g. 'docs/api.md:54' */
  where: string;
  /** File name -> source. */
  files: Record<string, string>;
  /** Files to start as processes, in order (all at once, each its own process). */
  start: string[];
  /** Expected stdout per file, as lines with `...` wildcards. */
  expected: Record<string, string[]>;
  skip?: string;
}

interface Block {
  line: number;
  lang: string;
  code: string;
  comments: string[];
}

function blocksOf(text: string): { blocks: Block[]; comments: string[] } {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  const allComments: string[] = [];
  let pending: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('<!--')) {
      let comment = line;
      while (!comment.includes('-->') && i + 1 < lines.length) comment += '\n' + lines[++i];
      pending.push(comment);
      allComments.push(comment);
      continue;
    }
    const fence = /^```(\S*)(.*)$/.exec(line);
    if (fence) {
      const start = i + 1;
      const body: string[] = [];
      while (++i < lines.length && !lines[i]!.startsWith('```')) body.push(lines[i]!);
      blocks.push({ line: start, lang: fence[1]!, code: body.join('\n') + '\n', comments: pending });
      pending = [];
      continue;
    }
    if (line.trim() !== '') pending = [];
  }
  return { blocks, comments: allComments };
}

function directive(comments: string[], name: string): string | undefined {
  for (const comment of comments) {
    const match = new RegExp(`^<!--\\s*${name}(?::|\\s)\\s*([\\s\\S]*?)\\s*-->`).exec(comment);
    if (match) return match[1]!;
  }
  return undefined;
}

function fileNameOf(code: string): string | undefined {
  return /^\/\/ ([\w.-]+\.(?:js|mjs|cjs))\b/.exec(code)?.[1];
}

/** Every program of one markdown page (`relative` is its path from the repository root). */
export function programsOf(root: string, relative: string): DocProgram[] {
  const { blocks, comments } = blocksOf(fs.readFileSync(path.join(root, relative), 'utf8'));
  const preludes = new Map<string, string>();
  for (const comment of comments) {
    const match = /^<!--\s*prelude\s+([\w-]+)\s*\n([\s\S]*?)-->/.exec(comment);
    if (match) preludes.set(match[1]!, match[2]!);
  }
  const programs: DocProgram[] = [];
  const grouped = new Set<Block>();
  for (const comment of comments) {
    const together = /^<!--\s*run-together:\s*([^>]*?)\s*-->/.exec(comment);
    if (!together) continue;
    const names = together[1]!.split(/\s+/);
    const files: Record<string, string> = {};
    let first: Block | undefined;
    for (const name of names) {
      const block = blocks.find((b) => b.lang === 'js' && fileNameOf(b.code) === name);
      if (!block) throw new Error(`${relative}: run-together names ${name}, but no \`\`\`js block starts with // ${name}`);
      grouped.add(block);
      first ??= block;
      files[name] = block.code;
    }
    programs.push({ where: `${relative}:${first!.line}`, files, start: names, expected: {} });
  }
  let previous: DocProgram | undefined;
  for (const block of blocks) {
    const outputOf = /^<!--\s*output(?:\s+of\s+([\w.-]+))?\s*-->/.exec(block.comments.join('\n'));
    if (block.lang === 'text' && outputOf) {
      const name = outputOf[1];
      const target = name === undefined ? previous : programs.find((p) => p.files[name] !== undefined);
      if (!target) throw new Error(`${relative}:${block.line}: an output block with no program before it`);
      target.expected[name ?? target.start[0]!] = block.code.trimEnd().split('\n');
      continue;
    }
    if (block.lang !== 'js' || grouped.has(block)) continue;
    const where = `${relative}:${block.line}`;
    const skip = directive(block.comments, 'no-run');
    const preludeName = directive(block.comments, 'with');
    let code = block.code;
    if (preludeName !== undefined) {
      const prelude = preludes.get(preludeName);
      if (prelude === undefined) throw new Error(`${where}: no <!-- prelude ${preludeName} --> in ${relative}`);
      code = `${prelude}\n${code}`;
    }
    const file = preludeName !== undefined ? 'example.mjs' : 'example.js';
    previous = { where, files: { [file]: code }, start: [file], expected: {}, ...(skip !== undefined ? { skip } : {}) };
    programs.push(previous);
  }
  return programs;
}

/** Makes every ring name in string literals unique: '/telemetry' -> '/shmring-test.<pid>.<n>.telemetry'. */
export function uniqueRingNames(code: string, prefix: string): string {
  return code.replace(/(['"`])\/([A-Za-z][\w.-]*)\1/g, (_all, quote: string, name: string) => `${quote}${prefix}${name}${quote}`);
}

/** Whether `actual` (stdout) matches the expected lines, where `...` matches any text within a line. */
export function matchesOutput(actual: string, expected: string[]): boolean {
  const lines = actual.trimEnd().split('\n').map((line) => line.trimEnd());
  if (lines.length !== expected.length) return false;
  return expected.every((pattern, i) => {
    const regex = new RegExp(`^${pattern.trimEnd().split('...').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    return regex.test(lines[i]!);
  });
}
