module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'pipeline',
  rootDir: __dirname,
  // onnxruntime-node needs the host's typed arrays inside Jest (see the file).
  testEnvironment: require.resolve('../model-zoo/jest.environment.cjs'),
  // Builds (or reuses) the reference model pack for the specs that run real sessions.
  globalSetup: require.resolve('./test/global-setup.cjs'),
};
