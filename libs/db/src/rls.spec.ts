// Row-level security, checked with raw SQL as the application role. The table list comes from
// the catalog, so a new tenant-owned table is covered (and must be populated by populateTenant).
import { Client } from 'pg';
import { createDb, Db } from './db';
import { sqlState } from './errors';
import { testDatabaseUrls } from './testing';
import { POPULATED_TABLES, createAsset, createTenant, populateTenant } from './testing/fixtures';
import type { Tenant } from './types';

const { url, appUrl } = testDatabaseUrls();
let db: Db;
let owner: Client;
let tenantTables: string[];
let a: Tenant;
let b: Tenant;

async function appClient(): Promise<Client> {
  const client = new Client({ connectionString: appUrl });
  await client.connect();
  return client;
}

/** Runs one statement inside withTenant(tenant); returns affected rows or the SQLSTATE it failed with. */
async function asTenant(
  tenantId: string,
  sql: string,
): Promise<{ rows?: number; error?: string; message?: string }> {
  try {
    const rows = await db.withTenant(tenantId, (tx) => tx.$executeRawUnsafe(sql));
    return { rows };
  } catch (error) {
    return {
      error: sqlState(error) ?? 'unknown',
      message: error instanceof Error ? error.message : String(error),
    };
  }
}

beforeAll(async () => {
  db = createDb({ url, appUrl });
  owner = new Client({ connectionString: url });
  await owner.connect();
  const tables = await owner.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.columns
     WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY table_name`,
  );
  tenantTables = tables.rows.map((r) => r.table_name);
  a = await createTenant(db, 'A');
  b = await createTenant(db, 'B');
  await populateTenant(db, a.id);
  await populateTenant(db, b.id);
});

afterAll(async () => {
  await owner.end();
  await db.close();
});

it('the fixture covers every tenant-owned table in the catalog', () => {
  expect(tenantTables).toEqual([...POPULATED_TABLES].sort());
});

it('every table has row-level security enabled and forced', async () => {
  const { rows } = await owner.query<{
    relname: string;
    relrowsecurity: boolean;
    relforcerowsecurity: boolean;
  }>(
    `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'likeness_migrations'`,
  );
  expect(rows.length).toBeGreaterThan(tenantTables.length);
  for (const row of rows)
    expect({ table: row.relname, rls: row.relrowsecurity, force: row.relforcerowsecurity }).toEqual(
      { table: row.relname, rls: true, force: true },
    );
});

it('inside withTenant(A), raw SQL cannot SELECT, UPDATE or DELETE B rows in any tenant table', async () => {
  for (const table of [...tenantTables, 'tenants']) {
    const column = table === 'tenants' ? 'id' : 'tenant_id';
    const ownRows = await db.withTenant(b.id, (tx) =>
      tx.$queryRawUnsafe<{ n: bigint }[]>(
        `SELECT count(*) AS n FROM ${table} WHERE ${column} = '${b.id}'`,
      ),
    );
    expect({ table, visibleToB: Number(ownRows[0]?.n) > 0 }).toEqual({ table, visibleToB: true });

    const seen = await db.withTenant(a.id, (tx) =>
      tx.$queryRawUnsafe<{ n: bigint }[]>(
        `SELECT count(*) AS n FROM ${table} WHERE ${column} = '${b.id}'`,
      ),
    );
    expect({ table, seen: Number(seen[0]?.n) }).toEqual({ table, seen: 0 });

    for (const statement of [
      `UPDATE ${table} SET ${column} = ${column} WHERE ${column} = '${b.id}'`,
      `DELETE FROM ${table} WHERE ${column} = '${b.id}'`,
    ]) {
      const result = await asTenant(a.id, statement);
      // Either RLS hides every B row (0 rows), or the table is append-only for the app (no grant).
      const outcome = result.error === undefined ? `rows:${result.rows}` : `error:${result.error}`;
      expect({ statement, outcome }).toEqual({
        statement,
        outcome: expect.stringMatching(/^(rows:0|error:42501)$/),
      });
    }
  }
  // B's rows are all still there.
  for (const table of tenantTables) {
    const { rows } = await owner.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${table} WHERE tenant_id = $1`,
      [b.id],
    );
    expect({ table, rows: Number(rows[0]?.n) > 0 }).toEqual({ table, rows: true });
  }
});

it('inside withTenant(A), raw SQL cannot INSERT a row for B into any tenant table', async () => {
  for (const table of [...tenantTables, 'tenants']) {
    const column = table === 'tenants' ? 'id' : 'tenant_id';
    const result = await asTenant(a.id, `INSERT INTO ${table} (${column}) VALUES ('${b.id}')`);
    expect({ table, error: result.error }).toEqual({ table, error: '42501' });
    const granted = await owner.query<{ ok: boolean }>(
      `SELECT has_table_privilege('likeness_app', $1, 'INSERT') AS ok`,
      [table],
    );
    if (granted.rows[0]?.ok)
      expect({ table, message: result.message }).toEqual({
        table,
        message: expect.stringMatching(/row-level security/),
      });
  }
  // A complete, otherwise valid row is refused too.
  const asset = await asTenant(
    a.id,
    `INSERT INTO assets (tenant_id, kind, mime, bytes, sha256, storage_key) VALUES ('${b.id}', 'IMAGE', 'image/png', 1, 'x', 'k')`,
  );
  expect(asset.message).toMatch(/row-level security/);
});

it('inside withTenant(A), a row cannot be moved to B', async () => {
  const asset = await createAsset(db, a.id);
  const result = await asTenant(
    a.id,
    `UPDATE assets SET tenant_id = '${b.id}' WHERE id = '${asset.id}'`,
  );
  expect(result.message).toMatch(/row-level security/);
});

it('without app.tenant_id the app role sees no rows of any tenant table, and sessions not at all', async () => {
  const client = await appClient();
  try {
    for (const table of [...tenantTables, 'tenants']) {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      expect({ table, n: Number(rows[0]?.n) }).toEqual({ table, n: 0 });
    }
    // After a transaction-local set_config the setting is '' rather than unset: still nothing.
    await client.query('BEGIN');
    await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [a.id]);
    await client.query('COMMIT');
    const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM assets');
    expect(Number(rows[0]?.n)).toBe(0);
    await expect(client.query('SELECT count(*) FROM sessions')).rejects.toMatchObject({
      code: '42501',
    });
    await expect(client.query('SELECT count(*) FROM likeness_migrations')).rejects.toMatchObject({
      code: '42501',
    });
  } finally {
    await client.end();
  }
});

it('the app role cannot become another role and has no way around RLS', async () => {
  const client = await appClient();
  try {
    await expect(client.query('SET ROLE postgres')).rejects.toMatchObject({ code: '42501' });
    await expect(client.query('SET ROLE likeness_platform')).rejects.toMatchObject({
      code: '42501',
    });
    await expect(client.query('SET SESSION AUTHORIZATION postgres')).rejects.toMatchObject({
      code: '42501',
    });
    await client.query('RESET ROLE'); // allowed, but a no-op: it only returns to likeness_app itself
    const who = await client.query<{ u: string }>('SELECT current_user AS u');
    expect(who.rows[0]?.u).toBe('likeness_app');
    await expect(
      client.query('ALTER TABLE assets DISABLE ROW LEVEL SECURITY'),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(client.query('CREATE TABLE sneaky (id int)')).rejects.toMatchObject({
      code: '42501',
    });
  } finally {
    await client.end();
  }
  const role = await owner.query<{
    rolsuper: boolean;
    rolbypassrls: boolean;
    platform: boolean;
    owned: string;
  }>(
    `SELECT rolsuper, rolbypassrls, pg_has_role('likeness_app', 'likeness_platform', 'MEMBER') AS platform,
            (SELECT count(*) FROM pg_class WHERE relowner = r.oid) AS owned
     FROM pg_roles r WHERE rolname = 'likeness_app'`,
  );
  expect(role.rows[0]).toEqual({
    rolsuper: false,
    rolbypassrls: false,
    platform: false,
    owned: '0',
  });
});

it('is inherent to the design: raw SQL inside withTenant can call set_config itself', async () => {
  // Documented boundary (docs/decisions/0001-migrations.md): RLS guarantees that the app role
  // sees nothing without app.tenant_id and only one tenant per transaction; which tenant is
  // chosen by code, and code only sets it through withTenant. Repositories never take SQL text.
  const rows = await db.withTenant(a.id, async (tx) => {
    await tx.$executeRawUnsafe(`SELECT set_config('app.tenant_id', '${b.id}', true)`);
    return tx.$queryRawUnsafe<{ n: bigint }[]>(
      `SELECT count(*) AS n FROM assets WHERE tenant_id = '${b.id}'`,
    );
  });
  expect(Number(rows[0]?.n)).toBeGreaterThan(0);
});

it('only the named SECURITY DEFINER functions are callable by the app role', async () => {
  const { rows } = await owner.query<{ proname: string; owner: string }>(
    `SELECT p.proname, pg_get_userbyid(p.proowner) AS owner FROM pg_proc p
     JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'public' AND p.prosecdef ORDER BY p.proname`,
  );
  expect(rows).toEqual([
    { proname: 'likeness_asset_for_download', owner: 'likeness_platform' },
    { proname: 'likeness_authenticate_api_key', owner: 'likeness_platform' },
    { proname: 'likeness_authenticate_session', owner: 'likeness_platform' },
    { proname: 'likeness_due_webhook_deliveries', owner: 'likeness_platform' },
    { proname: 'likeness_find_user_for_login', owner: 'likeness_platform' },
    { proname: 'likeness_purge_webhook_deliveries', owner: 'likeness_platform' },
    { proname: 'likeness_render_admission_load', owner: 'likeness_platform' },
    { proname: 'likeness_render_admitted_ahead', owner: 'likeness_platform' },
    { proname: 'likeness_render_preview', owner: 'likeness_platform' },
    { proname: 'likeness_render_queue_snapshot', owner: 'likeness_platform' },
    { proname: 'likeness_revoke_session', owner: 'likeness_platform' },
    { proname: 'likeness_stale_processing_avatars', owner: 'likeness_platform' },
  ]);
});
