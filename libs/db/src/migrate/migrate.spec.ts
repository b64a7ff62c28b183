import { cp, mkdtemp, appendFile, rm, mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { createTestDatabase, TestDatabase } from '../testing';
import { DEFAULT_MIGRATIONS_DIR, MigrationError, migrate, readMigrations } from './migrate';

let database: TestDatabase;
let scratch: string;
/** The repository's migrations, in order (every test starts from a copy of them). */
let shipped: string[];

beforeAll(async () => {
  shipped = (await readMigrations(DEFAULT_MIGRATIONS_DIR)).map((m) => m.id);
});

beforeEach(async () => {
  database = await createTestDatabase(process.env['DATABASE_URL'], { migrate: false });
  scratch = await mkdtemp(path.join(os.tmpdir(), 'likeness-migrations-'));
  await cp(DEFAULT_MIGRATIONS_DIR, scratch, { recursive: true });
});

afterEach(async () => {
  await database.drop();
  await rm(scratch, { recursive: true, force: true });
});

async function appliedRows(url: string): Promise<{ id: string; checksum: string }[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (
      await client.query<{ id: string; checksum: string }>(
        'SELECT id, checksum FROM likeness_migrations ORDER BY id',
      )
    ).rows;
  } finally {
    await client.end();
  }
}

it('applies every migration to an empty database once; a second run is a no-op', async () => {
  const logs: string[] = [];
  const first = await migrate({
    url: database.url,
    migrationsDir: scratch,
    log: (m) => logs.push(m),
  });
  expect(shipped[0]).toBe('0001_init');
  expect(first.applied).toEqual(shipped);
  expect(logs[0]).toMatch(/^applied 0001_init in \d+ ms$/);
  expect(await migrate({ url: database.url, migrationsDir: scratch })).toEqual({ applied: [] });
  expect((await appliedRows(database.url)).map((r) => r.checksum)).toEqual(
    shipped.map(() => expect.stringMatching(/^[0-9a-f]{64}$/)),
  );
});

it('serialises concurrent runners with an advisory lock', async () => {
  const results = await Promise.all(
    [1, 2, 3].map(() => migrate({ url: database.url, migrationsDir: scratch })),
  );
  expect(results.flatMap((r) => r.applied)).toEqual(shipped);
});

it('refuses a migration edited after it was applied', async () => {
  await migrate({ url: database.url, migrationsDir: scratch });
  await appendFile(
    path.join(scratch, '0001_init', 'migration.sql'),
    '\n-- a harmless-looking edit\n',
  );
  await expect(migrate({ url: database.url, migrationsDir: scratch })).rejects.toThrow(
    /0001_init was edited after it was applied/,
  );
});

it('applies a new migration in order and rolls a failing one back completely', async () => {
  await migrate({ url: database.url, migrationsDir: scratch });
  await mkdir(path.join(scratch, '9999_broken'));
  await writeFile(
    path.join(scratch, '9999_broken', 'migration.sql'),
    'CREATE TABLE half_done (id int);\nSELECT no_such_function();\n',
  );
  await expect(migrate({ url: database.url, migrationsDir: scratch })).rejects.toBeInstanceOf(
    MigrationError,
  );
  const client = new Client({ connectionString: database.url });
  await client.connect();
  try {
    expect((await client.query(`SELECT to_regclass('half_done') AS t`)).rows[0]).toEqual({
      t: null,
    });
  } finally {
    await client.end();
  }
  await writeFile(
    path.join(scratch, '9999_broken', 'migration.sql'),
    'CREATE TABLE half_done (id int);\n',
  );
  expect(await migrate({ url: database.url, migrationsDir: scratch })).toEqual({
    applied: ['9999_broken'],
  });
});

it('rejects badly named migration folders', async () => {
  await mkdir(path.join(scratch, 'add_things'));
  await expect(migrate({ url: database.url, migrationsDir: scratch })).rejects.toThrow(
    /NNNN_snake_name: add_things/,
  );
});
