// Medium tier: the gateway in-process against a fresh, migrated Postgres database (one per jest
// run, libs/db's global setup) and the real Redis.
module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'gateway',
  rootDir: __dirname,
  globalSetup: '<rootDir>/../../libs/db/src/testing/global-setup.ts',
  globalTeardown: '<rootDir>/../../libs/db/src/testing/global-teardown.ts',
  testTimeout: 60_000,
};
