module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'export-models',
  rootDir: __dirname,
};
