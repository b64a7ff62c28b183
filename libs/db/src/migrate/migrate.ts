// The migration runner: folders `NNNN_name/migration.sql`, applied in order, each in its own
// transaction, recorded with a sha256 checksum. See docs/decisions/0001-migrations.md.
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';
import { APP_ROLE, DEFAULT_APP_PASSWORD, PLATFORM_ROLE } from '../config';

export interface MigrateConfig {
  /** Owner / superuser URL of the target database. */
  url: string;
  /** Password given to likeness_app when the runner creates it. Default `likeness_app`. */
  appPassword?: string;
  /** Default: `prisma/migrations` at the repository root. */
  migrationsDir?: string;
  log?: (message: string) => void;
}

export interface MigrationFile {
  id: string;
  sql: string;
  checksum: string;
}

export const MIGRATIONS_TABLE = 'likeness_migrations';
export const DEFAULT_MIGRATIONS_DIR = path.resolve(__dirname, '../../../../prisma/migrations');
const MIGRATION_DIR_RE = /^\d{4}_[a-z0-9_]+$/;
// One fixed key: concurrent runners against the same database wait for each other.
const ADVISORY_LOCK_KEY = 7_310_524_001;

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export function checksum(sql: string): string {
  // Line endings must not turn a checkout on another OS into an "edited" migration.
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

export async function readMigrations(migrationsDir: string): Promise<MigrationFile[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const ids = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const bad = ids.filter((id) => !MIGRATION_DIR_RE.test(id));
  if (bad.length > 0)
    throw new MigrationError(`migration folders must be named NNNN_snake_name: ${bad.join(', ')}`);
  const numbers = ids.map((id) => id.slice(0, 4));
  const dup = numbers.find((n, i) => numbers.indexOf(n) !== i);
  if (dup !== undefined) throw new MigrationError(`two migrations share the number ${dup}`);
  return Promise.all(
    ids.map(async (id) => {
      const sql = await readFile(path.join(migrationsDir, id, 'migration.sql'), 'utf8');
      return { id, sql, checksum: checksum(sql) };
    }),
  );
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Cluster-wide roles the migrations grant to. Created only when missing (another database on
 * the same server may have made them already); an existing likeness_app keeps its password.
 */
export async function ensureRoles(client: Client, appPassword: string): Promise<void> {
  const wanted: [string, string][] = [
    [
      APP_ROLE,
      `LOGIN PASSWORD ${quoteLiteral(appPassword)} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`,
    ],
    [PLATFORM_ROLE, 'NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE'],
  ];
  for (const [role, options] of wanted) {
    const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    if (exists.rowCount === 0) {
      try {
        await client.query(`CREATE ROLE ${role} ${options}`);
      } catch (error) {
        // A runner on another database of this server won the race: fine.
        const again = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
        if (again.rowCount === 0) throw error;
      }
    }
  }
  const app = await client.query<{ rolsuper: boolean; rolbypassrls: boolean }>(
    'SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1',
    [APP_ROLE],
  );
  const flags = app.rows[0];
  if (flags && (flags.rolsuper || flags.rolbypassrls)) {
    throw new MigrationError(
      `${APP_ROLE} must be NOSUPERUSER NOBYPASSRLS; fix the role before migrating`,
    );
  }
  // A non-superuser migrator must be able to hand functions to likeness_platform.
  const me = await client.query<{ rolsuper: boolean }>(
    'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
  );
  if (me.rows[0]?.rolsuper !== true) {
    await client.query(`GRANT ${PLATFORM_ROLE} TO current_user`);
  }
}

export async function migrate(config: MigrateConfig): Promise<{ applied: string[] }> {
  const log = config.log ?? (() => undefined);
  const migrations = await readMigrations(config.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  const client = new Client({ connectionString: config.url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
    try {
      await ensureRoles(client, config.appPassword ?? DEFAULT_APP_PASSWORD);
      await client.query(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
        id text PRIMARY KEY,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        execution_ms integer NOT NULL
      )`);
      const done = await client.query<{ id: string; checksum: string }>(
        `SELECT id, checksum FROM ${MIGRATIONS_TABLE} ORDER BY id`,
      );
      const onDisk = new Map(migrations.map((m) => [m.id, m]));
      for (const row of done.rows) {
        const file = onDisk.get(row.id);
        if (!file)
          throw new MigrationError(
            `migration ${row.id} was applied but is missing from the migrations folder`,
          );
        if (file.checksum !== row.checksum) {
          throw new MigrationError(
            `migration ${row.id} was edited after it was applied (checksum ${row.checksum.slice(0, 12)}… in the database, ` +
              `${file.checksum.slice(0, 12)}… on disk); add a new migration instead`,
          );
        }
      }
      const appliedIds = new Set(done.rows.map((r) => r.id));
      const lastApplied = done.rows.at(-1)?.id;
      const applied: string[] = [];
      for (const migration of migrations) {
        if (appliedIds.has(migration.id)) continue;
        if (lastApplied !== undefined && migration.id < lastApplied) {
          throw new MigrationError(
            `migration ${migration.id} sorts before the already applied ${lastApplied}; renumber it`,
          );
        }
        const started = Date.now();
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query(
            `INSERT INTO ${MIGRATIONS_TABLE} (id, checksum, execution_ms) VALUES ($1, $2, $3)`,
            [migration.id, migration.checksum, Date.now() - started],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          const message = error instanceof Error ? error.message : String(error);
          throw new MigrationError(
            `migration ${migration.id} failed and was rolled back: ${message}`,
          );
        }
        applied.push(migration.id);
        log(`applied ${migration.id} in ${Date.now() - started} ms`);
      }
      if (applied.length === 0) log('database is up to date');
      return { applied };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}
