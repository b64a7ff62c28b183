import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { generateApiKeySecret, hashPassword, type Db } from '@likeness/db';
import {
  CapturedLog,
  gql,
  newTenantWithKey,
  sample,
  startGateway,
  testDb,
  uniqueIp,
  type TestGateway,
} from './support/gateway-harness';

let db: Db;

beforeAll(() => {
  db = testDb();
});

afterAll(async () => {
  await db?.close();
});

describe('logs', () => {
  let gateway: TestGateway;
  const log = new CapturedLog();

  beforeAll(async () => {
    // The most verbose level: whatever anything logs, secrets must not be in it.
    gateway = await startGateway({ LOG_LEVEL: 'trace' }, { logDestination: log });
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('carries request, tenant and key/user ids, and never a secret', async () => {
    const { app } = gateway;
    const key = await newTenantWithKey(db, { scopes: ['keys:write', 'renders:read'] });
    const email = `admin-${randomUUID().slice(0, 8)}@example.test`;
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const wrongPassword = `wrong-${randomBytes(12).toString('hex')}`;
    const user = await db.users.create({
      email,
      passwordHash: await hashPassword(password),
      role: 'TENANT_ADMIN',
      tenantId: key.tenantId,
    });
    const cookie = `session=${randomBytes(16).toString('hex')}`;
    const unknownKey = generateApiKeySecret('live').secret;
    const secrets: string[] = [key.secret, password, wrongPassword, cookie, unknownKey];

    // 1. An API key, with a cookie and a request id of our own.
    const viewer = await gql(app, {
      query: '{ viewer { kind tenant { id } } }',
      token: key.secret,
      headers: { cookie, 'x-request-id': 'log-test-1' },
    });
    expect(viewer.status).toBe(200);
    // 2. The key creates a key: the new secret is in the answer, and must not be in the log.
    const created = await gql(app, {
      query: 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }',
      variables: { i: { name: 'from the log test', scopes: ['renders:read'] } },
      token: key.secret,
    });
    const createdSecret = (created.body.data?.['createApiKey'] as { secret: string } | undefined)
      ?.secret;
    expect(createdSecret).toMatch(/^lk_live_/);
    secrets.push(createdSecret as string);
    // 3. Login attempts: a wrong password inline, the right one in variables.
    const failed = await gql(app, {
      query: `mutation { login(email: "${email}", password: "${wrongPassword}") { token } }`,
    });
    expect(failed.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    const login = await gql(app, {
      query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
      variables: { e: email, p: password },
    });
    const sessionToken = (login.body.data?.['login'] as { token: string } | undefined)?.token;
    expect(typeof sessionToken).toBe('string');
    secrets.push(sessionToken as string);
    // 4. The session, and an unknown key in the Authorization header.
    const asUser = await gql(app, { query: '{ viewer { kind } }', token: sessionToken as string });
    expect(asUser.status).toBe(200);
    expect((await gql(app, { query: '{ viewer { kind } }', token: unknownKey })).status).toBe(401);
    // 5. A secret in a query string.
    await app.inject({ method: 'GET', url: `/v1/nothing?token=${key.secret}` });

    const lines = log.lines(); // every line is JSON
    for (const secret of secrets) expect(log.text).not.toContain(secret);
    const completed = lines.filter((l) => l['msg'] === 'request completed');
    expect(completed).toHaveLength(7);
    expect(completed.find((l) => l['requestId'] === 'log-test-1')).toMatchObject({
      level: 30,
      method: 'POST',
      path: '/graphql',
      route: '/graphql',
      statusCode: 200,
      operation: 'viewer',
      tenantId: key.tenantId,
      apiKeyId: key.apiKeyId,
      durationMs: expect.any(Number),
    });
    const userLine = completed.find((l) => l['userId'] === user.id);
    expect(userLine).toMatchObject({ tenantId: key.tenantId, statusCode: 200 });
    expect(userLine?.['apiKeyId']).toBeUndefined();
    expect(completed.find((l) => l['path'] === '/v1/nothing')).toMatchObject({ statusCode: 404 });
    for (const line of completed) expect(line['requestId']).toEqual(expect.any(String));
  });
});

describe('metrics', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway();
  });

  afterAll(async () => {
    await gateway?.close();
  });

  async function scrape(g: TestGateway = gateway): Promise<string> {
    const res = await g.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    return res.body;
  }

  it('serves the Prometheus text format at /metrics without credentials', async () => {
    const res = await gateway.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const line of [
      '# TYPE likeness_http_requests_total counter',
      '# TYPE likeness_http_request_duration_seconds histogram',
      '# TYPE likeness_graphql_operations_total counter',
      '# TYPE likeness_graphql_operation_duration_seconds histogram',
      '# TYPE likeness_graphql_errors_total counter',
      '# TYPE process_cpu_user_seconds_total counter',
      '# TYPE nodejs_eventloop_lag_seconds gauge',
    ]) {
      expect(res.body).toContain(line);
    }
  });

  it('counts requests and operations', async () => {
    const { secret } = await newTenantWithKey(db);
    const before = await scrape();
    await gql(gateway.app, { query: 'query Me { viewer { kind } }', token: secret });
    await gql(gateway.app, { query: 'query Me { viewer { kind } }', token: secret });
    await gql(gateway.app, { query: '{ viewer { kind } }', token: secret });
    await gateway.app.inject({ method: 'GET', url: '/nowhere' });
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      sample(after, name, labels) - sample(before, name, labels);

    const post200 = { method: 'POST', route: '/graphql', status: '200' };
    expect(delta('likeness_http_requests_total', post200)).toBe(3);
    expect(
      delta('likeness_http_request_duration_seconds_count', { method: 'POST', route: '/graphql' }),
    ).toBe(3);
    expect(
      delta('likeness_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }),
    ).toBe(1);
    expect(delta('likeness_graphql_operations_total', { operation: 'Me', type: 'query' })).toBe(2);
    expect(delta('likeness_graphql_operations_total', { operation: 'viewer', type: 'query' })).toBe(
      1,
    );
    expect(delta('likeness_graphql_operation_duration_seconds_count', { operation: 'Me' })).toBe(2);
  });

  it('counts errors by code, including refusals that never reached Apollo', async () => {
    const { secret } = await newTenantWithKey(db);
    const before = await scrape();
    expect((await gql(gateway.app, { query: '{ viewer { kind } }' })).status).toBe(401);
    expect((await gql(gateway.app, { query: '{ viewer { nope } }', token: secret })).status).toBe(
      400,
    );
    const big = `{ viewer { kind } } # ${'x'.repeat(21_000)}`;
    expect((await gql(gateway.app, { query: big, token: secret, ip: uniqueIp() })).status).toBe(
      400,
    );
    const after = await scrape();
    const delta = (labels: Record<string, string>) =>
      sample(after, 'likeness_graphql_errors_total', labels) -
      sample(before, 'likeness_graphql_errors_total', labels);
    expect(delta({ code: 'UNAUTHENTICATED' })).toBe(1);
    expect(delta({ code: 'BAD_USER_INPUT' })).toBe(2);
    expect(delta({ code: 'INTERNAL' })).toBe(0);
    expect(
      sample(after, 'likeness_http_requests_total', {
        method: 'POST',
        route: '/graphql',
        status: '401',
      }) -
        sample(before, 'likeness_http_requests_total', {
          method: 'POST',
          route: '/graphql',
          status: '401',
        }),
    ).toBe(1);
  });

  it('keeps one registry per gateway', async () => {
    const other = await startGateway();
    try {
      const { secret } = await newTenantWithKey(db);
      await gql(gateway.app, { query: 'query OnlyInTheFirst { viewer { kind } }', token: secret });
      const mine = await scrape();
      const theirs = await scrape(other);
      const labels = { operation: 'OnlyInTheFirst', type: 'query' };
      expect(sample(mine, 'likeness_graphql_operations_total', labels)).toBe(1);
      expect(sample(theirs, 'likeness_graphql_operations_total', labels)).toBe(0);
      expect(
        sample(theirs, 'likeness_http_requests_total', {
          method: 'POST',
          route: '/graphql',
          status: '200',
        }),
      ).toBe(0);
    } finally {
      await other.close();
    }
  });
});
