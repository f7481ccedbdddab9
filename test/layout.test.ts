/** docs/protocol.md draws the layout; this checks the drawing against src/ring/layout.ts, field by field. */
import * as fs from 'fs';
import * as path from 'path';
import * as L from '../src/ring/layout';

const protocol = fs.readFileSync(path.join(__dirname, '..', 'docs', 'protocol.md'), 'utf8');

interface Row {
  name: string;
  offset: number;
  length: number;
}

/** Rows `| NAME | offset | length | ...` of the tables in protocol.md. */
function documentedRows(): Row[] {
  const rows: Row[] = [];
  for (const line of protocol.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    if (cells.length < 4 || !/^[A-Z][A-Z0-9_]+$/.test(cells[1]) || !/^\d+$/.test(cells[2])) continue;
    rows.push({ name: cells[1], offset: Number(cells[2]), length: /^\d+$/.test(cells[3]) ? Number(cells[3]) : -1 });
  }
  return rows;
}

const layout = L as unknown as Record<string, number>;

describe('docs/protocol.md and src/ring/layout.ts', () => {
  const rows = documentedRows();

  it('documents a good number of fields', () => {
    expect(rows.length).toBeGreaterThan(40);
  });

  it.each(rows.map((row) => [row.name, row]))('%s is at the documented offset', (_, row) => {
    const constant = layout[`${(row as Row).name}_OFFSET`];
    expect(constant).toBeDefined();
    expect(constant).toBe((row as Row).offset);
  });

  it('documents every offset defined in layout.ts', () => {
    const documented = new Set(rows.map((row) => `${row.name}_OFFSET`));
    const defined = Object.keys(layout).filter((key) => key.endsWith('_OFFSET'));
    expect(defined.filter((key) => !documented.has(key))).toEqual([]);
  });

  it('gives each field room for its documented length (no overlaps)', () => {
    const groups = [
      rows.filter((row) => !row.name.startsWith('SLOT_') && !row.name.startsWith('RECORD_') && row.name !== 'SLOTS'),
      rows.filter((row) => row.name.startsWith('SLOT_')),
      rows.filter((row) => row.name.startsWith('RECORD_')),
    ];
    for (const group of groups) {
      const sorted = [...group].sort((a, b) => a.offset - b.offset);
      for (let i = 1; i < sorted.length; i++) {
        expect({ field: sorted[i - 1].name, end: sorted[i - 1].offset + sorted[i - 1].length <= sorted[i].offset }).toEqual({
          field: sorted[i - 1].name,
          end: true,
        });
      }
    }
    expect(L.SLOT_FIELDS_LENGTH).toBeLessThanOrEqual(L.SLOT_LENGTH);
    expect(L.HEADER_LENGTH).toBeLessThanOrEqual(L.PRODUCER_PID_OFFSET);
  });

  it('keeps the hot words of different writers in different 128-byte blocks', () => {
    const block = (offset: number): number => Math.floor(offset / L.BLOCK_LENGTH);
    const producerHot = block(L.PUBLISHED_TAIL_OFFSET);
    expect(block(L.TAIL_INTENT_OFFSET)).toBe(producerHot);
    expect(block(L.DATA_WAITERS_OFFSET)).not.toBe(producerHot);
    expect(block(L.SPACE_WAKE_OFFSET)).not.toBe(producerHot);
    expect(block(L.SLOTS_OFFSET)).toBeGreaterThan(block(L.LAST_SEND_AT_MS_OFFSET));
    expect(L.SLOTS_OFFSET % L.BLOCK_LENGTH).toBe(0);
  });

  it('states the layout version it describes', () => {
    expect(protocol).toContain(`Layout version: **${L.LAYOUT_VERSION}**`);
  });
});
