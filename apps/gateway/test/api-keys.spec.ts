import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import {
  createDb,
  generateApiKeySecret,
  hashApiKeySecret,
  hashPassword,
  type ApiKey as DbApiKey,
  type Db,
  type Tenant,
} from '@likeness/db';
import { loadConfig } from '../src/config/config';
import { gql as post } from './support/gateway-harness';
import { createGateway } from '../src/bootstrap';
import { DB } from '../src/infra/infra.module';
import { ApiKeyCache, ApiKeyUsageRecorder, authInvalidationChannel } from '../src/api-keys';

// Each run has its own Redis prefix, so its invalidation channel is its own.
const REDIS_PREFIX = `likeness-test-keys-${randomUUID().slice(0, 8)}`;
const env = {
  DATABASE_URL: process.env['DATABASE_URL'],
  DATABASE_APP_URL: process.env['DATABASE_APP_URL'],
  REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  REDIS_PREFIX,
  LOG_LEVEL: 'silent',
};
const SECRET_RE = /^lk_(live|test)_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$/;

const KEY_FIELDS =
  'id name prefix environment scopes status createdAt expiresAt revokedAt lastUsedAt spendCapCents';
const CREATE = `mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { ${KEY_FIELDS} } } }`;
const REVOKE = `mutation($id: ID!) { revokeApiKey(id: $id) { ${KEY_FIELDS} } }`;
const ROTATE = `mutation($id: ID!, $grace: Int) {
  rotateApiKey(id: $id, gracePeriodSeconds: $grace) { secret apiKey { ${KEY_FIELDS} } } }`;
const LIST = `query($first: Int, $after: String, $includeRevoked: Boolean) {
  apiKeys(first: $first, after: $after, includeRevoked: $includeRevoked) {
    edges { cursor node { ${KEY_FIELDS} } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;
const VIEWER = '{ viewer { kind apiKey { id prefix scopes } tenant { id status } } }';

interface ApiKeyJson {
  id: string;
  name: string;
  prefix: string;
  environment: 'LIVE' | 'TEST';
  scopes: string[];
  status: 'ACTIVE' | 'EXPIRED' | 'REVOKED';
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  spendCapCents: number | null;
}
interface GqlError {
  message: string;
  extensions: { code: string; field?: string; reason?: string };
}
interface GqlResult<T> {
  status: number;
  data: T | null | undefined;
  errors: GqlError[] | undefined;
  raw: string;
}

let gatewayA: NestFastifyApplication;
let gatewayB: NestFastifyApplication;
let db: Db;
let redis: Redis;

async function startGateway(): Promise<NestFastifyApplication> {
  const app = await createGateway(loadConfig(env));
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

/** The value, or a failed test when it is missing. */
function present<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw new Error('expected a value');
  return value;
}

/** Polls `probe` until it returns a value other than undefined; fails after `withinMs`. */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  withinMs: number,
): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${withinMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeAll(async () => {
  db = createDb(loadConfig(env).database);
  redis = new Redis(env.REDIS_URL, { lazyConnect: true });
  [gatewayA, gatewayB] = await Promise.all([startGateway(), startGateway()]);
  // Both replicas serve from their caches only once subscribed to the invalidation channel.
  await until(
    'both caches to subscribe',
    () => (gatewayA.get(ApiKeyCache).live && gatewayB.get(ApiKeyCache).live ? true : undefined),
    10_000,
  );
});

afterAll(async () => {
  await Promise.all([gatewayA?.close(), gatewayB?.close()]);
  // Nothing of ours is stored in Redis (pub/sub only), but other modules may use the prefix.
  const keys = await redis.keys(`${REDIS_PREFIX}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  await db?.close();
});

afterEach(() => {
  jest.restoreAllMocks();
});

async function gql<T>(
  app: NestFastifyApplication,
  query: string,
  variables: Record<string, unknown>,
  token: string | undefined,
): Promise<GqlResult<T>> {
  const res = await post(app, { query, variables, ...(token ? { token } : {}) });
  const body = res.body as { data?: T | null; errors?: GqlError[] };
  return { status: res.status, data: body.data, errors: body.errors, raw: res.raw };
}

async function newTenant(): Promise<Tenant> {
  const slug = `keys-${randomUUID().slice(0, 8)}`;
  return db.tenants.create({ name: `Tenant ${slug}`, slug, plan: 'starter' });
}

/** A key written straight to the database, to bootstrap API calls. */
async function seedKey(
  tenantId: string,
  scopes: string[],
  expiresAt: Date | null = null,
): Promise<{ key: DbApiKey; secret: string }> {
  const g = generateApiKeySecret('test');
  const key = await db.apiKeys.create(tenantId, {
    name: 'seeded',
    prefix: g.prefix,
    secretHash: g.secretHash,
    scopes,
    expiresAt,
  });
  return { key, secret: g.secret };
}

async function createKey(
  token: string,
  input: Record<string, unknown>,
  app = gatewayA,
): Promise<{ apiKey: ApiKeyJson; secret: string }> {
  const res = await gql<{ createApiKey: { apiKey: ApiKeyJson; secret: string } }>(
    app,
    CREATE,
    { input },
    token,
  );
  expect(res.errors).toBeUndefined();
  const created = res.data?.createApiKey;
  if (!created) throw new Error(`createApiKey failed: ${res.raw}`);
  return created;
}

async function viewerStatus(app: NestFastifyApplication, secret: string): Promise<number> {
  return (await gql(app, VIEWER, {}, secret)).status;
}

async function listAll(token: string, includeRevoked = false): Promise<ApiKeyJson[]> {
  const res = await gql<{ apiKeys: { nodes: { id: string }; edges: { node: ApiKeyJson }[] } }>(
    gatewayA,
    LIST,
    { first: 100, includeRevoked },
    token,
  );
  expect(res.errors).toBeUndefined();
  return res.data?.apiKeys.edges.map((e) => e.node) ?? [];
}

/** Audit actions on a target, oldest first. */
const auditActions = async (tenantId: string, target: string): Promise<string[]> =>
  (await db.auditLog.list(tenantId))
    .filter((e) => e.target === target)
    .map((e) => e.action)
    .reverse();

/** Counts calls of the replica's database key lookup (every cache miss makes one). */
function countLookups(app: NestFastifyApplication): jest.SpyInstance {
  return jest.spyOn(app.get<Db>(DB).apiKeys, 'authenticate');
}

describe('createApiKey and apiKeys', () => {
  it('returns a working secret once, stores only its hash, lists the prefix only', async () => {
    const tenant = await newTenant();
    const admin = await seedKey(tenant.id, ['*']);
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const created = await createKey(admin.secret, {
      name: '  CI deploys  ',
      scopes: ['renders:write', 'avatars:read', 'renders:write'],
      expiresAt,
      spendCapCents: 2500,
    });
    expect(created.secret).toMatch(SECRET_RE);
    expect(created.secret.startsWith('lk_live_')).toBe(true);
    expect(created.apiKey).toMatchObject({
      name: 'CI deploys',
      prefix: created.secret.slice(0, 16),
      environment: 'LIVE',
      scopes: ['avatars:read', 'renders:write'],
      status: 'ACTIVE',
      expiresAt,
      revokedAt: null,
      lastUsedAt: null,
      spendCapCents: 2500,
    });

    const viewer = await gql<{ viewer: { apiKey: { id: string; scopes: string[] } } }>(
      gatewayA,
      VIEWER,
      {},
      created.secret,
    );
    expect(viewer.status).toBe(200);
    expect(viewer.data?.viewer.apiKey).toMatchObject({
      id: created.apiKey.id,
      scopes: ['avatars:read', 'renders:write'],
    });

    // Only the sha256 is stored: the secret's hash finds the key.
    expect((await db.apiKeys.authenticate(hashApiKeySecret(created.secret)))?.apiKeyId).toBe(
      created.apiKey.id,
    );
    const owner = new Client({ connectionString: env.DATABASE_URL });
    await owner.connect();
    try {
      const row = await owner.query<{ secret_hash: string; whole: string }>(
        'SELECT secret_hash, to_jsonb(k)::text AS whole FROM api_keys k WHERE id = $1',
        [created.apiKey.id],
      );
      expect(row.rows[0]?.secret_hash).toBe(hashApiKeySecret(created.secret));
      expect(row.rows[0]?.whole).not.toContain(created.secret.slice(17));
    } finally {
      await owner.end();
    }

    const listing = await gql<{ apiKeys: { edges: { node: ApiKeyJson }[] } }>(
      gatewayA,
      LIST,
      {},
      admin.secret,
    );
    const listed = listing.data?.apiKeys.edges.map((e) => e.node);
    expect(listed?.find((k) => k.id === created.apiKey.id)?.prefix).toBe(created.apiKey.prefix);
    expect(listing.raw).not.toContain(created.secret.slice(17));
    // The schema has no way to ask for a secret after creation.
    const secretField = await gql(gatewayA, '{ apiKeys { nodes { secret } } }', {}, admin.secret);
    expect(secretField.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');

    expect(await auditActions(tenant.id, created.apiKey.id)).toEqual(['api_key.create']);
    const entry = (await db.auditLog.list(tenant.id)).find((e) => e.target === created.apiKey.id);
    expect(entry?.actor).toBe(`api_key:${admin.key.id}`);
    expect(JSON.stringify(entry)).not.toContain(created.secret.slice(17));
  });

  it('makes lk_test_ secrets for environment TEST', async () => {
    const tenant = await newTenant();
    const admin = await seedKey(tenant.id, ['keys:write', 'avatars:read']);
    const created = await createKey(admin.secret, {
      name: 'sandbox',
      scopes: ['avatars:read'],
      environment: 'TEST',
    });
    expect(created.secret).toMatch(/^lk_test_/);
    expect(created.apiKey.environment).toBe('TEST');
    expect(await viewerStatus(gatewayA, created.secret)).toBe(200);
  });

  it('pages newest first with opaque cursors and hides revoked keys unless asked', async () => {
    const tenant = await newTenant();
    const admin = await seedKey(tenant.id, ['*']);
    const made: string[] = [admin.key.id];
    for (let i = 0; i < 4; i += 1) {
      made.push(
        (await createKey(admin.secret, { name: `k${i}`, scopes: ['usage:read'] })).apiKey.id,
      );
    }
    const revoked = String(made[2]);
    expect((await gql(gatewayA, REVOKE, { id: revoked }, admin.secret)).errors).toBeUndefined();

    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page += 1) {
      const res: GqlResult<{
        apiKeys: {
          edges: { cursor: string; node: ApiKeyJson }[];
          nodes: { id: string }[];
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
        };
      }> = await gql(gatewayA, LIST, { first: 2, after }, admin.secret);
      expect(res.errors).toBeUndefined();
      const conn = present(res.data).apiKeys;
      expect(conn.nodes.map((n) => n.id)).toEqual(conn.edges.map((e) => e.node.id));
      seen.push(...conn.nodes.map((n) => n.id));
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    const newestFirst = [...made].reverse();
    expect(seen).toEqual(newestFirst.filter((id) => id !== revoked));
    const all = await listAll(admin.secret, true);
    expect(all.map((k) => k.id)).toEqual(newestFirst);
    expect(all.find((k) => k.id === revoked)?.status).toBe('REVOKED');
  });
});

describe('access', () => {
  it('answers FORBIDDEN MISSING_SCOPE to a key without keys:write, and writes nothing', async () => {
    const tenant = await newTenant();
    const reader = await seedKey(tenant.id, ['avatars:read']);
    const res = await gql(
      gatewayA,
      CREATE,
      { input: { name: 'x', scopes: ['avatars:read'] } },
      reader.secret,
    );
    expect(res.status).toBe(403);
    expect(res.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'MISSING_SCOPE',
    });
    expect((await db.apiKeys.list(tenant.id)).map((k) => k.id)).toEqual([reader.key.id]);

    const list = await gql(gatewayA, LIST, {}, reader.secret);
    expect(list.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'MISSING_SCOPE',
    });
    const keysReader = await seedKey(tenant.id, ['keys:read']);
    expect((await gql(gatewayA, LIST, {}, keysReader.secret)).errors).toBeUndefined();
    const revoke = await gql(gatewayA, REVOKE, { id: reader.key.id }, keysReader.secret);
    expect(revoke.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'MISSING_SCOPE',
    });
  });

  it.each<[string, string[]]>([
    ['a scope it lacks', ['renders:write']],
    ['every scope', ['*']],
  ])('lets no key grant %s (FORBIDDEN SCOPE_NOT_HELD on scopes)', async (_, scopes) => {
    const tenant = await newTenant();
    const writer = await seedKey(tenant.id, ['keys:write', 'avatars:read']);
    const res = await gql(gatewayA, CREATE, { input: { name: 'x', scopes } }, writer.secret);
    expect(res.status).toBe(403);
    expect(res.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'SCOPE_NOT_HELD',
      field: 'scopes',
    });
    expect(await db.apiKeys.list(tenant.id)).toHaveLength(1);
  });

  it('lets no key rotate a key whose scopes it lacks', async () => {
    const tenant = await newTenant();
    const writer = await seedKey(tenant.id, ['keys:write']);
    const wide = await seedKey(tenant.id, ['*']);
    const res = await gql(gatewayA, ROTATE, { id: wide.key.id, grace: 0 }, writer.secret);
    expect(res.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'SCOPE_NOT_HELD',
    });
    expect(await db.apiKeys.list(tenant.id)).toHaveLength(2);
    expect((await db.apiKeys.findById(tenant.id, wide.key.id))?.revokedAt).toBeNull();
  });

  it('admits TENANT_ADMIN users to every operation and TENANT_VIEWER users to the listing', async () => {
    const tenant = await newTenant();
    const password = `pw-${randomUUID()}`;
    const passwordHash = await hashPassword(password);
    const login = async (
      role: 'TENANT_ADMIN' | 'TENANT_VIEWER',
    ): Promise<{ token: string; id: string }> => {
      const email = `${role.toLowerCase()}-${randomUUID().slice(0, 8)}@example.test`;
      const user = await db.users.create({ email, passwordHash, role, tenantId: tenant.id });
      const res = await gql<{ login: { token: string } }>(
        gatewayA,
        'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
        { e: email, p: password },
        undefined,
      );
      const token = res.data?.login.token;
      if (!token) throw new Error(`login failed: ${res.raw}`);
      return { token, id: user.id };
    };
    const admin = await login('TENANT_ADMIN');
    const viewer = await login('TENANT_VIEWER');

    const created = await createKey(admin.token, { name: 'by a user', scopes: ['*'] });
    expect(
      (await db.auditLog.list(tenant.id)).find((e) => e.target === created.apiKey.id)?.actor,
    ).toBe(`user:${admin.id}`);
    expect((await listAll(viewer.token)).map((k) => k.id)).toEqual([created.apiKey.id]);
    const denied = await gql(
      gatewayA,
      CREATE,
      { input: { name: 'no', scopes: ['*'] } },
      viewer.token,
    );
    expect(denied.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'ROLE_NOT_ALLOWED',
    });
    const rotated = await gql(gatewayA, ROTATE, { id: created.apiKey.id, grace: 0 }, admin.token);
    expect(rotated.errors).toBeUndefined();
    const revoked = await gql(gatewayA, REVOKE, { id: created.apiKey.id }, admin.token);
    expect(revoked.errors).toBeUndefined();
    expect(await db.apiKeys.list(tenant.id)).toHaveLength(2);
  });
});

describe('the authentication cache', () => {
  it('does not query the database again for a cached key', async () => {
    const tenant = await newTenant();
    const { secret } = await seedKey(tenant.id, ['avatars:read']);
    const lookups = countLookups(gatewayA);
    expect(await viewerStatus(gatewayA, secret)).toBe(200);
    expect(lookups).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 5; i += 1) expect(await viewerStatus(gatewayA, secret)).toBe(200);
    expect(lookups).toHaveBeenCalledTimes(1);
    // Unknown keys are not cached: a key created a moment later works at once.
    const unknown = generateApiKeySecret('test').secret;
    expect(await viewerStatus(gatewayA, unknown)).toBe(401);
    expect(await viewerStatus(gatewayA, unknown)).toBe(401);
    expect(lookups).toHaveBeenCalledTimes(3);
  });

  it('stops a revoked key at once on this replica and within a second on another', async () => {
    const tenant = await newTenant();
    const admin = await seedKey(tenant.id, ['*']);
    const { apiKey, secret } = await createKey(admin.secret, {
      name: 'doomed',
      scopes: ['avatars:read'],
    });
    // Both replicas have it cached: B's second request does not reach the database.
    const lookupsB = countLookups(gatewayB);
    expect(await viewerStatus(gatewayA, secret)).toBe(200);
    expect(await viewerStatus(gatewayB, secret)).toBe(200);
    expect(await viewerStatus(gatewayB, secret)).toBe(200);
    expect(lookupsB).toHaveBeenCalledTimes(1);

    const revoked = await gql<{ revokeApiKey: ApiKeyJson }>(
      gatewayA,
      REVOKE,
      { id: apiKey.id },
      admin.secret,
    );
    expect(revoked.errors).toBeUndefined();
    expect(revoked.data?.revokeApiKey).toMatchObject({ id: apiKey.id, status: 'REVOKED' });
    expect(revoked.data?.revokeApiKey.revokedAt).not.toBeNull();

    const onA = await gql(gatewayA, VIEWER, {}, secret);
    expect(onA.status).toBe(401);
    expect(onA.errors?.[0]?.message).toMatch(/revoked/i);
    await until(
      'replica B to refuse the revoked key',
      async () => ((await viewerStatus(gatewayB, secret)) === 401 ? true : undefined),
      1_000,
    );
    expect(await auditActions(tenant.id, apiKey.id)).toEqual(['api_key.create', 'api_key.revoke']);

    // Revoking again is harmless and keeps the first revocation time.
    const again = await gql<{ revokeApiKey: ApiKeyJson }>(
      gatewayB,
      REVOKE,
      { id: apiKey.id },
      admin.secret,
    );
    expect(again.data?.revokeApiKey.revokedAt).toBe(revoked.data?.revokeApiKey.revokedAt);
    expect(await auditActions(tenant.id, apiKey.id)).toEqual(['api_key.create', 'api_key.revoke']);
  });

  it("drops a tenant's keys on every replica through invalidateTenant", async () => {
    const tenant = await newTenant();
    const { secret } = await seedKey(tenant.id, ['avatars:read']);
    expect(await viewerStatus(gatewayA, secret)).toBe(200);
    expect(await viewerStatus(gatewayB, secret)).toBe(200);
    const owner = new Client({ connectionString: env.DATABASE_URL });
    await owner.connect();
    try {
      await owner.query(`UPDATE tenants SET status = 'SUSPENDED' WHERE id = $1`, [tenant.id]);
    } finally {
      await owner.end();
    }
    // Cached: the suspension is not seen until someone says so.
    expect(await viewerStatus(gatewayB, secret)).toBe(200);
    await gatewayA.get(ApiKeyCache).invalidateTenant(tenant.id);
    expect(await viewerStatus(gatewayA, secret)).toBe(403);
    await until(
      'replica B to see the suspension',
      async () => ((await viewerStatus(gatewayB, secret)) === 403 ? true : undefined),
      1_000,
    );
  });

  it('judges expiry on every request, cached or not', async () => {
    const tenant = await newTenant();
    const expired = await seedKey(tenant.id, ['avatars:read'], new Date(Date.now() - 1000));
    const res = await gql(gatewayA, VIEWER, {}, expired.secret);
    expect(res.status).toBe(401);
    expect(res.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    expect(res.errors?.[0]?.message).toMatch(/expired/i);

    const admin = await seedKey(tenant.id, ['*']);
    const soon = await createKey(admin.secret, {
      name: 'short-lived',
      scopes: ['avatars:read'],
      expiresAt: new Date(Date.now() + 1_500).toISOString(),
    });
    const lookups = countLookups(gatewayA);
    expect(await viewerStatus(gatewayA, soon.secret)).toBe(200);
    await until(
      'the cached key to expire',
      async () => ((await viewerStatus(gatewayA, soon.secret)) === 401 ? true : undefined),
      10_000,
    );
    expect(lookups).toHaveBeenCalledTimes(1);
    expect((await listAll(admin.secret)).find((k) => k.id === soon.apiKey.id)?.status).toBe(
      'EXPIRED',
    );
  });

  it('unsubscribes and disconnects when a replica shuts down', async () => {
    const channel = authInvalidationChannel(REDIS_PREFIX);
    const subscribers = async (): Promise<number> => {
      const reply = (await redis.pubsub('NUMSUB', channel)) as [string, number];
      return Number(reply[1]);
    };
    expect(await subscribers()).toBe(2);
    const third = await startGateway();
    await until(
      'the third replica to subscribe',
      () => (third.get(ApiKeyCache).live ? true : undefined),
      10_000,
    );
    expect(await subscribers()).toBe(3);
    await third.close();
    expect(third.get(ApiKeyCache).live).toBe(false);
    await until(
      'the subscriber to leave',
      async () => ((await subscribers()) === 2 ? true : undefined),
      5_000,
    );
  });
});

describe('rotateApiKey', () => {
  it('keeps the old key working during the grace period, on every replica, then stops it', async () => {
    const tenant = await newTenant();
    const admin = await seedKey(tenant.id, ['*']);
    const expiresAt = new Date(Date.now() + 7 * 86_400_000).toISOString();
    const old = await createKey(admin.secret, {
      name: 'rotating',
      scopes: ['avatars:read', 'renders:read'],
      expiresAt,
      environment: 'TEST',
      spendCapCents: 900,
    });
    expect(await viewerStatus(gatewayA, old.secret)).toBe(200);
    expect(await viewerStatus(gatewayB, old.secret)).toBe(200);

    const res = await gql<{ rotateApiKey: { apiKey: ApiKeyJson; secret: string } }>(
      gatewayA,
      ROTATE,
      { id: old.apiKey.id, grace: 1 },
      admin.secret,
    );
    expect(res.errors).toBeUndefined();
    const fresh = present(res.data).rotateApiKey;
    expect(fresh.secret).toMatch(/^lk_test_/);
    expect(fresh.secret).not.toBe(old.secret);
    expect(fresh.apiKey).toMatchObject({
      name: 'rotating',
      scopes: ['avatars:read', 'renders:read'],
      expiresAt,
      environment: 'TEST',
      spendCapCents: 900,
      revokedAt: null,
      status: 'ACTIVE',
    });
    expect(fresh.apiKey.id).not.toBe(old.apiKey.id);

    for (const app of [gatewayA, gatewayB]) {
      expect(await viewerStatus(app, fresh.secret)).toBe(200);
    }
    const oldNow = (await listAll(admin.secret)).find((k) => k.id === old.apiKey.id);
    expect(oldNow?.revokedAt).not.toBeNull();
    // The scheduled revocation may already have passed on a slow machine; until then it works.
    if (oldNow?.status === 'ACTIVE') {
      expect(new Date(String(oldNow.revokedAt)).getTime()).toBeGreaterThan(Date.now() - 1_000);
    }

    for (const app of [gatewayA, gatewayB]) {
      await until(
        'the old key to stop after the grace period',
        async () => ((await viewerStatus(app, old.secret)) === 401 ? true : undefined),
        10_000,
      );
      expect(await viewerStatus(app, fresh.secret)).toBe(200);
    }
    expect(await auditActions(tenant.id, old.apiKey.id)).toEqual([
      'api_key.create',
      'api_key.rotate',
    ]);
  });

  it('schedules the old key 24 hours ahead by default and both keys work meanwhile', async () => {
    const tenant = await newTenant();
    const admin = await seedKey(tenant.id, ['*']);
    const old = await createKey(admin.secret, { name: 'daily', scopes: ['usage:read'] });
    expect(await viewerStatus(gatewayB, old.secret)).toBe(200);
    const before = Date.now();
    const res = await gql<{ rotateApiKey: { secret: string } }>(
      gatewayA,
      ROTATE,
      { id: old.apiKey.id },
      admin.secret,
    );
    expect(res.errors).toBeUndefined();
    const revokedAt = (await db.apiKeys.findById(tenant.id, old.apiKey.id))?.revokedAt?.getTime();
    expect(revokedAt).toBeGreaterThanOrEqual(before + 86_400_000 - 1_000);
    expect(revokedAt).toBeLessThanOrEqual(Date.now() + 86_400_000 + 1_000);
    for (const app of [gatewayA, gatewayB]) {
      expect(await viewerStatus(app, old.secret)).toBe(200);
      expect(await viewerStatus(app, present(res.data).rotateApiKey.secret)).toBe(200);
    }
    // Revoking during the grace period stops the old key at once.
    expect(
      (await gql(gatewayB, REVOKE, { id: old.apiKey.id }, admin.secret)).errors,
    ).toBeUndefined();
    expect(await viewerStatus(gatewayB, old.secret)).toBe(401);
    await until(
      'replica A to refuse the key revoked during its grace',
      async () => ((await viewerStatus(gatewayA, old.secret)) === 401 ? true : undefined),
      1_000,
    );
  });
});

describe('lastUsedAt', () => {
  it('is recorded without a write per request', async () => {
    const tenant = await newTenant();
    const { key, secret } = await seedKey(tenant.id, ['avatars:read']);
    const touches = jest.spyOn(gatewayA.get<Db>(DB).apiKeys, 'touchLastUsed');
    const before = Date.now();
    for (let i = 0; i < 5; i += 1) expect(await viewerStatus(gatewayA, secret)).toBe(200);
    const lastUsedAt = await until(
      'lastUsedAt to be written',
      async () => (await db.apiKeys.findById(tenant.id, key.id))?.lastUsedAt ?? undefined,
      10_000,
    );
    expect(lastUsedAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
    const touchesOf = (): number =>
      touches.mock.calls.filter(([, ids]) => ids.includes(key.id)).length;
    expect(touchesOf()).toBe(1);
    // More use within the minute writes nothing more.
    for (let i = 0; i < 5; i += 1) expect(await viewerStatus(gatewayA, secret)).toBe(200);
    await gatewayA.get(ApiKeyUsageRecorder).flush();
    expect(touchesOf()).toBe(1);
  });
});

describe('bad inputs', () => {
  let tenant: Tenant;
  let other: Tenant;
  let admin: { key: DbApiKey; secret: string };
  let foreign: { key: DbApiKey; secret: string };
  let revokedKey: DbApiKey;

  beforeAll(async () => {
    tenant = await newTenant();
    other = await newTenant();
    admin = await seedKey(tenant.id, ['*']);
    foreign = await seedKey(other.id, ['*']);
    revokedKey = (await seedKey(tenant.id, ['usage:read'])).key;
    await db.apiKeys.revoke(tenant.id, revokedKey.id);
  });

  const past = new Date(Date.now() - 60_000).toISOString();
  const create = (input: Record<string, unknown>) => ({ query: CREATE, variables: { input } });
  const cases: [
    string,
    () => { query: string; variables: Record<string, unknown> },
    string,
    string | undefined,
  ][] = [
    ['empty name', () => create({ name: '', scopes: ['usage:read'] }), 'BAD_USER_INPUT', 'name'],
    ['blank name', () => create({ name: '   ', scopes: ['usage:read'] }), 'BAD_USER_INPUT', 'name'],
    [
      'overlong name',
      () => create({ name: 'n'.repeat(101), scopes: ['usage:read'] }),
      'BAD_USER_INPUT',
      'name',
    ],
    [
      'name with a newline',
      () => create({ name: 'a\nb', scopes: ['usage:read'] }),
      'BAD_USER_INPUT',
      'name',
    ],
    ['no scopes', () => create({ name: 'k', scopes: [] }), 'BAD_USER_INPUT', 'scopes'],
    [
      'unknown scope',
      () => create({ name: 'k', scopes: ['usage:read', 'root'] }),
      'BAD_USER_INPUT',
      'scopes',
    ],
    [
      'expiresAt in the past',
      () => create({ name: 'k', scopes: ['usage:read'], expiresAt: past }),
      'BAD_USER_INPUT',
      'expiresAt',
    ],
    [
      'negative spend cap',
      () => create({ name: 'k', scopes: ['usage:read'], spendCapCents: -1 }),
      'BAD_USER_INPUT',
      'spendCapCents',
    ],
    [
      'unknown environment',
      () => create({ name: 'k', scopes: ['usage:read'], environment: 'PROD' }),
      'BAD_USER_INPUT',
      undefined,
    ],
    [
      'grace too long',
      () => ({ query: ROTATE, variables: { id: admin.key.id, grace: 7 * 86_400 + 1 } }),
      'BAD_USER_INPUT',
      'gracePeriodSeconds',
    ],
    [
      'negative grace',
      () => ({ query: ROTATE, variables: { id: admin.key.id, grace: -1 } }),
      'BAD_USER_INPUT',
      'gracePeriodSeconds',
    ],
    [
      'malformed id (rotate)',
      () => ({ query: ROTATE, variables: { id: 'key-1', grace: 0 } }),
      'BAD_USER_INPUT',
      'id',
    ],
    [
      'malformed id (revoke)',
      () => ({ query: REVOKE, variables: { id: "1' OR '1'='1" } }),
      'BAD_USER_INPUT',
      'id',
    ],
    [
      'foreign id (revoke)',
      () => ({ query: REVOKE, variables: { id: foreign.key.id } }),
      'NOT_FOUND',
      undefined,
    ],
    [
      'foreign id (rotate)',
      () => ({ query: ROTATE, variables: { id: foreign.key.id, grace: 0 } }),
      'NOT_FOUND',
      undefined,
    ],
    [
      'unknown id',
      () => ({ query: REVOKE, variables: { id: randomUUID() } }),
      'NOT_FOUND',
      undefined,
    ],
    [
      'rotating a revoked key',
      () => ({ query: ROTATE, variables: { id: revokedKey.id, grace: 0 } }),
      'CONFLICT',
      undefined,
    ],
    ['page size 0', () => ({ query: LIST, variables: { first: 0 } }), 'BAD_USER_INPUT', 'first'],
    [
      'page size 101',
      () => ({ query: LIST, variables: { first: 101 } }),
      'BAD_USER_INPUT',
      'first',
    ],
    [
      'a forged cursor',
      () => ({
        query: LIST,
        variables: { after: Buffer.from('2020-01-01|x').toString('base64url') },
      }),
      'BAD_USER_INPUT',
      'after',
    ],
    [
      'a garbage cursor',
      () => ({ query: LIST, variables: { after: '!!' } }),
      'BAD_USER_INPUT',
      'after',
    ],
  ];

  const STATUS: Record<string, number> = { BAD_USER_INPUT: 400, NOT_FOUND: 404, CONFLICT: 409 };

  const table = cases.map(
    ([label, make, code, field]) => [label, code, field ?? '-', make] as const,
  );
  it.each(table)('%s → %s (field %s), nothing written', async (_, code, field, make) => {
    const snapshot = async () => ({
      keys: (await db.apiKeys.list(tenant.id))
        .concat(await db.apiKeys.list(other.id))
        .map((k) => ({ id: k.id, revokedAt: k.revokedAt })),
      audit: (await db.auditLog.list(tenant.id)).length + (await db.auditLog.list(other.id)).length,
    });
    const before = await snapshot();
    const { query, variables } = make();
    const res = await gql(gatewayA, query, variables, admin.secret);
    expect(res.status).toBe(STATUS[code]);
    expect(res.errors?.[0]?.extensions.code).toBe(code);
    if (field !== '-') expect(res.errors?.[0]?.extensions.field).toBe(field);
    expect(res.data ?? null).toBeNull();
    expect(await snapshot()).toEqual(before);
    // The other tenant's key still works.
    expect(await viewerStatus(gatewayA, foreign.secret)).toBe(200);
  });
});
