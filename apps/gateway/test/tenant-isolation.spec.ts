// Walks EVERY query and mutation of the gateway's schema as tenant A, filling every ID argument
// (also inside input objects) with each of tenant B's row ids from every tenant-owned table, and
// asserts that nothing of B comes back and nothing of B changes. New operations are picked up
// from the schema automatically: adding one without tenant scoping fails this test.
import 'reflect-metadata';
import { createHash, randomUUID } from 'node:crypto';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLOutputType,
} from 'graphql';
import { Client } from 'pg';
import { createDb, generateApiKeySecret, hashPassword, type Db } from '@likeness/db';
import { POPULATED_TABLES, populateTenant } from '@likeness/db/testing';
import { createGateway } from '../src/bootstrap';
import { loadConfig } from '../src/config/config';

const env = {
  DATABASE_URL: process.env['DATABASE_URL'],
  DATABASE_APP_URL: process.env['DATABASE_APP_URL'],
  REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  REDIS_PREFIX: `test-iso-${randomUUID().slice(0, 8)}`,
  LOG_LEVEL: 'silent',
  // The render admitter would admit tenant B's fixture render during the walk (a change of B's
  // rows that is not the walk's doing).
  RENDER_DISPATCH: 'false',
};

let app: NestFastifyApplication;
let db: Db;
let owner: Client;

beforeAll(async () => {
  app = await createGateway(loadConfig(env));
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  db = createDb(loadConfig(env).database);
  owner = new Client({ connectionString: process.env['DATABASE_URL'] });
  await owner.connect();
});

afterAll(async () => {
  await app?.close();
  await db?.close();
  await owner?.end();
});

/** Every row of every tenant-owned table of one tenant, as `table → ids`, plus a fingerprint. */
async function snapshot(tenantId: string): Promise<{ ids: string[]; fingerprint: string }> {
  const ids: string[] = [];
  const hash = createHash('sha256');
  for (const table of [...POPULATED_TABLES].sort()) {
    const rows = await owner.query<{ id: string; row: string }>(
      `SELECT id::text AS id, row_to_json(t)::text AS row FROM ${table} t WHERE tenant_id = $1 ORDER BY id`,
      [tenantId],
    );
    for (const r of rows.rows) {
      ids.push(r.id);
      // last_used_at moves with use, which is not a change by another tenant.
      hash.update(r.row.replace(/"last_used_at":"[^"]*"/, ''));
    }
  }
  return { ids, fingerprint: hash.digest('hex') };
}

async function tenantWithKey(name: string) {
  const slug = `iso-${randomUUID().slice(0, 8)}`;
  const tenant = await db.tenants.create({ name, slug, plan: 'pro' });
  const key = generateApiKeySecret('test');
  await db.apiKeys.create(tenant.id, {
    name: `${name} key`,
    prefix: key.prefix,
    secretHash: key.secretHash,
    scopes: ['*'],
    expiresAt: null,
  });
  return { tenant, secret: key.secret };
}

/** A selection set of every argument-free field, three levels deep. */
function selection(type: GraphQLOutputType, depth = 0): string {
  const named = getNamedType(type);
  if (!isObjectType(named)) return '';
  if (depth >= 3) return '{ __typename }';
  const fields = Object.values(named.getFields())
    .filter((f) => f.args.every((a) => !isNonNullType(a.type)))
    .map((f) => {
      const inner = getNamedType(f.type);
      return isObjectType(inner) ? `${f.name} ${selection(f.type, depth + 1)}` : f.name;
    });
  return `{ __typename ${fields.join(' ')} }`;
}

/** Plausible strings by argument name, so operations get past validation to the tenant check. */
function stringFor(name: string): string {
  const unique = randomUUID().slice(0, 8);
  if (/email/i.test(name)) return `walk-${unique}@a.test`;
  if (/password/i.test(name)) return 'a long enough walk password';
  if (/slug/i.test(name)) return `walk-${unique}`;
  if (/url/i.test(name)) return 'https://example.test/walk';
  if (/scope/i.test(name)) return 'assets:read';
  return `walk ${unique}`;
}

/** A value for an input type with every ID (at any depth) set to `id`. */
function valueFor(type: GraphQLInputType, id: string, name: string, depth = 0): unknown {
  const nullable = getNullableType(type);
  if (isListType(nullable)) return [valueFor(nullable.ofType, id, name, depth + 1)];
  if (isScalarType(nullable)) {
    switch (nullable.name) {
      case 'ID':
        return id;
      case 'Int':
        return 1;
      case 'Float':
        return 0.5;
      case 'Boolean':
        return false;
      case 'DateTime':
        return new Date(Date.now() + 86_400_000).toISOString();
      default:
        return stringFor(name);
    }
  }
  // The last value: enums here run from most to least privileged (UserRole, TenantStatus).
  if (isEnumType(nullable)) return nullable.getValues().at(-1)?.value;
  if (isInputObjectType(nullable) && depth < 4) {
    return Object.fromEntries(
      Object.values(nullable.getFields())
        .filter(needsValue)
        .map((f) => [f.name, valueFor(f.type, id, f.name, depth + 1)]),
    );
  }
  return null;
}

/** Required arguments and anything carrying an ID get a value; other optionals keep defaults. */
function needsValue(arg: { type: GraphQLInputType }): boolean {
  return isNonNullType(arg.type) || mentionsId(arg);
}

function mentionsId(arg: { type: GraphQLInputType }): boolean {
  const named = getNamedType(arg.type);
  if (named.name === 'ID') return true;
  if (!isInputObjectType(named)) return false;
  return Object.values(named.getFields()).some((f) => getNamedType(f.type).name === 'ID');
}

interface Operation {
  kind: 'query' | 'mutation';
  field: GraphQLField<unknown, unknown>;
}

function operations(): Operation[] {
  const schema = app.get(GraphQLSchemaHost).schema;
  const ops: Operation[] = [];
  for (const [kind, type] of [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
  ] as const) {
    for (const field of Object.values(type?.getFields() ?? {})) ops.push({ kind, field });
  }
  return ops;
}

async function run(op: Operation, id: string, token: string) {
  const given = op.field.args.filter(needsValue);
  const vars = given.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
  const args = given.map((a) => `${a.name}: $${a.name}`).join(', ');
  const query =
    `${op.kind} Walk${vars ? `(${vars})` : ''} { ${op.field.name}` +
    `${args ? `(${args})` : ''} ${selection(op.field.type)} }`;
  const variables = Object.fromEntries(given.map((a) => [a.name, valueFor(a.type, id, a.name)]));
  const res = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    payload: JSON.stringify({ query, variables }),
  });
  return { query, body: res.body };
}

describe('tenant isolation across the whole schema', () => {
  it('finds operations to walk (the walk is not vacuous)', () => {
    const names = operations().map((o) => o.field.name);
    expect(names).toContain('viewer');
    expect(names.length).toBeGreaterThan(0);
  });

  it("no query or mutation run by tenant A (API key or tenant admin) returns or changes any of tenant B's rows", async () => {
    const a = await tenantWithKey('Tenant A');
    const email = `admin-${randomUUID().slice(0, 8)}@a.test`;
    await db.users.create({
      email,
      passwordHash: await hashPassword('isolation walk password'),
      role: 'TENANT_ADMIN',
      tenantId: a.tenant.id,
    });
    const login = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({
        query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
        variables: { e: email, p: 'isolation walk password' },
      }),
    });
    const session = (login.json() as { data: { login: { token: string } } }).data.login.token;
    const b = await tenantWithKey('Tenant B');
    await populateTenant(db, b.tenant.id);
    const before = await snapshot(b.tenant.id);
    expect(before.ids.length).toBeGreaterThanOrEqual(POPULATED_TABLES.length);

    const foreign = [b.tenant.id, ...before.ids];
    const leaks: string[] = [];
    const outcomes = new Map<string, number>();
    let walked = 0;
    for (const [caller, token] of [
      ['api key', a.secret],
      ['tenant admin', session],
    ] as const) {
      for (const op of operations()) {
        // logout would end the walk's own session; it takes no ids.
        if (caller === 'tenant admin' && op.field.name === 'logout') continue;
        const ids = op.field.args.some(mentionsId) ? foreign : [randomUUID()];
        for (const id of ids) {
          const { query, body } = await run(op, id, token);
          walked++;
          const leaked = foreign.filter((f) => body.includes(f) && f !== id);
          // The id we sent may be echoed in an error message; never in data.
          const parsed = JSON.parse(body) as {
            data?: Record<string, unknown> | null;
            errors?: { extensions?: { code?: string } }[];
          };
          const data = parsed.data;
          const outcome = `${caller} ${op.field.name}:${parsed.errors?.[0]?.extensions?.code ?? 'OK'}`;
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          if (
            leaked.length > 0 ||
            (data && JSON.stringify(data).includes(id) && id !== a.tenant.id)
          ) {
            leaks.push(`${caller}: ${query} with ${id}: ${body.slice(0, 300)}`);
          }
        }
      }
    }
    expect(leaks).toEqual([]);
    if (process.env['ISOLATION_DEBUG']) console.log([...outcomes].sort());
    // A walk answered only by rate limits or crashes would prove nothing.
    // (login with made-up credentials is the one operation that must answer UNAUTHENTICATED.)
    const codes = new Set(
      [...outcomes.keys()].filter((k) => !/ login:/.test(k)).map((k) => k.split(':')[1]),
    );
    expect(codes).not.toContain('INTERNAL');
    expect(codes).not.toContain('RATE_LIMITED');
    expect(codes).not.toContain('UNAUTHENTICATED');
    expect(codes).toContain('OK');
    expect(walked).toBeGreaterThanOrEqual(2 * operations().length - 1);
    // Nothing of B's changed (mutations such as delete/revoke aimed at B's ids did nothing).
    expect(await snapshot(b.tenant.id)).toEqual(before);
  });
});
