module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'render-worker',
  rootDir: __dirname,
};
