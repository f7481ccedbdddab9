module.exports = { name: 'futex-wake', cases: () => [], available: async () => 'not written yet' };
