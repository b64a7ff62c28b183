import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig, type AppConfig } from '../config/config';
import type { Principal } from '../auth/principal';
import { RateLimitService } from './rate-limits';

const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

function config(env: Record<string, string> = {}): AppConfig {
  return loadConfig({
    DATABASE_URL: 'postgresql://unused@127.0.0.1:1/unused',
    REDIS_URL: redisUrl,
    REDIS_PREFIX: `test-rl-${randomBytes(6).toString('hex')}`,
    ...env,
  });
}

const tenant = (plan: string) => ({ id: 't', name: 'T', plan, status: 'ACTIVE' as const });
const key = (plan: string, id = randomBytes(4).toString('hex')): Principal => ({
  kind: 'API_KEY',
  apiKeyId: id,
  apiKeyName: 'k',
  apiKeyPrefix: 'lk_test_x',
  scopes: [],
  tenant: tenant(plan),
});
const user = (plan: string | null): Principal => ({
  kind: 'USER',
  userId: randomBytes(4).toString('hex'),
  sessionId: 's',
  email: 'u@example.test',
  role: plan === null ? 'PLATFORM_ADMIN' : 'TENANT_ADMIN',
  tenant: plan === null ? null : tenant(plan),
});

describe('RateLimitService', () => {
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(redisUrl);
  });

  afterAll(async () => {
    await redis.quit();
  });

  async function cleanup(prefix: string): Promise<void> {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }

  it.each<[string, Principal, number]>([
    ['a free key', key('free'), 60],
    ['a starter key', key('starter'), 300],
    ['a pro key', key('pro'), 1200],
    ['an enterprise key', key('enterprise'), 6000],
    ['a tenant user', user('starter'), 300],
    ['a platform admin (no plan): the largest plan', user(null), 6000],
    ['a key of an unknown plan: the smallest plan', key('platinum'), 60],
  ])('gives %s %i requests per minute', (_, principal, limit) => {
    expect(new RateLimitService(redis, config()).limitOf(principal)).toBe(limit);
  });

  it('lets RATE_LIMIT_API_KEY_PER_MINUTE override every plan', () => {
    const service = new RateLimitService(redis, config({ RATE_LIMIT_API_KEY_PER_MINUTE: '7' }));
    expect(service.limitOf(key('free'))).toBe(7);
    expect(service.limitOf(user(null))).toBe(7);
  });

  it('shares counts through Redis between gateway instances', async () => {
    const c = config({ RATE_LIMIT_API_KEY_PER_MINUTE: '2' });
    const one = new RateLimitService(redis, c);
    const two = new RateLimitService(redis, c);
    const principal = key('free');
    try {
      expect((await one.consumePrincipal(principal)).allowed).toBe(true);
      expect((await two.consumePrincipal(principal)).allowed).toBe(true);
      const third = await one.consumePrincipal(principal);
      expect(third).toMatchObject({ allowed: false, limit: 2, remaining: 0, scope: 'API_KEY' });
      expect(third.resetSeconds).toBeGreaterThanOrEqual(1);
      expect(third.resetSeconds).toBeLessThanOrEqual(60);
      expect(
        await redis.exists(
          `${c.redisPrefix}:rl:principal:key:${principal.kind === 'API_KEY' ? principal.apiKeyId : ''}`,
        ),
      ).toBe(1);
    } finally {
      await cleanup(c.redisPrefix);
    }
  });

  it('remembers an address that has used its limit until its window ends', async () => {
    const c = config({ RATE_LIMIT_IP_PER_MINUTE: '2' });
    const service = new RateLimitService(redis, c);
    try {
      expect((await service.consumeIp('192.0.2.1')).remaining).toBe(1);
      expect(service.blockedIp('192.0.2.1')).toBeNull();
      expect((await service.consumeIp('192.0.2.1')).remaining).toBe(0);
      const blocked = service.blockedIp('192.0.2.1');
      expect(blocked).toMatchObject({ allowed: false, scope: 'IP', limit: 2, remaining: 0 });
      expect(blocked?.resetSeconds).toBeGreaterThanOrEqual(1);
      expect(blocked?.resetSeconds).toBeLessThanOrEqual(60);
      expect(service.blockedIp('192.0.2.2')).toBeNull();
      expect(service.blockedIp('192.0.2.1', Date.now() + 61_000)).toBeNull();
      expect(service.blockedIp('192.0.2.1')).toBeNull();
    } finally {
      await cleanup(c.redisPrefix);
    }
  });

  it('still limits, in memory, while Redis is unreachable', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      const service = new RateLimitService(down, config({ RATE_LIMIT_IP_PER_MINUTE: '2' }));
      const decisions = [];
      for (let i = 0; i < 3; i++) decisions.push((await service.consumeIp('192.0.2.9')).allowed);
      expect(decisions).toEqual([true, true, false]);
    } finally {
      down.disconnect();
    }
  });
});
