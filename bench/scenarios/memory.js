module.exports = { name: 'memory', cases: () => [], available: async () => 'not written yet' };
