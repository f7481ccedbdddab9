module.exports = { name: 'micro', cases: () => [], available: async () => 'not written yet' };
