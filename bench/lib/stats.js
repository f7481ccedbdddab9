'use strict';
// Statistics over repeated runs (median, min, max) and percentiles over latency samples.

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Nearest-rank percentile of an already sorted numeric array (p in [0, 1]). */
function percentileSorted(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank];
}

/** Latency summary in microseconds from a Float64Array of nanoseconds (sorted in place). */
function latencySummary(samplesNs) {
  samplesNs.sort();
  const us = (p) => percentileSorted(samplesNs, p) / 1000;
  return {
    samples: samplesNs.length,
    p50_us: us(0.5),
    p99_us: us(0.99),
    p999_us: us(0.999),
    max_us: samplesNs.length ? samplesNs[samplesNs.length - 1] / 1000 : NaN,
  };
}

/** Per metric, the median, min and max over runs: `runs` is an array of flat {metric: number} objects. */
function summarize(runs) {
  const keys = new Set();
  for (const run of runs) for (const [k, v] of Object.entries(run)) if (typeof v === 'number') keys.add(k);
  const out = {};
  for (const key of keys) {
    const values = runs.map((r) => r[key]).filter((v) => typeof v === 'number' && Number.isFinite(v));
    if (values.length === 0) continue;
    out[key] = { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
  }
  return out;
}

module.exports = { median, percentileSorted, latencySummary, summarize };
