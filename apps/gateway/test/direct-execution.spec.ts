import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { Plugin } from '@nestjs/apollo';
import { NestFactory } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ApolloServerPlugin } from '@apollo/server';
import type { Db } from '@likeness/db';
import { AppModule } from '../src/app.module';
import { loadConfig } from '../src/config/config';
import { GatewayApolloDriver } from '../src/graphql/gateway-apollo.driver';
import type { DirectExecution } from '../src/graphql/direct-execution';
import {
  GQL_JSON,
  gql,
  newTenantWithKey,
  startGateway,
  testDb,
  deleteRedisPrefix,
  testEnv,
  uniqueIp,
  type TestGateway,
} from './support/gateway-harness';

// The direct execution path (src/graphql/direct-execution.ts) must answer exactly as Apollo
// does. Every other gateway spec runs through it too (it is on by default); this one compares
// it with Apollo request by request, and pins down what it serves and what it leaves to Apollo.

function directOf(app: NestFastifyApplication): DirectExecution | null {
  return (app.get(GraphQLModule).graphQlAdapter as GatewayApolloDriver).directExecution;
}

function countsOf(app: NestFastifyApplication): DirectExecution['counts'] {
  const direct = directOf(app);
  if (!direct) throw new Error('the direct path is off');
  return direct.counts;
}

let db: Db;
beforeAll(() => {
  db = testDb();
});
afterAll(async () => {
  await db?.close();
});

describe('the direct path', () => {
  let gateway: TestGateway;
  let reader: { secret: string };
  let keysReader: { secret: string };
  beforeAll(async () => {
    gateway = await startGateway();
    reader = await newTenantWithKey(db, { scopes: ['renders:read'] });
    keysReader = await newTenantWithKey(db, { scopes: ['keys:read'] });
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('answers ordinary queries itself', async () => {
    const counts = countsOf(gateway.app);
    const before = { ...counts };
    const res = await gql(gateway.app, { query: '{ viewer { kind } }', token: reader.secret });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { viewer: { kind: 'API_KEY' } } });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(counts).toEqual({ executed: before.executed + 1, declined: before.declined });
  });

  it('checks scopes on every request of a cached document, for each caller', async () => {
    const counts = countsOf(gateway.app);
    const query = '{ apiKeys(first: 1) { edges { node { id } } } }';
    const before = counts.executed;
    const refused = await gql(gateway.app, { query, token: reader.secret });
    const allowed = await gql(gateway.app, { query, token: keysReader.secret });
    const refusedAgain = await gql(gateway.app, { query, token: reader.secret });
    for (const res of [refused, refusedAgain]) {
      expect(res.status).toBe(403);
      expect(res.body.errors?.[0]?.extensions).toMatchObject({
        code: 'FORBIDDEN',
        reason: 'MISSING_SCOPE',
        requestId: expect.any(String),
      });
    }
    expect(allowed.status).toBe(200);
    expect(allowed.body.errors).toBeUndefined();
    expect(counts.executed).toBe(before + 3);
  });

  it('gives each caller their own answer from one cached document', async () => {
    const other = await newTenantWithKey(db, { scopes: ['renders:read'] });
    const query = '{ viewer { apiKey { scopes } tenant { id } } }';
    const mine = await gql(gateway.app, { query, token: reader.secret });
    const theirs = await gql(gateway.app, { query, token: other.secret });
    expect(mine.body.data).not.toEqual(theirs.body.data);
    expect(theirs.body.data).toEqual({
      viewer: { apiKey: { scopes: ['renders:read'] }, tenant: { id: other.tenantId } },
    });
  });

  it('is off with GRAPHQL_DIRECT_EXECUTION=false', async () => {
    const off = await startGateway({ GRAPHQL_DIRECT_EXECUTION: 'false' });
    try {
      expect(directOf(off.app)).toBeNull();
      const res = await gql(off.app, { query: '{ viewer { kind } }', token: reader.secret });
      expect(res.body).toEqual({ data: { viewer: { kind: 'API_KEY' } } });
    } finally {
      await off.close();
    }
  });
});

describe('limits on the direct path', () => {
  let tight: TestGateway;
  beforeAll(async () => {
    tight = await startGateway({ RATE_LIMIT_API_KEY_PER_MINUTE: '2', GRAPHQL_MAX_COMPLEXITY: '3' });
  });
  afterAll(async () => {
    await tight?.close();
  });

  it('refuses a query over the complexity limit each time, cached or not', async () => {
    const { secret } = await newTenantWithKey(db);
    const counts = countsOf(tight.app);
    const before = { ...counts };
    // viewer + kind + tenant + id + name = 5 > 3.
    const query = '{ viewer { kind tenant { id name } } }';
    for (let i = 0; i < 2; i++) {
      const res = await gql(tight.app, { query, token: secret, ip: uniqueIp() });
      expect(res.status).toBe(400);
      expect(res.body.errors?.[0]?.extensions).toMatchObject({
        code: 'BAD_USER_INPUT',
        field: 'query',
        reason: 'QUERY_TOO_COMPLEX',
      });
    }
    // Refusals are Apollo's to make; nothing ran.
    expect(counts).toEqual({ executed: before.executed, declined: before.declined + 2 });
  });

  it("limits each API key's requests", async () => {
    const { secret } = await newTenantWithKey(db);
    const counts = countsOf(tight.app);
    const before = counts.executed;
    const answers = [];
    for (let i = 0; i < 3; i++) {
      answers.push(await gql(tight.app, { query: '{ viewer { kind } }', token: secret }));
    }
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
    expect(answers[1]?.headers['ratelimit-remaining']).toBe('0');
    expect(answers[2]?.headers['retry-after']).toEqual(expect.stringMatching(/^\d+$/));
    expect(answers[2]?.body.errors?.[0]?.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      reason: 'API_KEY_RATE_LIMIT',
      retryAfterSeconds: expect.any(Number),
    });
    expect(counts.executed).toBe(before + 3);
  });
});

/** One request, sent the same way to both gateways. */
interface Case {
  name: string;
  /** Which path the gateway with the direct path should take. */
  path: 'direct' | 'apollo';
  method?: 'GET' | 'POST';
  url?: string;
  token?: 'reader' | 'keysReader' | 'unknown';
  headers?: Record<string, string>;
  /** JSON-encoded unless a string. */
  body?: unknown;
}

const VIEWER = { query: '{ viewer { kind tenant { plan status } apiKey { name scopes } } }' };
const KEYS = 'query Keys($first: Int) { apiKeys(first: $first) { edges { node { name } } } }';
const TWO_OPS = 'query A { viewer { kind } } query B { viewer { apiKey { name } } }';
const get = (query: string, extra = ''): string =>
  `/graphql?query=${encodeURIComponent(query)}${extra}`;

const CASES: Case[] = [
  { name: 'a query', path: 'direct', token: 'reader', body: VIEWER },
  {
    name: 'Accept: application/json',
    path: 'direct',
    token: 'reader',
    headers: { accept: 'application/json' },
    body: VIEWER,
  },
  { name: 'no Accept', path: 'direct', token: 'reader', headers: { accept: '' }, body: VIEWER },
  {
    name: 'Accept: */*',
    path: 'direct',
    token: 'reader',
    headers: { accept: '*/*' },
    body: VIEWER,
  },
  {
    name: 'Accept with q-values',
    path: 'direct',
    token: 'reader',
    headers: { accept: 'application/json;q=0.5, application/graphql-response+json' },
    body: VIEWER,
  },
  {
    name: 'an Accept without JSON',
    path: 'apollo',
    token: 'reader',
    headers: { accept: 'text/html' },
    body: VIEWER,
  },
  { name: 'no credentials', path: 'direct', body: VIEWER },
  { name: 'an unknown key', path: 'direct', token: 'unknown', body: VIEWER },
  {
    name: 'a missing scope',
    path: 'direct',
    token: 'reader',
    body: { query: KEYS, variables: { first: 2 } },
  },
  {
    name: 'partial data with an error',
    path: 'direct',
    token: 'reader',
    body: { query: '{ viewer { kind } asset(id: "00000000-0000-4000-8000-000000000000") { id } }' },
  },
  {
    name: 'variables',
    path: 'direct',
    token: 'keysReader',
    body: { query: KEYS, variables: { first: 2 }, operationName: 'Keys' },
  },
  {
    name: 'variables that do not coerce',
    path: 'apollo',
    token: 'keysReader',
    body: { query: KEYS, variables: { first: 'two' } },
  },
  {
    name: 'variables out of range',
    path: 'direct',
    token: 'keysReader',
    body: { query: KEYS, variables: { first: 1000 } },
  },
  {
    name: 'operationName picking one of two',
    path: 'direct',
    token: 'reader',
    body: { query: TWO_OPS, operationName: 'B' },
  },
  {
    name: 'an unknown operationName',
    path: 'apollo',
    token: 'reader',
    body: { query: TWO_OPS, operationName: 'C' },
  },
  { name: 'two operations, no name', path: 'apollo', token: 'reader', body: { query: TWO_OPS } },
  { name: 'a syntax error', path: 'apollo', token: 'reader', body: { query: '{ viewer { kind' } },
  {
    name: 'an unknown field',
    path: 'apollo',
    token: 'reader',
    body: { query: '{ viewer { nope } }' },
  },
  {
    name: 'too many aliases',
    path: 'apollo',
    token: 'reader',
    body: { query: '{ a: viewer { kind } b: viewer { kind } c: viewer { kind } }' },
  },
  {
    name: 'introspection',
    path: 'direct',
    token: 'reader',
    body: { query: '{ __schema { queryType { name } } __typename }' },
  },
  {
    name: 'a mutation without the scope',
    path: 'direct',
    token: 'reader',
    body: { query: 'mutation { createApiKey(input: { name: "x", scopes: [] }) { secret } }' },
  },
  {
    name: 'a public mutation (login) failing',
    path: 'direct',
    body: { query: 'mutation { login(email: "nobody@example.com", password: "wrong") { token } }' },
  },
  {
    name: 'a GET query with a preflight header',
    path: 'direct',
    method: 'GET',
    url: get('{ viewer { kind } }'),
    token: 'reader',
    headers: { 'apollo-require-preflight': 'true' },
  },
  {
    name: 'a GET with variables and operationName',
    path: 'direct',
    method: 'GET',
    url: get(KEYS, `&variables=${encodeURIComponent('{"first":1}')}&operationName=Keys`),
    token: 'keysReader',
    headers: { 'x-apollo-operation-name': 'Keys' },
  },
  {
    name: 'a GET without a preflight header (CSRF)',
    path: 'apollo',
    method: 'GET',
    url: get('{ viewer { kind } }'),
    token: 'reader',
  },
  {
    name: 'a mutation over GET',
    path: 'apollo',
    method: 'GET',
    url: get('mutation { logout }'),
    token: 'reader',
    headers: { 'apollo-require-preflight': 'true' },
  },
  {
    name: 'a GET with the query twice',
    path: 'apollo',
    method: 'GET',
    url: `${get('{ viewer { kind } }')}&query=x`,
    token: 'reader',
    headers: { 'apollo-require-preflight': 'true' },
  },
  {
    name: 'a persisted query',
    path: 'apollo',
    token: 'reader',
    body: { extensions: { persistedQuery: { version: 1, sha256Hash: 'ab'.repeat(32) } } },
  },
  { name: 'a batch', path: 'apollo', token: 'reader', body: [VIEWER, VIEWER] },
  { name: 'an empty object', path: 'apollo', token: 'reader', body: {} },
  {
    name: 'variables as a string',
    path: 'apollo',
    token: 'keysReader',
    body: { query: KEYS, variables: '{"first":1}' },
  },
  {
    name: 'text/plain (CSRF)',
    path: 'apollo',
    token: 'reader',
    headers: { 'content-type': 'text/plain' },
    body: JSON.stringify(VIEWER),
  },
];

/** Headers that differ between two correct answers (time, connection). */
const VARYING = new Set(['date', 'ratelimit-reset', 'retry-after', 'connection', 'keep-alive']);

describe('the direct path answers as Apollo does', () => {
  let direct: TestGateway;
  let apollo: TestGateway;
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    const overrides = { GRAPHQL_MAX_ALIASES: '2' };
    direct = await startGateway(overrides);
    apollo = await startGateway({ ...overrides, GRAPHQL_DIRECT_EXECUTION: 'false' });
    tokens['reader'] = (await newTenantWithKey(db, { scopes: ['renders:read'] })).secret;
    tokens['keysReader'] = (await newTenantWithKey(db, { scopes: ['keys:read'] })).secret;
    tokens['unknown'] = 'lk_test_AbCd1234_0000000000000000000000000000000000000000000';
  });
  afterAll(async () => {
    await direct?.close();
    await apollo?.close();
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', async (_name, c, i) => {
    const send = (app: NestFastifyApplication) =>
      app.inject({
        method: c.method ?? 'POST',
        url: c.url ?? '/graphql',
        remoteAddress: `203.0.113.${i + 1}`,
        headers: {
          ...(c.method === 'GET' ? {} : { 'content-type': 'application/json' }),
          accept: GQL_JSON,
          'x-request-id': `equivalence-${i}`,
          ...(c.token ? { authorization: `Bearer ${tokens[c.token]}` } : {}),
          ...c.headers,
        },
        ...(c.body === undefined
          ? {}
          : { payload: typeof c.body === 'string' ? c.body : JSON.stringify(c.body) }),
      });
    const counts = countsOf(direct.app);
    const before = { ...counts };
    const ours = await send(direct.app);
    const theirs = await send(apollo.app);
    expect(counts).toEqual(
      c.path === 'direct'
        ? { executed: before.executed + 1, declined: before.declined }
        : { executed: before.executed, declined: before.declined + 1 },
    );
    const comparable = (headers: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(headers).filter(([name]) => !VARYING.has(name)));
    expect({ status: ours.statusCode, headers: comparable(ours.headers), body: ours.body }).toEqual(
      { status: theirs.statusCode, headers: comparable(theirs.headers), body: theirs.body },
    );
    expect('retry-after' in ours.headers).toBe('retry-after' in theirs.headers);
  });

  it('counts the same metrics', async () => {
    const scrape = async (app: NestFastifyApplication) =>
      (await app.inject({ method: 'GET', url: '/metrics' })).body
        .split('\n')
        .filter((l) => /^likeness_(graphql_(operations|errors)_total|http_requests_total)/.test(l))
        .sort();
    expect(await scrape(direct.app)).toEqual(await scrape(apollo.app));
  });
});

describe('an Apollo plugin the direct path does not know', () => {
  @Plugin()
  class CountingPlugin implements ApolloServerPlugin {
    requests = 0;
    async requestDidStart(): Promise<void> {
      this.requests += 1;
    }
  }
  @Module({ providers: [CountingPlugin] })
  class ExtraPluginModule {}

  it('turns the direct path off, so that the plugin sees every request', async () => {
    const config = loadConfig(testEnv());
    @Module({ imports: [AppModule.forConfig(config), ExtraPluginModule] })
    class GatewayWithExtraPlugin {}
    const app = await NestFactory.create<NestFastifyApplication>(
      GatewayWithExtraPlugin,
      new FastifyAdapter(),
      { logger: false },
    );
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    try {
      expect(directOf(app)).toBeNull();
      const { secret } = await newTenantWithKey(db);
      const res = await gql(app, { query: '{ viewer { kind } }', token: secret });
      expect(res.body).toEqual({ data: { viewer: { kind: 'API_KEY' } } });
      expect(app.get(CountingPlugin).requests).toBe(1);
    } finally {
      await app.close();
      await deleteRedisPrefix(config.redisUrl, config.redisPrefix);
    }
  });
});
