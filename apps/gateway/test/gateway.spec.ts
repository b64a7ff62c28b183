import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { createDb, generateApiKeySecret, type Db } from '@likeness/db';
import { loadConfig } from '../src/config/config';
import { createGateway } from '../src/bootstrap';
import { printGatewaySchema } from '../src/graphql/print-schema';
import { gql as post } from './support/gateway-harness';
import { ApiKeyCache } from '../src/api-keys';

const env = {
  DATABASE_URL: process.env['DATABASE_URL'],
  DATABASE_APP_URL: process.env['DATABASE_APP_URL'],
  REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  LOG_LEVEL: 'silent',
};

const VIEWER =
  '{ viewer { kind tenant { id name plan status } apiKey { id name prefix scopes } } }';
const GQL_JSON = 'application/graphql-response+json';

let app: NestFastifyApplication;
let db: Db;

beforeAll(async () => {
  app = await createGateway(loadConfig(env));
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  db = createDb(loadConfig(env).database);
});

afterAll(async () => {
  await app?.close();
  await db?.close();
});

async function newTenantWithKey(scopes = ['renders:read']) {
  const slug = `t-${randomUUID().slice(0, 8)}`;
  const tenant = await db.tenants.create({ name: `Tenant ${slug}`, slug, plan: 'starter' });
  const key = generateApiKeySecret('test');
  const apiKey = await db.apiKeys.create(tenant.id, {
    name: 'ci key',
    prefix: key.prefix,
    secretHash: key.secretHash,
    scopes,
    expiresAt: null,
  });
  return { tenant, apiKey, secret: key.secret };
}

async function gql(query: string, token?: string) {
  const res = await post(app, { query, ...(token ? { token } : {}) });
  return { status: res.status, headers: res.headers, body: res.body as GqlBody };
}

interface GqlBody {
  data?: {
    viewer?: {
      kind: string;
      tenant: { id: string; name: string; plan: string; status: string };
      apiKey: { id: string; prefix: string; scopes: string[] };
    };
  } | null;
  errors?: { message: string; extensions: { code: string; reason?: string; requestId?: string } }[];
}

describe('health', () => {
  it('answers /healthz without credentials', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('is ready when Postgres and Redis answer', async () => {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      status: 'ready',
      checks: { postgres: { status: 'ok' }, redis: { status: 'ok' } },
    });
  });

  it.each([
    ['Redis', { REDIS_URL: 'redis://127.0.0.1:1' }, { postgres: 'ok', redis: 'fail' }],
    [
      'Postgres',
      {
        DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/none',
        DATABASE_APP_URL: 'postgresql://likeness_app@127.0.0.1:1/none',
      },
      { postgres: 'fail', redis: 'ok' },
    ],
  ])(
    'is not ready, and says which dependency failed, when %s is unreachable',
    async (_, broken, expected) => {
      const gateway = await createGateway(
        loadConfig({ ...env, ...broken, READINESS_TIMEOUT_MS: '500' }),
      );
      try {
        await gateway.init();
        await gateway.getHttpAdapter().getInstance().ready();
        const res = await gateway.inject({ method: 'GET', url: '/readyz' });
        expect(res.statusCode).toBe(503);
        const body = res.json() as {
          checks: { postgres: { status: string }; redis: { status: string } };
        };
        expect(body.checks.postgres.status).toBe(expected.postgres);
        expect(body.checks.redis.status).toBe(expected.redis);
      } finally {
        await gateway.close();
      }
    },
  );
});

describe('viewer', () => {
  it('returns the API key and its tenant', async () => {
    const { tenant, apiKey, secret } = await newTenantWithKey(['renders:read', 'renders:write']);
    const res = await gql(VIEWER, secret);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain(GQL_JSON);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.viewer).toEqual({
      kind: 'API_KEY',
      tenant: { id: tenant.id, name: tenant.name, plan: 'starter', status: 'ACTIVE' },
      apiKey: {
        id: apiKey.id,
        name: 'ci key',
        prefix: apiKey.prefix,
        scopes: ['renders:read', 'renders:write'],
      },
    });
    expect(JSON.stringify(res.body)).not.toContain(secret);
  });

  it('answers GET for queries (GraphQL over HTTP)', async () => {
    const { tenant, secret } = await newTenantWithKey();
    const res = await app.inject({
      method: 'GET',
      url: `/graphql?query=${encodeURIComponent('{ viewer { tenant { id } } }')}`,
      headers: {
        authorization: `Bearer ${secret}`,
        accept: GQL_JSON,
        'apollo-require-preflight': 'true',
      },
    });
    expect(res.statusCode).toBe(200);
    expect((res.json() as GqlBody).data?.viewer?.tenant.id).toBe(tenant.id);
  });

  const badCredentials: [string, string | undefined, string][] = [
    ['no credentials', undefined, 'UNAUTHENTICATED'],
    ['a malformed key', 'lk_test_short', 'UNAUTHENTICATED'],
    ['an unknown key', generateApiKeySecret('live').secret, 'UNAUTHENTICATED'],
    ['a token of unknown type', 'not-a-key', 'UNAUTHENTICATED'],
  ];
  it.each(badCredentials)('rejects %s with %s and HTTP 401', async (_label, token, code) => {
    const res = await gql(VIEWER, token);
    expect(res.status).toBe(401);
    expect(res.body.data ?? null).toBeNull();
    expect(res.body.errors?.[0]?.extensions.code).toBe(code);
    expect(res.body.errors?.[0]?.extensions.requestId).toEqual(expect.any(String));
  });

  it('rejects a revoked key', async () => {
    const { tenant, apiKey, secret } = await newTenantWithKey();
    expect((await gql(VIEWER, secret)).status).toBe(200);
    await db.apiKeys.revoke(tenant.id, apiKey.id);
    // A change made behind the gateway's back must tell the replicas' API key caches.
    await app.get(ApiKeyCache).invalidateKey(tenant.id, apiKey.id);
    const res = await gql(VIEWER, secret);
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0]?.message).toMatch(/revoked/i);
  });

  it("gives a suspended tenant's keys FORBIDDEN with a reason", async () => {
    const { tenant, secret } = await newTenantWithKey();
    const owner = new Client({ connectionString: env.DATABASE_URL });
    await owner.connect();
    try {
      await owner.query(`UPDATE tenants SET status = 'SUSPENDED' WHERE id = $1`, [tenant.id]);
    } finally {
      await owner.end();
    }
    const res = await gql(VIEWER, secret);
    expect(res.status).toBe(403);
    expect(res.body.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'TENANT_SUSPENDED',
    });
  });

  it('maps invalid queries to BAD_USER_INPUT with HTTP 400', async () => {
    const { secret } = await newTenantWithKey();
    const res = await gql('{ viewer { noSuchField } }', secret);
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });

  it("echoes a caller's sane request id and replaces an insane one", async () => {
    const ok = await app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'abc-123' },
    });
    expect(ok.headers['x-request-id']).toBe('abc-123');
    const bad = await app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'a b\u0001' },
    });
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('schema.graphql', () => {
  it('is up to date with the code (run `nx run gateway:schema` after changing resolvers)', async () => {
    const committed = readFileSync(join(__dirname, '..', 'schema.graphql'), 'utf8');
    expect(await printGatewaySchema()).toBe(committed);
  });
});
