import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { IncomingMessage } from 'node:http';
import { GraphQLModule } from '@nestjs/graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createDb, generateApiKeySecret, type Db } from '@likeness/db';
import { loadConfig } from '../src/config/config';
import { createGateway } from '../src/bootstrap';
import { TenantEvents } from '../src/realtime';
import { GatewayApolloDriver } from '../src/graphql/gateway-apollo.driver';
import type { SubscriptionDocuments } from '../src/graphql/subscriptions';

// Two gateway replicas on real ports, sharing Postgres and Redis (with a prefix of our own).
const env = {
  DATABASE_URL: process.env['DATABASE_URL'],
  DATABASE_APP_URL: process.env['DATABASE_APP_URL'],
  REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  REDIS_PREFIX: `test-subs-${randomUUID().slice(0, 8)}`,
  LOG_LEVEL: 'silent',
  HOST: '127.0.0.1',
};

let replicas: NestFastifyApplication[] = [];
let urls: string[] = [];
let db: Db;
const clients: Client[] = [];

beforeAll(async () => {
  db = createDb(loadConfig(env).database);
  for (let i = 0; i < 2; i++) {
    const app = await createGateway(loadConfig(env));
    await app.listen({ port: 0, host: '127.0.0.1' });
    replicas.push(app);
    urls.push(
      (await app.getUrl()).replace(/^http/, 'ws').replace('[::1]', '127.0.0.1') + '/graphql',
    );
  }
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await Promise.all(replicas.map((a) => a.close()));
  replicas = [];
  urls = [];
  await db?.close();
});

async function tenantWithKey(scopes: string[] = ['renders:read']) {
  const slug = `s-${randomUUID().slice(0, 8)}`;
  const tenant = await db.tenants.create({ name: `Tenant ${slug}`, slug, plan: 'starter' });
  const key = generateApiKeySecret('test');
  await db.apiKeys.create(tenant.id, {
    name: 'ws key',
    prefix: key.prefix,
    secretHash: key.secretHash,
    scopes,
    expiresAt: null,
  });
  return { tenant, secret: key.secret };
}

function client(url: string, connectionParams?: Record<string, unknown>): Client {
  const c = createClient({
    url,
    webSocketImpl: WebSocket,
    lazy: true,
    retryAttempts: 0,
    ...(connectionParams ? { connectionParams } : {}),
  });
  clients.push(c);
  return c;
}

interface Received {
  next: unknown[];
  error: Promise<unknown>;
  /** Resolves once the server acknowledged the subscription by delivering its first event. */
  nextEvent(): Promise<unknown>;
  stop(): void;
}

function subscribe(c: Client, query: string): Received {
  return subscribeWith(c, { query });
}

function subscribeWith(
  c: Client,
  payload: { query: string; variables?: Record<string, unknown> },
): Received {
  const next: unknown[] = [];
  const waiters: ((v: unknown) => void)[] = [];
  let fail: (e: unknown) => void = () => undefined;
  const error = new Promise<unknown>((resolve) => (fail = resolve));
  const stop = c.subscribe(payload, {
    next: (v) => {
      next.push(v);
      waiters.shift()?.(v);
    },
    error: (e) => fail(e),
    complete: () => undefined,
  });
  return {
    next,
    error,
    stop,
    nextEvent: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

/** Publishes until the subscriber has it: the subscription is live a moment after subscribe. */
async function publishUntilReceived(
  publish: () => Promise<void>,
  received: Received,
): Promise<unknown> {
  const got = received.nextEvent();
  let done = false;
  void got.then(() => (done = true));
  for (let i = 0; i < 100 && !done; i++) {
    await publish();
    await Promise.race([got, new Promise((r) => setTimeout(r, 50))]);
  }
  return got;
}

const TENANT_UPDATED = 'subscription { tenantUpdated { id name plan status } }';

describe('graphql-ws subscriptions', () => {
  it('delivers tenantUpdated across replicas to the tenant authenticated by connectionParams', async () => {
    const a = await tenantWithKey();
    const b = await tenantWithKey();
    const sub = subscribe(client(urls[0] as string, { authorization: a.secret }), TENANT_UPDATED);
    const otherSub = subscribe(
      client(urls[0] as string, { authorization: `Bearer ${b.secret}` }),
      TENANT_UPDATED,
    );
    // Published on the OTHER replica: crosses Redis.
    const events = (replicas[1] as NestFastifyApplication).get(TenantEvents);
    const changed = { id: a.tenant.id, name: 'Renamed', plan: 'pro', status: 'SUSPENDED' as const };
    const first = await publishUntilReceived(() => events.tenantUpdated(changed), sub);
    expect(first).toEqual({ data: { tenantUpdated: changed } });
    // Tenant B's subscriber saw none of A's events.
    expect(otherSub.next).toEqual([]);
    sub.stop();
    otherSub.stop();
  });

  it('refuses a socket without credentials at connect', async () => {
    const sub = subscribe(client(urls[0] as string), TENANT_UPDATED);
    const error = (await sub.error) as { code?: number };
    expect(error.code).toBe(4403);
  });

  it('answers an unknown key with UNAUTHENTICATED, through the same guard as HTTP', async () => {
    const sub = subscribe(
      client(urls[1] as string, {
        authorization: 'lk_test_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',
      }),
      TENANT_UPDATED,
    );
    const result = (await sub.nextEvent()) as {
      data?: unknown;
      errors?: { message: string; extensions?: { code?: string } }[];
    };
    expect(result.data ?? null).toBeNull();
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(result.errors?.[0]?.message).toBe('Unknown API key');
  });

  it('shares one parsed document between sockets with the same query, yet authenticates and isolates each', async () => {
    const documents = subscriptionDocuments(0);
    const before = { ...documents.counts };
    // A query text of this test only: the first subscription parses it, the others share it.
    const query = 'subscription SharedDocument { tenantUpdated { id name plan status } }';
    const a = await tenantWithKey();
    const b = await tenantWithKey();
    const events = (replicas[0] as NestFastifyApplication).get(TenantEvents);
    const subA = subscribe(client(urls[0] as string, { authorization: a.secret }), query);
    const changedA = { id: a.tenant.id, name: 'A2', plan: 'pro', status: 'ACTIVE' as const };
    expect(await publishUntilReceived(() => events.tenantUpdated(changedA), subA)).toEqual({
      data: { tenantUpdated: changedA },
    });
    expect(documents.counts.parsed - before.parsed).toBe(1);

    const subB = subscribe(client(urls[0] as string, { authorization: b.secret }), query);
    const unknown = subscribe(
      client(urls[0] as string, {
        authorization: 'lk_test_AAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',
      }),
      query,
    );
    // Still every subscription through the guard: the unknown key gets no events, an error.
    const refused = (await unknown.nextEvent()) as {
      errors?: { extensions?: { code?: string } }[];
    };
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const changedB = { id: b.tenant.id, name: 'B2', plan: 'pro', status: 'ACTIVE' as const };
    expect(await publishUntilReceived(() => events.tenantUpdated(changedB), subB)).toEqual({
      data: { tenantUpdated: changedB },
    });
    // Each saw only its own tenant's events.
    expect(subA.next).toEqual([{ data: { tenantUpdated: changedA } }]);
    expect(subB.next.every((e) => JSON.stringify(e).includes(b.tenant.id))).toBe(true);
    expect(documents.counts.parsed - before.parsed).toBe(1);
    expect(documents.counts.shared - before.shared).toBe(2);
    for (const sub of [subA, subB, unknown]) sub.stop();
  });

  it('checks the scopes of every subscription to a shared document', async () => {
    const documents = subscriptionDocuments(1);
    const query = 'subscription SharedScopes($id: ID!) { renderUpdated(id: $id) { sequence } }';
    const reader = await tenantWithKey(['renders:read']);
    const other = await tenantWithKey(['assets:read']);
    const id = randomUUID();
    const first = subscribeWith(client(urls[1] as string, { authorization: reader.secret }), {
      query,
      variables: { id },
    });
    const answer = (await first.nextEvent()) as { errors?: { extensions?: { code?: string } }[] };
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const sharedBefore = documents.counts.shared;
    const second = subscribeWith(client(urls[1] as string, { authorization: other.secret }), {
      query,
      variables: { id },
    });
    const refused = (await second.nextEvent()) as {
      errors?: { extensions?: { code?: string; reason?: string } }[];
    };
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(documents.counts.shared - sharedBefore).toBe(1);
  });

  it('declines per-message deflate (no compression state per socket)', async () => {
    // The ws client offers permessage-deflate by default; the gateway must not take it.
    const socket = new WebSocket(urls[0] as string, 'graphql-transport-ws');
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    expect(socket.protocol).toBe('graphql-transport-ws');
    expect(socket.extensions).toBe('');
    socket.close();
  });

  it('lets go of the upgrade request once the socket is acknowledged, and subscriptions still work', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const server = (replicas[0] as NestFastifyApplication).getHttpServer();
    const requests: WeakRef<IncomingMessage>[] = [];
    const onUpgrade = (request: IncomingMessage): void => void requests.push(new WeakRef(request));
    server.prependListener('upgrade', onUpgrade);
    const t = await tenantWithKey();
    const sub = subscribe(client(urls[0] as string, { authorization: t.secret }), TENANT_UPDATED);
    const events = (replicas[0] as NestFastifyApplication).get(TenantEvents);
    const changed = { id: t.tenant.id, name: 'Held', plan: 'pro', status: 'ACTIVE' as const };
    await publishUntilReceived(() => events.tenantUpdated(changed), sub);
    server.removeListener('upgrade', onUpgrade);
    expect(requests).toHaveLength(1);
    for (let i = 0; i < 3 && requests[0]?.deref() !== undefined; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    expect(requests[0]?.deref()).toBeUndefined();
    // The socket and its subscription live on without it.
    const again = { ...changed, name: 'Held again' };
    expect(await publishUntilReceived(() => events.tenantUpdated(again), sub)).toEqual({
      data: { tenantUpdated: again },
    });
    sub.stop();
  });
});

function subscriptionDocuments(replica: number): SubscriptionDocuments {
  const app = replicas[replica] as NestFastifyApplication;
  const documents = (app.get(GraphQLModule).graphQlAdapter as GatewayApolloDriver)
    .subscriptionDocuments;
  if (!documents) throw new Error('graphql-ws has no shared documents');
  return documents;
}
