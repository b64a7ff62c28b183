// Helpers of the gateway's specs: gateways with their own Redis key prefix (deleted afterwards),
// tenants with API keys, GraphQL requests from chosen addresses, and a reader for the
// Prometheus text format.
import { randomBytes, randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { createDb, generateApiKeySecret, type Db } from '@likeness/db';
import { loadConfig } from '../../src/config/config';
import { createGateway, type GatewayOptions } from '../../src/bootstrap';

export const GQL_JSON = 'application/graphql-response+json';

export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string | undefined> = {
    DATABASE_URL: process.env['DATABASE_URL'],
    DATABASE_APP_URL: process.env['DATABASE_APP_URL'],
    REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `test-${randomBytes(6).toString('hex')}`,
    LOG_LEVEL: 'silent',
    // The render admitter and reconciler look at every tenant's renders in the shared test
    // database; only the render specs run them (RENDER_DISPATCH: 'true').
    RENDER_DISPATCH: 'false',
    ...overrides,
  };
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );
}

export interface TestGateway {
  app: NestFastifyApplication;
  redisPrefix: string;
  close(): Promise<void>;
}

/** A booted gateway (not listening; use app.inject) whose Redis keys are removed on close. */
export async function startGateway(
  overrides: Record<string, string> = {},
  options: GatewayOptions = {},
): Promise<TestGateway> {
  const config = loadConfig(testEnv(overrides));
  const app = await createGateway(config, options);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return {
    app,
    redisPrefix: config.redisPrefix,
    close: async () => {
      await app.close();
      await deleteRedisPrefix(config.redisUrl, config.redisPrefix);
    },
  };
}

export async function deleteRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

export function testDb(): Db {
  return createDb(loadConfig(testEnv()).database);
}

export async function newTenantWithKey(
  db: Db,
  options: { plan?: string; scopes?: string[] } = {},
): Promise<{ tenantId: string; apiKeyId: string; secret: string }> {
  const slug = `t-${randomUUID().slice(0, 8)}`;
  const tenant = await db.tenants.create({
    name: `Tenant ${slug}`,
    slug,
    plan: options.plan ?? 'starter',
  });
  const key = generateApiKeySecret('test');
  const apiKey = await db.apiKeys.create(tenant.id, {
    name: 'test key',
    prefix: key.prefix,
    secretHash: key.secretHash,
    scopes: options.scopes ?? ['renders:read'],
    expiresAt: null,
  });
  return { tenantId: tenant.id, apiKeyId: apiKey.id, secret: key.secret };
}

export interface GqlError {
  message: string;
  extensions: {
    code: string;
    field?: string;
    reason?: string;
    retryAfterSeconds?: number;
    requestId?: string;
  };
}
export interface GqlBody {
  data?: Record<string, unknown> | null;
  errors?: GqlError[];
}

export async function gql(
  app: NestFastifyApplication,
  request: {
    query: string;
    variables?: Record<string, unknown>;
    operationName?: string;
    token?: string;
    ip?: string;
    headers?: Record<string, string>;
  },
) {
  const res = await app.inject({
    method: 'POST',
    url: '/graphql',
    remoteAddress: request.ip ?? '127.0.0.1',
    headers: {
      'content-type': 'application/json',
      accept: GQL_JSON,
      ...(request.token ? { authorization: `Bearer ${request.token}` } : {}),
      ...request.headers,
    },
    payload: JSON.stringify({
      query: request.query,
      ...(request.variables ? { variables: request.variables } : {}),
      ...(request.operationName ? { operationName: request.operationName } : {}),
    }),
  });
  return {
    status: res.statusCode,
    headers: res.headers,
    body: res.json<GqlBody>(),
    /** The response body as sent. */
    raw: res.body,
  };
}

/** A documentation-range address (RFC 5737) of its own for each test. */
let nextHost = 1;
export function uniqueIp(): string {
  const n = nextHost++;
  return `198.51.100.${n}`;
}

/** The value of one sample of the Prometheus text format, or 0 when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [
        m[1],
        m[2],
      ]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) {
      if (Object.keys(found).length === Object.keys(labels).length) return Number(match[3]);
    }
  }
  return 0;
}

/** A pino destination that keeps every line written to it, synchronously. */
export class CapturedLog {
  private readonly chunks: string[] = [];

  write(chunk: string): void {
    this.chunks.push(chunk);
  }

  get text(): string {
    return this.chunks.join('');
  }

  /** Every line, parsed: a line that is not JSON fails the test. */
  lines(): Record<string, unknown>[] {
    return this.text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}
