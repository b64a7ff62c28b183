import 'reflect-metadata';
import { getIntrospectionQuery } from 'graphql';
import { Client } from 'pg';
import { generateApiKeySecret, type Db } from '@likeness/db';
import {
  GQL_JSON,
  gql,
  newTenantWithKey,
  startGateway,
  testDb,
  testEnv,
  uniqueIp,
  type TestGateway,
} from './support/gateway-harness';

const VIEWER = '{ viewer { kind } }';
const PARTNER = 'https://partner.example';

let db: Db;
/** Tiny limits set through configuration. */
let tight: TestGateway;
/** The defaults (development): plan limits, depth 10, complexity 1000, 20 kB. */
let defaults: TestGateway;

beforeAll(async () => {
  db = testDb();
  tight = await startGateway({
    RATE_LIMIT_API_KEY_PER_MINUTE: '3',
    RATE_LIMIT_IP_PER_MINUTE: '5',
    CORS_ORIGINS: `${PARTNER},http://localhost:5173`,
    GRAPHQL_MAX_DEPTH: '2',
    GRAPHQL_MAX_COMPLEXITY: '3',
    GRAPHQL_MAX_ALIASES: '3',
    GRAPHQL_MAX_OPERATIONS: '2',
    GRAPHQL_MAX_QUERY_BYTES: '1024',
  });
  defaults = await startGateway();
});

afterAll(async () => {
  await tight?.close();
  await defaults?.close();
  await db?.close();
});

async function apiKeyCount(tenantId: string): Promise<number> {
  const owner = new Client({ connectionString: testEnv()['DATABASE_URL'] });
  await owner.connect();
  try {
    const { rows } = await owner.query<{ n: string }>(
      'SELECT count(*) AS n FROM api_keys WHERE tenant_id = $1',
      [tenantId],
    );
    return Number(rows[0]?.n);
  } finally {
    await owner.end();
  }
}

describe('rate limits per API key', () => {
  it('answers 429 RATE_LIMITED with retryAfterSeconds once the key has used its limit', async () => {
    const { secret } = await newTenantWithKey(db);
    const ip = uniqueIp();
    for (const remaining of [2, 1, 0]) {
      const ok = await gql(tight.app, { query: VIEWER, token: secret, ip });
      expect(ok.status).toBe(200);
      expect(ok.headers['ratelimit-limit']).toBe('3');
      expect(ok.headers['ratelimit-remaining']).toBe(String(remaining));
      expect(Number(ok.headers['ratelimit-reset'])).toBeGreaterThan(0);
      expect(ok.headers['retry-after']).toBeUndefined();
    }
    const refused = await gql(tight.app, { query: VIEWER, token: secret, ip });
    expect(refused.status).toBe(429);
    expect(refused.body.data ?? null).toBeNull();
    const error = refused.body.errors?.[0];
    expect(error?.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      reason: 'API_KEY_RATE_LIMIT',
      requestId: expect.any(String),
    });
    const retryAfter = error?.extensions.retryAfterSeconds ?? 0;
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers['retry-after']).toBe(String(retryAfter));
    expect(refused.headers['ratelimit-remaining']).toBe('0');
  });

  it('answers 429 even when nullable fields leave partial data', async () => {
    const { secret } = await newTenantWithKey(db, { scopes: ['assets:read'] });
    const ip = uniqueIp();
    const query = '{ asset(id: "00000000-0000-0000-0000-000000000000") { id } }';
    for (let i = 0; i < 3; i++) {
      const ok = await gql(tight.app, { query, token: secret, ip });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ data: { asset: null } });
    }
    const refused = await gql(tight.app, { query, token: secret, ip });
    expect(refused.status).toBe(429);
    expect(refused.body.data).toEqual({ asset: null });
    expect(refused.body.errors?.[0]?.extensions.code).toBe('RATE_LIMITED');
  });

  it('counts each key on its own, and authenticated requests not against the address', async () => {
    // Two keys × 3 requests from one address whose anonymous limit is 5: all pass.
    const ip = uniqueIp();
    const a = await newTenantWithKey(db);
    const b = await newTenantWithKey(db);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await gql(tight.app, { query: VIEWER, token: a.secret, ip })).status);
      statuses.push((await gql(tight.app, { query: VIEWER, token: b.secret, ip })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect((await gql(tight.app, { query: VIEWER, token: a.secret, ip })).status).toBe(429);
  });

  it("counts a document's root fields as one request", async () => {
    const { secret } = await newTenantWithKey(db, { plan: 'free' });
    const res = await gql(defaults.app, {
      query: '{ a: viewer { kind } b: viewer { kind } c: viewer { kind } }',
      token: secret,
      ip: uniqueIp(),
    });
    expect(res.status).toBe(200);
    expect(res.headers['ratelimit-remaining']).toBe('59');
  });

  it('answers a REST route (/v1/assets) with 429 and the REST error shape', async () => {
    const { secret } = await newTenantWithKey(db, { scopes: ['assets:write'] });
    const ip = uniqueIp();
    const upload = () =>
      tight.app.inject({
        method: 'POST',
        url: '/v1/assets',
        remoteAddress: ip,
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'text/plain' },
        payload: 'not a picture',
      });
    for (const remaining of [2, 1, 0]) {
      const res = await upload();
      expect(res.statusCode).not.toBe(429);
      expect(res.headers['ratelimit-remaining']).toBe(String(remaining));
    }
    const refused = await upload();
    expect(refused.statusCode).toBe(429);
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(refused.json()).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: expect.stringMatching(/this API key/),
        retryAfterSeconds: retryAfter,
        reason: 'API_KEY_RATE_LIMIT',
        requestId: refused.headers['x-request-id'],
      },
    });
  });

  it.each([
    ['free', '60'],
    ['starter', '300'],
    ['pro', '1200'],
  ])("uses the tenant plan's requestsPerMinute (%s → %s)", async (plan, limit) => {
    const { secret } = await newTenantWithKey(db, { plan });
    const res = await gql(defaults.app, { query: VIEWER, token: secret, ip: uniqueIp() });
    expect(res.status).toBe(200);
    expect(res.headers['ratelimit-limit']).toBe(limit);
    expect(res.headers['ratelimit-remaining']).toBe(String(Number(limit) - 1));
  });
});

describe('rate limits per client address', () => {
  it('limits unauthenticated requests per address, before authentication', async () => {
    const ip = uniqueIp();
    for (const remaining of [4, 3, 2, 1, 0]) {
      const res = await gql(tight.app, { query: VIEWER, ip });
      expect(res.status).toBe(401);
      expect(res.headers['ratelimit-limit']).toBe('5');
      expect(res.headers['ratelimit-remaining']).toBe(String(remaining));
    }
    const refused = await gql(tight.app, { query: VIEWER, ip });
    expect(refused.status).toBe(429);
    expect(refused.headers['content-type']).toContain(GQL_JSON);
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      reason: 'IP_RATE_LIMIT',
      retryAfterSeconds: Number(refused.headers['retry-after']),
      requestId: refused.headers['x-request-id'],
    });
    // A flood is refused before authentication, whatever credential it brings …
    const { secret } = await newTenantWithKey(db);
    expect((await gql(tight.app, { query: VIEWER, token: secret, ip })).status).toBe(429);
    // … while other addresses go on as before.
    expect((await gql(tight.app, { query: VIEWER, ip: uniqueIp() })).status).toBe(401);
  });

  it('counts failed authentication against the address, then refuses it before authenticating', async () => {
    const ip = uniqueIp();
    for (const remaining of [4, 3, 2, 1, 0]) {
      const res = await gql(tight.app, {
        query: VIEWER,
        token: generateApiKeySecret('live').secret,
        ip,
      });
      expect(res.status).toBe(401);
      expect(res.headers['ratelimit-remaining']).toBe(String(remaining));
    }
    const { secret } = await newTenantWithKey(db);
    const refused = await gql(tight.app, { query: VIEWER, token: secret, ip });
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions.reason).toBe('IP_RATE_LIMIT');
  });

  it('counts public operations (login) against the address', async () => {
    const ip = uniqueIp();
    const login =
      'mutation($p: String!) { login(email: "nobody@example.test", password: $p) { token } }';
    for (let i = 0; i < 5; i++) {
      const res = await gql(tight.app, { query: login, variables: { p: `wrong-${i}` }, ip });
      expect(res.body.errors?.[0]?.extensions.code).not.toBe('RATE_LIMITED');
    }
    const refused = await gql(tight.app, { query: login, variables: { p: 'again' }, ip });
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0]?.extensions.reason).toBe('IP_RATE_LIMIT');
  });

  it('counts public operations that bring an Authorization header too', async () => {
    const ip = uniqueIp();
    const { secret } = await newTenantWithKey(db);
    const login = 'mutation { login(email: "nobody@example.test", password: "x") { token } }';
    for (let i = 0; i < 5; i++) {
      const res = await gql(tight.app, { query: login, token: secret, ip });
      expect(res.body.errors?.[0]?.extensions.code).not.toBe('RATE_LIMITED');
    }
    expect((await gql(tight.app, { query: login, token: secret, ip })).status).toBe(429);
  });

  it('answers REST routes under /v1/ with the REST error shape', async () => {
    const ip = uniqueIp();
    for (let i = 0; i < 5; i++) {
      const res = await tight.app.inject({ method: 'GET', url: '/v1/nothing', remoteAddress: ip });
      expect(res.statusCode).toBe(404);
    }
    const refused = await tight.app.inject({
      method: 'GET',
      url: '/v1/nothing',
      remoteAddress: ip,
    });
    expect(refused.statusCode).toBe(429);
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(refused.json()).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: expect.stringMatching(/retry after/),
        retryAfterSeconds: retryAfter,
        reason: 'IP_RATE_LIMIT',
        requestId: refused.headers['x-request-id'],
      },
    });
  });

  it('finds the client address behind a trusted proxy (TRUST_PROXY), and only then', async () => {
    const anonymous = (app: TestGateway, forwardedFor: string) =>
      gql(app.app, { query: VIEWER, ip: '10.9.8.7', headers: { 'x-forwarded-for': forwardedFor } });
    // Untrusted: every request counts against the proxy's own address, whatever it claims.
    const untrusted = [];
    for (let i = 1; i <= 6; i++) untrusted.push((await anonymous(tight, `203.0.113.${i}`)).status);
    expect(untrusted).toEqual([401, 401, 401, 401, 401, 429]);
    const proxied = await startGateway({ RATE_LIMIT_IP_PER_MINUTE: '5', TRUST_PROXY: 'true' });
    try {
      const trusted = [];
      for (let i = 1; i <= 6; i++)
        trusted.push((await anonymous(proxied, `203.0.113.${i}`)).status);
      expect(trusted).toEqual([401, 401, 401, 401, 401, 401]);
      const same = [];
      for (let i = 1; i <= 6; i++) same.push((await anonymous(proxied, '203.0.113.99')).status);
      expect(same).toEqual([401, 401, 401, 401, 401, 429]);
    } finally {
      await proxied.close();
    }
  });

  it('trusts as many proxy hops as TRUST_PROXY counts', async () => {
    const anonymous = (app: TestGateway, forwardedFor: string) =>
      gql(app.app, { query: VIEWER, ip: '10.9.8.6', headers: { 'x-forwarded-for': forwardedFor } });
    const oneHop = await startGateway({ RATE_LIMIT_IP_PER_MINUTE: '5', TRUST_PROXY: '1' });
    try {
      // The address our one proxy saw (the last one listed) is the client's …
      const distinct = [];
      for (let i = 1; i <= 6; i++)
        distinct.push((await anonymous(oneHop, `203.0.114.${i}`)).status);
      expect(distinct).toEqual([401, 401, 401, 401, 401, 401]);
      // … and what the client claims before it is not believed.
      const spoofed = [];
      for (let i = 1; i <= 6; i++)
        spoofed.push((await anonymous(oneHop, `198.18.0.${i}, 203.0.114.99`)).status);
      expect(spoofed).toEqual([401, 401, 401, 401, 401, 429]);
    } finally {
      await oneHop.close();
    }
  });

  it.each(['/healthz', '/readyz', '/metrics'])('never limits %s', async (url) => {
    const ip = uniqueIp();
    for (let i = 0; i < 7; i++) {
      const res = await tight.app.inject({ method: 'GET', url, remoteAddress: ip });
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-limit']).toBeUndefined();
    }
  });
});

describe('GraphQL limits', () => {
  /** `__type { ofType { ofType … } }` nested `depth` fields deep: valid at any depth. */
  function nestedOfType(depth: number): string {
    let inner = 'name';
    for (let i = 2; i < depth; i++) inner = `ofType { ${inner} }`;
    return `{ __type(name: "Viewer") { ${inner} } }`;
  }

  it('refuses a query nested 20 levels deep with BAD_USER_INPUT and HTTP 400', async () => {
    const { secret } = await newTenantWithKey(db);
    const res = await gql(defaults.app, { query: nestedOfType(20), token: secret, ip: uniqueIp() });
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.message).toMatch(/nested 20 levels deep; the maximum is 16/);
    expect(res.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'query',
      reason: 'QUERY_TOO_DEEP',
    });
  });

  it('lets the standard introspection query through', async () => {
    const { secret } = await newTenantWithKey(db);
    const res = await gql(defaults.app, {
      query: getIntrospectionQuery(),
      token: secret,
      ip: uniqueIp(),
    });
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
  });

  it('refuses a query over GRAPHQL_MAX_QUERY_BYTES before parsing it (POST and GET)', async () => {
    const { secret } = await newTenantWithKey(db);
    const padded = `{ viewer { kind } } # ${'x'.repeat(1100)}`;
    const post = await gql(tight.app, { query: padded, token: secret, ip: uniqueIp() });
    expect(post.status).toBe(400);
    expect(post.headers['content-type']).toContain(GQL_JSON);
    expect(post.body.errors?.[0]?.message).toMatch(/bytes; the maximum is 1024/);
    expect(post.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'query',
      reason: 'QUERY_TOO_LARGE',
      requestId: post.headers['x-request-id'],
    });
    const get = await tight.app.inject({
      method: 'GET',
      url: `/graphql?query=${encodeURIComponent(padded)}`,
      remoteAddress: uniqueIp(),
      headers: { authorization: `Bearer ${secret}`, 'apollo-require-preflight': 'true' },
    });
    expect(get.statusCode).toBe(400);
    expect(
      get.json<{ errors: { extensions: { reason: string } }[] }>().errors[0]?.extensions.reason,
    ).toBe('QUERY_TOO_LARGE');
  });

  it('refuses a body over the 1 MB JSON limit with 413', async () => {
    const res = await defaults.app.inject({
      method: 'POST',
      url: '/graphql',
      remoteAddress: uniqueIp(),
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ query: VIEWER, variables: { pad: 'x'.repeat(1024 * 1024) } }),
    });
    expect(res.statusCode).toBe(413);
  });

  const create = (alias: string) =>
    `${alias}: createApiKey(input: { name: "x", scopes: ["renders:read"] }) { secret }`;
  // Each would create API keys if it ran; each is refused whole, before execution.
  const refusals: [string, string, string][] = [
    [
      'too deep',
      `mutation { createApiKey(input: { name: "x", scopes: [] }) { apiKey { id } } }`,
      'QUERY_TOO_DEEP',
    ],
    ['too complex', `mutation { ${create('a')} ${create('b')} }`, 'QUERY_TOO_COMPLEX'],
    [
      'too many aliases',
      `mutation { ${['a', 'b', 'c', 'd'].map(create).join(' ')} }`,
      'TOO_MANY_ALIASES',
    ],
    [
      'too many operations',
      `mutation Go { ${create('a')} } query A { viewer { kind } } query B { viewer { kind } }`,
      'TOO_MANY_OPERATIONS',
    ],
    ['too large', `mutation { ${create('a')} } # ${'x'.repeat(1024)}`, 'QUERY_TOO_LARGE'],
  ];
  it.each(refusals)(
    'refuses a mutation %s with 400 and creates nothing',
    async (_, query, reason) => {
      const { tenantId, secret } = await newTenantWithKey(db, {
        scopes: ['keys:write', 'renders:read'],
      });
      const res = await gql(tight.app, {
        query,
        token: secret,
        ip: uniqueIp(),
        ...(query.includes('mutation Go') ? { operationName: 'Go' } : {}),
      });
      expect(res.status).toBe(400);
      expect(res.body.data ?? null).toBeNull();
      expect(res.body.errors).toHaveLength(1);
      expect(res.body.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'query',
        reason,
      });
      expect(await apiKeyCount(tenantId)).toBe(1);
    },
  );

  it('runs a mutation within the limits (the refusals above are the limits, not the mutation)', async () => {
    const { tenantId, secret } = await newTenantWithKey(db, {
      scopes: ['keys:write', 'renders:read'],
    });
    const res = await gql(tight.app, {
      query: `mutation { ${create('a')} }`,
      token: secret,
      ip: uniqueIp(),
    });
    expect(res.body.errors).toBeUndefined();
    expect(res.status).toBe(200);
    expect(await apiKeyCount(tenantId)).toBe(2);
  });
});

describe('HTTP hardening', () => {
  const preflight = (origin: string) =>
    tight.app.inject({
      method: 'OPTIONS',
      url: '/graphql',
      remoteAddress: uniqueIp(),
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });

  it('approves a CORS preflight from an allowed origin', async () => {
    const res = await preflight(PARTNER);
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(PARTNER);
    expect(res.headers['access-control-allow-methods']).toContain('POST');
    expect(res.headers['access-control-allow-headers']).toBe('authorization,content-type');
    expect(res.headers['access-control-max-age']).toBe('600');
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('gives no CORS headers to another origin', async () => {
    const res = await preflight('https://evil.example');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-methods']).toBeUndefined();
    expect(res.headers['access-control-allow-headers']).toBeUndefined();
  });

  it('lets an allowed origin read the response and its rate-limit headers', async () => {
    const { secret } = await newTenantWithKey(db);
    const res = await gql(tight.app, {
      query: VIEWER,
      token: secret,
      ip: uniqueIp(),
      headers: { origin: PARTNER },
    });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(PARTNER);
    const exposed = String(res.headers['access-control-expose-headers']).split(/,\s*/);
    expect(exposed).toEqual(
      expect.arrayContaining([
        'x-request-id',
        'retry-after',
        'ratelimit-limit',
        'ratelimit-remaining',
        'ratelimit-reset',
      ]),
    );
  });

  it('allows the local admin dev server by default outside production', async () => {
    const res = await defaults.app.inject({
      method: 'OPTIONS',
      url: '/graphql',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('http://localhost:5173');
  });

  it.each(['/healthz', '/graphql'])('sends security headers on %s', async (url) => {
    const res = await defaults.app.inject({
      method: url === '/graphql' ? 'POST' : 'GET',
      url,
      remoteAddress: uniqueIp(),
      headers: { 'content-type': 'application/json', accept: GQL_JSON },
      ...(url === '/graphql' ? { payload: JSON.stringify({ query: VIEWER }) } : {}),
    });
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });
});
