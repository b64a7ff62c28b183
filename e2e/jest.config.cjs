// Whole-system tests: real processes (migrate and seed CLIs, gateway, likeness CLI) against a
// fresh, migrated Postgres database (one per jest run, libs/db's global setup) and real Redis.
module.exports = {
  ...require('../jest.preset.cjs'),
  displayName: 'e2e',
  rootDir: __dirname,
  globalSetup: '<rootDir>/../libs/db/src/testing/global-setup.ts',
  globalTeardown: '<rootDir>/../libs/db/src/testing/global-teardown.ts',
  testTimeout: 120_000,
};
