// Throw-away databases on the same server (tests, the drift check).
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { withDatabase } from './config';

export interface TemporaryDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(adminUrl: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** `<prefix>_<unix seconds>_<random>`: the timestamp lets a later run drop leftovers of a crashed one. */
export async function createTemporaryDatabase(
  adminUrl: string,
  prefix: string,
): Promise<TemporaryDatabase> {
  const name = `${prefix}_${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  return { name, url: withDatabase(adminUrl, name), drop: () => dropDatabase(adminUrl, name) };
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  if (!/^[a-z0-9_]+$/.test(name))
    throw new Error(`refusing to drop database with unexpected name: ${name}`);
  await withAdmin(adminUrl, async (client) => {
    // FORCE terminates the remaining connections (PostgreSQL 13+).
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
}

/** Drops `<prefix>_<unix seconds>_…` databases older than `maxAgeMs`; returns their names. */
export async function dropStaleDatabases(
  adminUrl: string,
  prefix: string,
  maxAgeMs: number,
): Promise<string[]> {
  const rows = await withAdmin(adminUrl, (client) =>
    client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${prefix}\\_%`,
    ]),
  );
  const cutoff = Date.now() - maxAgeMs;
  const stale = rows.rows
    .map((r) => r.datname)
    .filter((name) => {
      const seconds = Number(new RegExp(`^${prefix}_(\\d+)_`).exec(name)?.[1]);
      return Number.isFinite(seconds) && seconds * 1000 < cutoff;
    });
  for (const name of stale) await dropDatabase(adminUrl, name);
  return stale;
}
