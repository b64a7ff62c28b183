// Test isolation helpers, exported as `@likeness/db/testing`. Never imported by production code.
import { deriveAppUrl } from './config';
import { migrate } from './migrate/migrate';
import { createTemporaryDatabase, dropStaleDatabases } from './temp-database';

export const TEST_DATABASE_PREFIX = 'likeness_test';
export const DEFAULT_ADMIN_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';
const STALE_AFTER_MS = 6 * 60 * 60 * 1000;

export interface TestDatabase {
  name: string;
  /** Owner URL (superuser here): migrations, privileged path, test fixtures. */
  url: string;
  /** likeness_app URL: what the application uses; row-level security applies. */
  appUrl: string;
  /** Terminates the database's connections and drops it. */
  drop(): Promise<void>;
}

/** A fresh, migrated `likeness_test_<unix seconds>_<random>` database. */
export async function createTestDatabase(
  adminUrl: string = process.env['DATABASE_URL'] ?? DEFAULT_ADMIN_URL,
  options: { migrate?: boolean } = {},
): Promise<TestDatabase> {
  const database = await createTemporaryDatabase(adminUrl, TEST_DATABASE_PREFIX);
  try {
    if (options.migrate !== false) await migrate({ url: database.url });
  } catch (error) {
    await database.drop();
    throw error;
  }
  return {
    name: database.name,
    url: database.url,
    appUrl: deriveAppUrl(database.url),
    drop: database.drop,
  };
}

/** Drops test databases left by runs that crashed more than 6 hours ago. */
export function dropStaleTestDatabases(
  adminUrl: string = process.env['DATABASE_URL'] ?? DEFAULT_ADMIN_URL,
): Promise<string[]> {
  return dropStaleDatabases(adminUrl, TEST_DATABASE_PREFIX, STALE_AFTER_MS);
}

/** For test files run under this library's jest globalSetup. */
export function testDatabaseUrls(): { url: string; appUrl: string } {
  const url = process.env['DATABASE_URL'];
  const appUrl = process.env['DATABASE_APP_URL'];
  if (!url || !appUrl || process.env['LIKENESS_TEST_DATABASE'] === undefined) {
    throw new Error(
      'no test database: add libs/db/src/testing/global-setup.ts as jest globalSetup',
    );
  }
  return { url, appUrl };
}

export { populateTenant, POPULATED_TABLES } from './testing/fixtures';
