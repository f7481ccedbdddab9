'use strict';
module.exports = { buildReport: (r) => JSON.stringify(Object.fromEntries(Object.entries(r.cases).map(([k, v]) => [k, Object.fromEntries(Object.entries(v.summary).map(([m, s]) => [m, +s.median.toPrecision(4)]))])), null, 1) };
