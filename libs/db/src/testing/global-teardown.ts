// jest globalTeardown: drops the run's database (see global-setup.ts).
import { dropDatabase } from '../temp-database';

export default async function globalTeardown(): Promise<void> {
  const name = process.env['LIKENESS_TEST_DATABASE'];
  const adminUrl = process.env['LIKENESS_TEST_ADMIN_URL'];
  if (name && adminUrl) await dropDatabase(adminUrl, name);
}
