module.exports = { name: 'latency', cases: () => [], available: async () => 'not written yet' };
