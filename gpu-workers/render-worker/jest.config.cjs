module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'render-worker',
  rootDir: __dirname,
  // onnxruntime-node needs the host's typed arrays inside Jest (see the file).
  testEnvironment: require.resolve('../../libs/model-zoo/jest.environment.cjs'),
};
