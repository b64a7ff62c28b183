import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ApiKeyAuth } from '@likeness/db';
import { loadConfig } from '../config/config';
import { ApiKeyCache } from './api-key-cache';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

function auth(tenantId: string, apiKeyId = randomUUID()): ApiKeyAuth {
  return {
    apiKeyId,
    tenantId,
    name: 'k',
    prefix: 'lk_test_abcdefgh',
    scopes: ['*'],
    expiresAt: null,
    revokedAt: null,
    spendCapCents: null,
    tenant: { id: tenantId, name: 'T', slug: 't', plan: 'free', status: 'ACTIVE' },
  };
}

async function until(what: string, probe: () => boolean, withinMs = 5_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A real cache on a real Redis (or an unreachable one); its own channel unless `prefix` is shared. */
async function startCache(
  redisUrl: string,
  prefix = `likeness-test-cache-${randomUUID().slice(0, 8)}`,
): Promise<{ cache: ApiKeyCache; stop: () => Promise<void> }> {
  const config = loadConfig({
    DATABASE_URL: 'postgresql://unused@127.0.0.1:1/unused',
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
  });
  const publisher = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    disconnectTimeout: 200,
  });
  publisher.on('error', () => undefined);
  const cache = new ApiKeyCache(config, publisher);
  cache.onModuleInit();
  return {
    cache,
    stop: async () => {
      await cache.onModuleDestroy();
      publisher.disconnect();
    },
  };
}

/** A loader that counts its calls and answers from a map. */
function loader(rows: Map<string, ApiKeyAuth>) {
  const load = jest.fn((hash: string) => Promise.resolve(rows.get(hash) ?? null));
  return load;
}

describe('ApiKeyCache with Redis', () => {
  let cache: ApiKeyCache;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ cache, stop } = await startCache(REDIS_URL));
    await until('the subscription', () => cache.live);
  });

  afterAll(async () => {
    await stop();
  });

  it('serves a found key from memory and never caches an unknown one', async () => {
    const row = auth(randomUUID());
    const load = loader(new Map([['h1', row]]));
    expect(await cache.lookup('h1', load)).toBe(row);
    expect(await cache.lookup('h1', load)).toBe(row);
    expect(await cache.lookup('missing', load)).toBeNull();
    expect(await cache.lookup('missing', load)).toBeNull();
    expect(load.mock.calls.map(([h]) => h)).toEqual(['h1', 'missing', 'missing']);
  });

  it('shares one load between concurrent misses', async () => {
    const row = auth(randomUUID());
    const load = loader(new Map([['h2', row]]));
    const results = await Promise.all([1, 2, 3].map(() => cache.lookup('h2', load)));
    expect(results).toEqual([row, row, row]);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('drops exactly the invalidated key, or every key of the tenant', async () => {
    const tenant = randomUUID();
    const a = auth(tenant);
    const b = auth(tenant);
    const c = auth(randomUUID());
    const load = loader(
      new Map([
        ['a', a],
        ['b', b],
        ['c', c],
      ]),
    );
    for (const h of ['a', 'b', 'c']) await cache.lookup(h, load);
    await cache.invalidateKey(tenant, a.apiKeyId);
    for (const h of ['a', 'b', 'c']) await cache.lookup(h, load);
    expect(load.mock.calls.map(([h]) => h)).toEqual(['a', 'b', 'c', 'a']);
    await cache.invalidateTenant(tenant);
    for (const h of ['a', 'b', 'c']) await cache.lookup(h, load);
    expect(load.mock.calls.map(([h]) => h)).toEqual(['a', 'b', 'c', 'a', 'a', 'b']);
  });

  it('does not keep a load that raced with an invalidation', async () => {
    const row = auth(randomUUID());
    let release: (value: ApiKeyAuth) => void = () => undefined;
    const slow = jest.fn(() => new Promise<ApiKeyAuth>((resolve) => (release = resolve)));
    const pending = cache.lookup('race', slow);
    await cache.invalidateKey(row.tenantId, row.apiKeyId);
    release(row);
    expect(await pending).toBe(row);
    const load = loader(new Map([['race', row]]));
    await cache.lookup('race', load);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('hears invalidations from another replica, and clears all on an unknown message', async () => {
    const prefix = `likeness-test-cache-${randomUUID().slice(0, 8)}`;
    const [here, there] = await Promise.all([
      startCache(REDIS_URL, prefix),
      startCache(REDIS_URL, prefix),
    ]);
    const publisher = new Redis(REDIS_URL);
    try {
      await until('both subscriptions', () => here.cache.live && there.cache.live);
      const row = auth(randomUUID());
      const other = auth(randomUUID());
      const load = loader(
        new Map([
          ['remote', row],
          ['other', other],
        ]),
      );
      await here.cache.lookup('remote', load);
      await here.cache.lookup('other', load);
      expect(here.cache.size).toBe(2);
      await there.cache.invalidateKey(row.tenantId, row.apiKeyId);
      await until('the remote invalidation', () => here.cache.size === 1);
      await here.cache.lookup('remote', load);
      await here.cache.lookup('other', load);
      expect(load.mock.calls.map(([h]) => h)).toEqual(['remote', 'other', 'remote']);

      await publisher.publish(here.cache.channel, '{"kind":"everything"}');
      await until('the unknown message to clear the cache', () => here.cache.size === 0);
    } finally {
      await publisher.quit();
      await Promise.all([here.stop(), there.stop()]);
    }
  });
});

describe('ApiKeyCache without Redis', () => {
  it('never serves from memory while it cannot hear invalidations', async () => {
    const { cache, stop } = await startCache('redis://127.0.0.1:1');
    try {
      const row = auth(randomUUID());
      const load = loader(new Map([['h', row]]));
      for (let i = 0; i < 3; i += 1) expect(await cache.lookup('h', load)).toBe(row);
      expect(load).toHaveBeenCalledTimes(3);
      expect(cache.live).toBe(false);
      // Publishing fails, but the local invalidation and the caller go on.
      await expect(cache.invalidateTenant(row.tenantId)).resolves.toBeUndefined();
    } finally {
      await stop();
    }
  });
});
