// jest globalSetup: one migrated database per jest run, shared by the test files (each test
// makes its own tenants). Other projects reference this file and global-teardown.ts from their
// jest.config.cjs. Relative imports only: globalSetup does not get jest's moduleNameMapper.
import { createTestDatabase, dropStaleTestDatabases, DEFAULT_ADMIN_URL } from '../testing';

export default async function globalSetup(): Promise<void> {
  const adminUrl = process.env['DATABASE_URL'] ?? DEFAULT_ADMIN_URL;
  const stale = await dropStaleTestDatabases(adminUrl);
  if (stale.length > 0) process.stdout.write(`\ndropped ${stale.length} stale test database(s)\n`);
  const database = await createTestDatabase(adminUrl);
  // Workers are started after globalSetup and inherit these.
  process.env['LIKENESS_TEST_ADMIN_URL'] = adminUrl;
  process.env['LIKENESS_TEST_DATABASE'] = database.name;
  process.env['DATABASE_URL'] = database.url;
  process.env['DATABASE_APP_URL'] = database.appUrl;
}
