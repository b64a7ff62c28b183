// Identity: login / logout / session tokens, login brute-force protection, and platform
// administration (tenants, users), through the real gateway against Postgres and Redis.
import 'reflect-metadata';
import { createHash, randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { createDb, generateApiKeySecret, hashPassword, type Db } from '@likeness/db';
import { createGateway } from '../src/bootstrap';
import { ConfigError, loadConfig } from '../src/config/config';
import { gql as post } from './support/gateway-harness';
import { EventBus } from '../src/realtime';
import { tenantUpdatedTopic } from '../src/realtime/tenant-events';

const MAX_FAILURES = 3;
const MAX_FAILURES_PER_IP = 6;
const LOCKOUT_SECONDS = 600;
const REDIS_PREFIX = `test-identity-${randomUUID().slice(0, 8)}`;
const env = {
  DATABASE_URL: process.env['DATABASE_URL'],
  DATABASE_APP_URL: process.env['DATABASE_APP_URL'],
  REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  REDIS_PREFIX,
  LOG_LEVEL: 'silent',
  LOGIN_MAX_FAILURES: String(MAX_FAILURES),
  LOGIN_MAX_FAILURES_PER_IP: String(MAX_FAILURES_PER_IP),
  LOGIN_LOCKOUT_SECONDS: String(LOCKOUT_SECONDS),
};
const GQL_JSON = 'application/graphql-response+json';
const PASSWORD = 'correct horse battery staple';

let app: NestFastifyApplication;
let db: Db;
let owner: Client;
let redis: Redis;
let admin: { email: string; token: string };

// Every test signs in from addresses of its own, so the per-IP limit of one never meets another.
let ipCounter = 0;
function nextIp(): string {
  ipCounter += 1;
  return `10.77.${Math.floor(ipCounter / 250)}.${(ipCounter % 250) + 1}`;
}

interface GqlError {
  message: string;
  extensions: {
    code: string;
    field?: string;
    reason?: string;
    retryAfterSeconds?: number;
  };
}
interface GqlResult {
  status: number;
  data: Record<string, unknown> | null;
  errors: GqlError[] | undefined;
}

async function gql(
  query: string,
  variables: Record<string, unknown> = {},
  opts: { token?: string; ip?: string } = {},
): Promise<GqlResult> {
  const res = await post(app, {
    query,
    variables,
    ip: opts.ip ?? '10.99.0.1',
    ...(opts.token ? { token: opts.token } : {}),
  });
  const body = res.body as { data?: Record<string, unknown> | null; errors?: GqlError[] };
  return { status: res.status, data: body.data ?? null, errors: body.errors };
}

/** The data of a request that must succeed. */
async function ok<T>(
  query: string,
  variables: Record<string, unknown> = {},
  opts: { token?: string; ip?: string } = {},
): Promise<T> {
  const res = await gql(query, variables, opts);
  expect(res.errors).toBeUndefined();
  expect(res.status).toBe(200);
  return res.data as T;
}

/** The one error of a request that must fail. */
async function fails(
  query: string,
  variables: Record<string, unknown> = {},
  opts: { token?: string; ip?: string } = {},
): Promise<GqlError & { status: number }> {
  const res = await gql(query, variables, opts);
  expect(res.data).toBeNull();
  expect(res.errors).toHaveLength(1);
  const error = res.errors?.[0];
  if (!error) throw new Error('no error');
  return { ...error, status: res.status };
}

const LOGIN = `mutation ($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    token expiresAt user { id email role tenant { id slug } }
  }
}`;
const VIEWER = '{ viewer { kind user { email role } tenant { id } } }';
const CREATE_TENANT = `mutation ($input: CreateTenantInput!) {
  createTenant(input: $input) { id name slug plan status createdAt }
}`;
const UPDATE_TENANT = `mutation ($id: ID!, $input: UpdateTenantInput!) {
  updateTenant(id: $id, input: $input) { id name plan status }
}`;
const CREATE_USER = `mutation ($input: CreateUserInput!) {
  createUser(input: $input) { id email role tenant { id } }
}`;
const TENANTS = `query ($first: Int, $after: String) {
  tenants(first: $first, after: $after) {
    edges { cursor node { id slug } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

interface LoginData {
  login: {
    token: string;
    expiresAt: string;
    user: { id: string; email: string; role: string; tenant: { id: string; slug: string } | null };
  };
}

async function login(email: string, password = PASSWORD, ip = nextIp()): Promise<string> {
  const data = await ok<LoginData>(LOGIN, { email, password }, { ip });
  return data.login.token;
}

function uniqueSlug(prefix = 'idt'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}@example.test`;
}

async function createTenant(plan = 'starter'): Promise<{ id: string; slug: string }> {
  const slug = uniqueSlug();
  const data = await ok<{ createTenant: { id: string; slug: string } }>(
    CREATE_TENANT,
    { input: { name: `Tenant ${slug}`, slug, plan } },
    { token: admin.token },
  );
  return data.createTenant;
}

async function createUser(
  token: string,
  input: { role: string; tenantId?: string; email?: string },
): Promise<{ id: string; email: string; token: () => Promise<string> }> {
  const email = input.email ?? uniqueEmail(input.role.toLowerCase());
  const data = await ok<{ createUser: { id: string; email: string } }>(
    CREATE_USER,
    { input: { email, password: PASSWORD, role: input.role, tenantId: input.tenantId } },
    { token },
  );
  return { ...data.createUser, token: () => login(email) };
}

async function apiKeyFor(tenantId: string, scopes: string[]): Promise<string> {
  const key = generateApiKeySecret('test');
  await db.apiKeys.create(tenantId, {
    name: 'identity test key',
    prefix: key.prefix,
    secretHash: key.secretHash,
    scopes,
    expiresAt: null,
  });
  return key.secret;
}

async function count(sql: string, params: unknown[]): Promise<number> {
  const res = await owner.query<{ n: string }>(`SELECT count(*) AS n FROM ${sql}`, params);
  return Number(res.rows[0]?.n);
}

beforeAll(async () => {
  app = await createGateway(loadConfig(env));
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  db = createDb(loadConfig(env).database);
  owner = new Client({ connectionString: env.DATABASE_URL });
  await owner.connect();
  redis = new Redis(env.REDIS_URL);
  const email = uniqueEmail('admin');
  await db.users.create({
    email,
    passwordHash: await hashPassword(PASSWORD),
    role: 'PLATFORM_ADMIN',
    tenantId: null,
  });
  admin = { email, token: await login(email) };
});

afterAll(async () => {
  await app?.close();
  await db?.close();
  await owner?.end();
  if (redis) {
    const keys = await redis.keys(`${REDIS_PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
});

describe('login and sessions', () => {
  it('signs a tenant admin in; the token authenticates as that user; only its hash is stored', async () => {
    const tenant = await createTenant();
    const user = await createUser(admin.token, { role: 'TENANT_ADMIN', tenantId: tenant.id });
    const before = Date.now();
    const data = await ok<LoginData>(
      LOGIN,
      { email: user.email.toUpperCase(), password: PASSWORD },
      { ip: nextIp() },
    );
    const { token, expiresAt } = data.login;
    expect(token).toMatch(/^lks_[A-Za-z0-9_-]{43}$/);
    expect(data.login.user).toEqual({
      id: user.id,
      email: user.email,
      role: 'TENANT_ADMIN',
      tenant: { id: tenant.id, slug: tenant.slug },
    });
    // Default TTL: 12 hours from the login.
    const ttlMs = Date.parse(expiresAt) - before;
    expect(ttlMs).toBeGreaterThan(11.9 * 3_600_000);
    expect(ttlMs).toBeLessThanOrEqual(12.1 * 3_600_000);

    const viewer = await ok<{ viewer: unknown }>(VIEWER, {}, { token });
    expect(viewer.viewer).toEqual({
      kind: 'USER',
      user: { email: user.email, role: 'TENANT_ADMIN' },
      tenant: { id: tenant.id },
    });
    const slug = await ok<{ viewer: { tenant: { slug: string } } }>(
      '{ viewer { tenant { slug createdAt } } }',
      {},
      { token },
    );
    expect(slug.viewer.tenant.slug).toBe(tenant.slug);

    const sha = createHash('sha256').update(token).digest('hex');
    expect(await count('sessions WHERE token_hash = $1 AND user_id = $2', [sha, user.id])).toBe(1);
    expect(
      await count(`sessions s WHERE row_to_json(s)::text LIKE '%' || $1 || '%'`, [token.slice(4)]),
    ).toBe(0);
  });

  it('honours SESSION_TTL_HOURS and names it when invalid', async () => {
    expect(() => loadConfig({ ...env, SESSION_TTL_HOURS: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, SESSION_TTL_HOURS: 'soon' })).toThrow(/SESSION_TTL_HOURS/);
    const short = await createGateway(loadConfig({ ...env, SESSION_TTL_HOURS: '0.5' }));
    try {
      await short.init();
      await short.getHttpAdapter().getInstance().ready();
      const before = Date.now();
      const res = await short.inject({
        method: 'POST',
        url: '/graphql',
        remoteAddress: nextIp(),
        headers: { 'content-type': 'application/json', accept: GQL_JSON },
        payload: JSON.stringify({
          query: LOGIN,
          variables: { email: admin.email, password: PASSWORD },
        }),
      });
      const body = res.json() as { data: LoginData };
      const ttlMs = Date.parse(body.data.login.expiresAt) - before;
      expect(ttlMs).toBeGreaterThan(0.45 * 3_600_000);
      expect(ttlMs).toBeLessThanOrEqual(0.55 * 3_600_000);
    } finally {
      await short.close();
    }
  });

  it('gives platform admins a session without a tenant', async () => {
    const viewer = await ok<{ viewer: unknown }>(VIEWER, {}, { token: admin.token });
    expect(viewer.viewer).toEqual({
      kind: 'USER',
      user: { email: admin.email, role: 'PLATFORM_ADMIN' },
      tenant: null,
    });
  });

  it('logout ends the session: the token is then refused with 401', async () => {
    const token = await login(admin.email);
    expect(await ok<{ logout: boolean }>('mutation { logout }', {}, { token })).toEqual({
      logout: true,
    });
    const err = await fails(VIEWER, {}, { token });
    expect(err.status).toBe(401);
    expect(err.extensions.code).toBe('UNAUTHENTICATED');
    expect(err.message).toMatch(/signed out/i);
    // The admin's other session is untouched.
    await ok(VIEWER, {}, { token: admin.token });
  });

  it('refuses an expired session with 401', async () => {
    const token = await login(admin.email);
    const sha = createHash('sha256').update(token).digest('hex');
    await owner.query(
      `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1`,
      [sha],
    );
    const err = await fails(VIEWER, {}, { token });
    expect(err.status).toBe(401);
    expect(err.extensions.code).toBe('UNAUTHENTICATED');
    expect(err.message).toMatch(/expired/i);
  });

  it.each([
    ['a malformed session token', 'lks_short'],
    ['an unknown session token', `lks_${'A'.repeat(43)}`],
  ])('refuses %s with 401', async (_, token) => {
    const err = await fails(VIEWER, {}, { token });
    expect(err.status).toBe(401);
    expect(err.extensions.code).toBe('UNAUTHENTICATED');
  });

  it('answers a wrong password and an unknown email identically', async () => {
    const wrongPassword = await fails(
      LOGIN,
      { email: admin.email, password: 'not the password' },
      { ip: nextIp() },
    );
    const unknownEmail = await fails(
      LOGIN,
      { email: uniqueEmail('nobody'), password: PASSWORD },
      { ip: nextIp() },
    );
    for (const err of [wrongPassword, unknownEmail]) {
      expect(err.status).toBe(401);
      expect(err.extensions.code).toBe('UNAUTHENTICATED');
    }
    expect(unknownEmail.message).toBe(wrongPassword.message);
    expect(unknownEmail.message).toBe('Invalid email or password');
  });

  it('API keys cannot log out (users only)', async () => {
    const tenant = await createTenant();
    const secret = await apiKeyFor(tenant.id, ['*']);
    const err = await fails('mutation { logout }', {}, { token: secret });
    expect(err.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'USER_REQUIRED' });
  });
});

describe('login brute-force protection', () => {
  it(`locks an email + IP after ${MAX_FAILURES} failures, even for the right password`, async () => {
    const tenant = await createTenant();
    const user = await createUser(admin.token, { role: 'TENANT_VIEWER', tenantId: tenant.id });
    const ip = nextIp();
    for (let i = 0; i < MAX_FAILURES; i++) {
      const err = await fails(LOGIN, { email: user.email, password: `wrong ${i}` }, { ip });
      expect(err.extensions.code).toBe('UNAUTHENTICATED');
    }
    const locked = await fails(LOGIN, { email: user.email, password: PASSWORD }, { ip });
    expect(locked.status).toBe(429);
    expect(locked.extensions.code).toBe('RATE_LIMITED');
    expect(locked.extensions.retryAfterSeconds).toBeGreaterThan(0);
    expect(locked.extensions.retryAfterSeconds).toBeLessThanOrEqual(LOCKOUT_SECONDS);
    // Still locked on the next try; no session was created by the refused attempts.
    expect(
      (await fails(LOGIN, { email: user.email, password: PASSWORD }, { ip })).extensions.code,
    ).toBe('RATE_LIMITED');
    expect(await count('sessions WHERE user_id = $1', [user.id])).toBe(0);
    // The lock is per email + IP: the user still signs in from elsewhere.
    await login(user.email);
  });

  it('counts unknown emails too, and case-insensitively', async () => {
    const email = uniqueEmail('ghost');
    const ip = nextIp();
    for (let i = 0; i < MAX_FAILURES; i++) {
      const variant = i % 2 === 0 ? email : email.toUpperCase();
      await fails(LOGIN, { email: variant, password: 'whatever' }, { ip });
    }
    const err = await fails(LOGIN, { email, password: 'whatever' }, { ip });
    expect(err.extensions.code).toBe('RATE_LIMITED');
  });

  it('a successful login resets the email + IP count', async () => {
    const tenant = await createTenant();
    const user = await createUser(admin.token, { role: 'TENANT_VIEWER', tenantId: tenant.id });
    const ip = nextIp();
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < MAX_FAILURES - 1; i++) {
        await fails(LOGIN, { email: user.email, password: 'wrong' }, { ip });
      }
      await login(user.email, PASSWORD, ip);
    }
  });

  it(`locks an IP after ${MAX_FAILURES_PER_IP} failures across emails`, async () => {
    const tenant = await createTenant();
    const user = await createUser(admin.token, { role: 'TENANT_VIEWER', tenantId: tenant.id });
    const ip = nextIp();
    for (let i = 0; i < MAX_FAILURES_PER_IP; i++) {
      const err = await fails(LOGIN, { email: uniqueEmail('spray'), password: 'x' }, { ip });
      expect(err.extensions.code).toBe('UNAUTHENTICATED');
    }
    const err = await fails(LOGIN, { email: user.email, password: PASSWORD }, { ip });
    expect(err.extensions.code).toBe('RATE_LIMITED');
    expect(err.extensions.retryAfterSeconds).toBeGreaterThan(0);
    await login(user.email, PASSWORD, nextIp());
  });

  it('refuses parallel guesses beyond the limit', async () => {
    const tenant = await createTenant();
    const user = await createUser(admin.token, { role: 'TENANT_VIEWER', tenantId: tenant.id });
    const ip = nextIp();
    const results = await Promise.all(
      Array.from({ length: MAX_FAILURES + 4 }, (_, i) =>
        gql(LOGIN, { email: user.email, password: `guess ${i}` }, { ip }),
      ),
    );
    const codes = results.map((r) => r.errors?.[0]?.extensions.code);
    expect(codes.filter((c) => c === 'UNAUTHENTICATED')).toHaveLength(MAX_FAILURES);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(4);
  });
});

describe('platform administration', () => {
  it('a platform admin creates a tenant and its admin, both audited', async () => {
    const slug = uniqueSlug();
    const created = await ok<{
      createTenant: { id: string; name: string; slug: string; plan: string; status: string };
    }>(
      CREATE_TENANT,
      { input: { name: '  Acme Studio  ', slug, plan: 'pro' } },
      { token: admin.token },
    );
    expect(created.createTenant).toMatchObject({
      name: 'Acme Studio',
      slug,
      plan: 'pro',
      status: 'ACTIVE',
    });
    const tenantId = created.createTenant.id;
    const defaults = await ok<{ createTenant: { plan: string } }>(
      CREATE_TENANT,
      { input: { name: 'Default plan', slug: uniqueSlug() } },
      { token: admin.token },
    );
    expect(defaults.createTenant.plan).toBe('free');

    const email = uniqueEmail('Tenant-Admin');
    const user = await ok<{
      createUser: { id: string; email: string; role: string; tenant: { id: string } };
    }>(
      CREATE_USER,
      { input: { email, password: PASSWORD, role: 'TENANT_ADMIN', tenantId } },
      { token: admin.token },
    );
    expect(user.createUser).toMatchObject({
      email: email.toLowerCase(),
      role: 'TENANT_ADMIN',
      tenant: { id: tenantId },
    });

    const adminId = (await db.users.findForLogin(admin.email))?.id;
    const audit = await owner.query<{ action: string; target: string; actor: string }>(
      `SELECT action, target, actor FROM audit_log WHERE tenant_id = $1 ORDER BY created_at`,
      [tenantId],
    );
    expect(audit.rows).toEqual([
      { action: 'tenant.create', target: tenantId, actor: `user:${adminId}` },
      { action: 'user.create', target: user.createUser.id, actor: `user:${adminId}` },
    ]);
    // The password is stored as an argon2id hash only.
    const row = await owner.query<{ password_hash: string }>(
      'SELECT password_hash FROM users WHERE id = $1',
      [user.createUser.id],
    );
    expect(row.rows[0]?.password_hash).toMatch(/^\$argon2id\$/);
    await login(email);
  });

  it('a tenant admin creates users in their own tenant only', async () => {
    const mine = await createTenant();
    const other = await createTenant();
    const tenantAdmin = await createUser(admin.token, { role: 'TENANT_ADMIN', tenantId: mine.id });
    const token = await tenantAdmin.token();

    const implicit = await createUser(token, { role: 'TENANT_VIEWER' });
    const explicit = await createUser(token, { role: 'TENANT_ADMIN', tenantId: mine.id });
    for (const u of [implicit, explicit]) {
      expect((await db.users.findById(mine.id, u.id))?.tenantId).toBe(mine.id);
    }
    const viewerToken = await implicit.token();
    const viewer = await ok<{ viewer: unknown }>(VIEWER, {}, { token: viewerToken });
    expect(viewer.viewer).toMatchObject({
      user: { role: 'TENANT_VIEWER' },
      tenant: { id: mine.id },
    });

    const elsewhere = uniqueEmail('elsewhere');
    const notFound = await fails(
      CREATE_USER,
      {
        input: { email: elsewhere, password: PASSWORD, role: 'TENANT_VIEWER', tenantId: other.id },
      },
      { token },
    );
    expect(notFound.extensions.code).toBe('NOT_FOUND');
    const unknownTenant = await fails(
      CREATE_USER,
      {
        input: {
          email: elsewhere,
          password: PASSWORD,
          role: 'TENANT_VIEWER',
          tenantId: randomUUID(),
        },
      },
      { token },
    );
    expect(unknownTenant.extensions.code).toBe('NOT_FOUND');
    expect(unknownTenant.message).toBe(notFound.message);

    const platformAdmin = await fails(
      CREATE_USER,
      { input: { email: elsewhere, password: PASSWORD, role: 'PLATFORM_ADMIN' } },
      { token },
    );
    expect(platformAdmin.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'role' });
    expect(await count('users WHERE email = $1', [elsewhere])).toBe(0);
    expect(await count(`audit_log WHERE data->>'email' = $1`, [elsewhere])).toBe(0);

    // Tenant admins are no platform admins.
    const forbidden = await fails(
      CREATE_TENANT,
      { input: { name: 'Nope', slug: uniqueSlug() } },
      { token },
    );
    expect(forbidden.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'ROLE_NOT_ALLOWED' });
  });

  it('a tenant viewer cannot create users', async () => {
    const tenant = await createTenant();
    const viewer = await createUser(admin.token, { role: 'TENANT_VIEWER', tenantId: tenant.id });
    const email = uniqueEmail();
    const err = await fails(
      CREATE_USER,
      { input: { email, password: PASSWORD, role: 'TENANT_VIEWER' } },
      { token: await viewer.token() },
    );
    expect(err.status).toBe(403);
    expect(err.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'ROLE_NOT_ALLOWED' });
    expect(await count('users WHERE email = $1', [email])).toBe(0);
  });

  it.each([
    ['createTenant', CREATE_TENANT, { input: { name: 'Key', slug: 'key-made' } }],
    ['updateTenant', UPDATE_TENANT, { id: randomUUID(), input: { name: 'x' } }],
    ['tenants', TENANTS, {}],
    [
      'createUser',
      CREATE_USER,
      { input: { email: 'k@example.test', password: PASSWORD, role: 'TENANT_VIEWER' } },
    ],
  ])('an API key, even with *, cannot call %s', async (_, query, variables) => {
    const tenant = await createTenant();
    const secret = await apiKeyFor(tenant.id, ['*']);
    const err = await fails(query, variables, { token: secret });
    expect(err.status).toBe(403);
    expect(err.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'USER_REQUIRED' });
  });

  it('suspending a tenant stops its API keys and users at once; reactivating restores them', async () => {
    const tenant = await createTenant();
    const secret = await apiKeyFor(tenant.id, ['renders:read']);
    const member = await createUser(admin.token, { role: 'TENANT_ADMIN', tenantId: tenant.id });
    const session = await member.token();
    // Both work (and the key is now in the gateway's key cache).
    await ok(VIEWER, {}, { token: secret });
    await ok(VIEWER, {}, { token: session });

    const suspended = await ok<{ updateTenant: { status: string } }>(
      UPDATE_TENANT,
      { id: tenant.id, input: { status: 'SUSPENDED' } },
      { token: admin.token },
    );
    expect(suspended.updateTenant.status).toBe('SUSPENDED');
    for (const token of [secret, session]) {
      const err = await fails(VIEWER, {}, { token });
      expect(err.status).toBe(403);
      expect(err.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'TENANT_SUSPENDED' });
    }
    const signIn = await fails(
      LOGIN,
      { email: member.email, password: PASSWORD },
      { ip: nextIp() },
    );
    expect(signIn.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'TENANT_SUSPENDED' });
    // ... but a wrong password is still just a wrong password (nothing told to a guesser).
    const guess = await fails(LOGIN, { email: member.email, password: 'nope' }, { ip: nextIp() });
    expect(guess.extensions.code).toBe('UNAUTHENTICATED');

    await ok(UPDATE_TENANT, { id: tenant.id, input: { status: 'ACTIVE' } }, { token: admin.token });
    await ok(VIEWER, {}, { token: secret });
    await ok(VIEWER, {}, { token: session });

    const audit = await owner.query<{ data: { from: unknown; to: unknown } }>(
      `SELECT data FROM audit_log WHERE tenant_id = $1 AND action = 'tenant.update' ORDER BY created_at`,
      [tenant.id],
    );
    expect(audit.rows.map((r) => [r.data.from, r.data.to])).toEqual([
      [{ status: 'ACTIVE' }, { status: 'SUSPENDED' }],
      [{ status: 'SUSPENDED' }, { status: 'ACTIVE' }],
    ]);
  });

  it('updates name and plan; the API key sees the new plan at once', async () => {
    const tenant = await createTenant('free');
    const secret = await apiKeyFor(tenant.id, ['renders:read']);
    const before = await ok<{ viewer: { tenant: { plan: string } } }>(
      '{ viewer { tenant { plan } } }',
      {},
      { token: secret },
    );
    expect(before.viewer.tenant.plan).toBe('free');
    const updated = await ok<{ updateTenant: unknown }>(
      UPDATE_TENANT,
      { id: tenant.id, input: { name: 'Renamed', plan: 'enterprise' } },
      { token: admin.token },
    );
    expect(updated.updateTenant).toEqual({
      id: tenant.id,
      name: 'Renamed',
      plan: 'enterprise',
      status: 'ACTIVE',
    });
    const after = await ok<{ viewer: { tenant: { name: string; plan: string } } }>(
      '{ viewer { tenant { name plan } } }',
      {},
      { token: secret },
    );
    expect(after.viewer.tenant).toEqual({ name: 'Renamed', plan: 'enterprise' });
  });

  it('publishes tenantUpdated to subscribers of that tenant', async () => {
    const tenant = await createTenant();
    const events = app
      .get(EventBus)
      .listen<{ tenantUpdated: unknown }>(tenantUpdatedTopic(tenant.id));
    try {
      const next = events.next();
      // The subscription is set up asynchronously on Redis; keep changing until it is heard.
      let heard: IteratorResult<{ tenantUpdated: unknown }> | undefined;
      for (let i = 0; i < 50 && !heard; i++) {
        await ok(
          UPDATE_TENANT,
          { id: tenant.id, input: { name: `Renamed ${i}` } },
          { token: admin.token },
        );
        heard = await Promise.race([
          next,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100)),
        ]);
      }
      expect(heard?.value).toEqual({
        tenantUpdated: {
          id: tenant.id,
          name: expect.stringMatching(/^Renamed \d+$/),
          plan: 'starter',
          status: 'ACTIVE',
        },
      });
    } finally {
      await events.return?.();
    }
  });

  it('refuses duplicate slugs and emails with CONFLICT naming the field', async () => {
    const tenant = await createTenant();
    const dupSlug = await fails(
      CREATE_TENANT,
      { input: { name: 'Again', slug: tenant.slug } },
      { token: admin.token },
    );
    expect(dupSlug.status).toBe(409);
    expect(dupSlug.extensions).toMatchObject({ code: 'CONFLICT', field: 'slug' });

    const user = await createUser(admin.token, { role: 'TENANT_VIEWER', tenantId: tenant.id });
    const dupEmail = await fails(
      CREATE_USER,
      {
        input: {
          email: user.email.toUpperCase(),
          password: PASSWORD,
          role: 'TENANT_ADMIN',
          tenantId: tenant.id,
        },
      },
      { token: admin.token },
    );
    expect(dupEmail.extensions).toMatchObject({ code: 'CONFLICT', field: 'email' });
    expect(
      await count(`audit_log WHERE action = 'user.create' AND tenant_id = $1`, [tenant.id]),
    ).toBe(1);
  });

  it('pages through every tenant, oldest first, with opaque cursors', async () => {
    const mine = [await createTenant(), await createTenant(), await createTenant()];
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      type Page = {
        tenants: {
          edges: { cursor: string; node: { id: string } }[];
          pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null };
        };
      };
      const data: Page = await ok<Page>(TENANTS, { first: 2, after }, { token: admin.token });
      const { edges, pageInfo } = data.tenants;
      expect(edges.length).toBeLessThanOrEqual(2);
      expect(pageInfo.hasPreviousPage).toBe(after !== null);
      seen.push(...edges.map((e) => e.node.id));
      pages += 1;
      if (!pageInfo.hasNextPage) break;
      expect(pageInfo.endCursor).toBe(edges.at(-1)?.cursor);
      after = pageInfo.endCursor;
    }
    expect(pages).toBeGreaterThan(1);
    expect(new Set(seen).size).toBe(seen.length);
    const order = await owner.query<{ id: string }>(
      'SELECT id FROM tenants ORDER BY created_at, id',
    );
    const all = order.rows.map((r) => r.id);
    // Tenants made by other test files meanwhile may be missing from an earlier page, never out
    // of order: the ids we saw are in creation order, and ours are all there.
    expect(seen).toEqual(all.filter((id) => seen.includes(id)));
    for (const t of mine) expect(seen).toContain(t.id);

    const viewer = await createUser(admin.token, { role: 'TENANT_ADMIN', tenantId: mine[0]?.id });
    const forbidden = await fails(TENANTS, {}, { token: await viewer.token() });
    expect(forbidden.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'ROLE_NOT_ALLOWED' });
  });
});

describe('bad inputs', () => {
  const slug = (): string => uniqueSlug('bad');
  const cases: [string, string, (ctx: { tenantId: string; email: string }) => object, string][] = [
    ['empty tenant name', CREATE_TENANT, () => ({ input: { name: '   ', slug: slug() } }), 'name'],
    [
      'slug with capitals',
      CREATE_TENANT,
      () => ({ input: { name: 'n', slug: 'Bad-Slug' } }),
      'slug',
    ],
    ['slug too short', CREATE_TENANT, () => ({ input: { name: 'n', slug: 'ab' } }), 'slug'],
    [
      'slug with a leading hyphen',
      CREATE_TENANT,
      () => ({ input: { name: 'n', slug: '-abc' } }),
      'slug',
    ],
    ['slug with a space', CREATE_TENANT, () => ({ input: { name: 'n', slug: 'a b c' } }), 'slug'],
    [
      'unknown plan',
      CREATE_TENANT,
      () => ({ input: { name: 'n', slug: slug(), plan: 'platinum' } }),
      'plan',
    ],
    [
      'bad email',
      CREATE_USER,
      ({ tenantId }) => ({
        input: { email: 'not-an-email', password: PASSWORD, role: 'TENANT_VIEWER', tenantId },
      }),
      'email',
    ],
    [
      'short password',
      CREATE_USER,
      ({ tenantId, email }) => ({
        input: { email, password: 'elevenchars', role: 'TENANT_VIEWER', tenantId },
      }),
      'password',
    ],
    [
      'platform admin role',
      CREATE_USER,
      ({ tenantId, email }) => ({
        input: { email, password: PASSWORD, role: 'PLATFORM_ADMIN', tenantId },
      }),
      'role',
    ],
    [
      'unknown tenant id',
      CREATE_USER,
      ({ email }) => ({
        input: { email, password: PASSWORD, role: 'TENANT_VIEWER', tenantId: randomUUID() },
      }),
      'tenantId',
    ],
    [
      'malformed tenant id',
      CREATE_USER,
      ({ email }) => ({
        input: { email, password: PASSWORD, role: 'TENANT_VIEWER', tenantId: 'tenant-1' },
      }),
      'tenantId',
    ],
    [
      'missing tenant id (platform admin)',
      CREATE_USER,
      ({ email }) => ({ input: { email, password: PASSWORD, role: 'TENANT_VIEWER' } }),
      'tenantId',
    ],
    [
      'malformed tenant id to update',
      UPDATE_TENANT,
      () => ({ id: 'not-a-uuid', input: { name: 'x' } }),
      'id',
    ],
    ['empty update', UPDATE_TENANT, ({ tenantId }) => ({ id: tenantId, input: {} }), 'input'],
    [
      'unknown plan in an update',
      UPDATE_TENANT,
      ({ tenantId }) => ({ id: tenantId, input: { plan: 'gold' } }),
      'plan',
    ],
    [
      'empty name in an update',
      UPDATE_TENANT,
      ({ tenantId }) => ({ id: tenantId, input: { name: '' } }),
      'name',
    ],
    ['page size 0', TENANTS, () => ({ first: 0 }), 'first'],
    ['page size 101', TENANTS, () => ({ first: 101 }), 'first'],
    ['foreign cursor', TENANTS, () => ({ after: 'bm90LWEtY3Vyc29y' }), 'after'],
  ];

  it.each(cases.map(([label, query, vars, field]) => [label, field, query, vars] as const))(
    '%s → BAD_USER_INPUT on %s, nothing written',
    async (_, field, query, vars) => {
      const tenant = await createTenant();
      const email = uniqueEmail('bad');
      const variables = vars({ tenantId: tenant.id, email }) as Record<string, unknown>;
      const auditBefore = await count('audit_log WHERE tenant_id = $1', [tenant.id]);
      const err = await fails(query, variables, { token: admin.token });
      expect(err.status).toBe(400);
      expect(err.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      const input = variables['input'] as { slug?: string } | undefined;
      if (input?.slug) expect(await count('tenants WHERE slug = $1', [input.slug])).toBe(0);
      expect(await count('users WHERE email = $1', [email])).toBe(0);
      expect(await count('audit_log WHERE tenant_id = $1', [tenant.id])).toBe(auditBefore);
      const unchanged = await db.tenants.findById(tenant.id);
      expect(unchanged).toMatchObject({ slug: tenant.slug, plan: 'starter', status: 'ACTIVE' });
    },
  );

  it('an unknown tenant to update is NOT_FOUND, nothing written', async () => {
    const id = randomUUID();
    const err = await fails(UPDATE_TENANT, { id, input: { name: 'x' } }, { token: admin.token });
    expect(err.status).toBe(404);
    expect(err.extensions.code).toBe('NOT_FOUND');
    expect(await count('audit_log WHERE target = $1', [id])).toBe(0);
  });
});
