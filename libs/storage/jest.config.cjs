// The 50 MB streaming test writes a real file, so allow more than jest's default 5 s.
module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'storage',
  rootDir: __dirname,
  testTimeout: 60_000,
};
