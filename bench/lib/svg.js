'use strict';
// A small grouped-bar-chart SVG generator (no dependency): log or linear y axis, min–max whiskers.

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function siLabel(v) {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (abs >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  if (abs >= 1) return `${+v.toPrecision(3)}`;
  return `${+v.toPrecision(2)}`;
}

/**
 * groups: string[] (x axis), series: string[] (legend), cells[g][s]: {median, min, max} | undefined.
 * Returns an SVG document string.
 */
function groupedBarChart({ title, subtitle, yLabel, groups, series, cells, log = true, width = 900, height = 420 }) {
  const margin = { top: 56, right: 20, bottom: 70, left: 70 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const values = [];
  for (const row of cells) for (const c of row) if (c && c.median > 0) values.push(c.min > 0 ? c.min : c.median, c.max || c.median);
  if (values.length === 0) values.push(1, 10);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  let y;
  const ticks = [];
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo));
    hi = 10 ** Math.ceil(Math.log10(hi));
    if (hi === lo) hi = lo * 10;
    y = (v) => margin.top + plotH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  } else {
    lo = 0;
    const step = 10 ** Math.floor(Math.log10(hi || 1));
    hi = Math.ceil((hi || 1) / step) * step;
    y = (v) => margin.top + plotH - (v / hi) * plotH;
    for (let t = 0; t <= hi * 1.0001; t += hi / 5) ticks.push(t);
  }
  const groupW = plotW / groups.length;
  const barW = Math.max(2, (groupW * 0.8) / series.length);
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  parts.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  if (subtitle) parts.push(`<text x="${width / 2}" y="37" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`);
  for (const t of ticks) {
    const ty = y(t);
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${ty.toFixed(1)}" y2="${ty.toFixed(1)}" stroke="#e4e4e4"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${(ty + 4).toFixed(1)}" text-anchor="end" fill="#333">${esc(siLabel(t))}</text>`);
  }
  parts.push(`<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(yLabel)}${log ? ' (log scale)' : ''}</text>`);
  parts.push(`<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#333"/>`);
  parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${margin.top + plotH}" y2="${margin.top + plotH}" stroke="#333"/>`);
  groups.forEach((g, gi) => {
    const gx = margin.left + gi * groupW + groupW * 0.1;
    series.forEach((s, si) => {
      const c = cells[gi][si];
      if (!c || !(c.median > 0)) return;
      const x = gx + si * barW;
      const top = y(c.median);
      const base = margin.top + plotH;
      parts.push(`<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${Math.max(0, base - top).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${esc(`${g} · ${s}: ${siLabel(c.median)} (min ${siLabel(c.min)}, max ${siLabel(c.max)})`)}</title></rect>`);
      if (c.min > 0 && c.max > 0 && c.max !== c.min) {
        const cx = x + (barW - 1) / 2;
        parts.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y(c.max).toFixed(1)}" y2="${y(c.min).toFixed(1)}" stroke="#000" stroke-width="1"/>`);
      }
    });
    parts.push(`<text x="${(margin.left + gi * groupW + groupW / 2).toFixed(1)}" y="${margin.top + plotH + 18}" text-anchor="middle" fill="#111">${esc(g)}</text>`);
  });
  // Legend along the bottom.
  let lx = margin.left;
  const ly = height - 22;
  series.forEach((s, si) => {
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${PALETTE[si % PALETTE.length]}"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly}" fill="#111">${esc(s)}</text>`);
    lx += 30 + s.length * 7.2;
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

module.exports = { groupedBarChart, siLabel };
