module.exports = { name: 'fanin', cases: () => [], available: async () => 'not written yet' };
