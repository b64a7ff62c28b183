module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'model-zoo',
  rootDir: __dirname,
  testEnvironment: require.resolve('./jest.environment.cjs'),
};
