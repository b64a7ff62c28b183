import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createDb, generateApiKeySecret, type Db } from '@likeness/db';
import { loadConfig } from '../src/config/config';
import { createGateway } from '../src/bootstrap';
import { TenantEvents } from '../src/realtime';

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

async function tenantWithKey() {
  const slug = `s-${randomUUID().slice(0, 8)}`;
  const tenant = await db.tenants.create({ name: `Tenant ${slug}`, slug, plan: 'starter' });
  const key = generateApiKeySecret('test');
  await db.apiKeys.create(tenant.id, {
    name: 'ws key',
    prefix: key.prefix,
    secretHash: key.secretHash,
    scopes: ['renders:read'],
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
  const next: unknown[] = [];
  const waiters: ((v: unknown) => void)[] = [];
  let fail: (e: unknown) => void = () => undefined;
  const error = new Promise<unknown>((resolve) => (fail = resolve));
  const stop = c.subscribe(
    { query },
    {
      next: (v) => {
        next.push(v);
        waiters.shift()?.(v);
      },
      error: (e) => fail(e),
      complete: () => undefined,
    },
  );
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
});
