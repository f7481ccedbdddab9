module.exports = { name: 'idle-cpu', cases: () => [], available: async () => 'not written yet' };
