import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { getPlan, isPlanId, plans } from '@likeness/billing';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { REDIS } from '../infra/infra.module';
import type { Principal } from '../auth/principal';
import type { RateLimitScope } from './protection.errors';

const WINDOW_SECONDS = 60;
const MAX_BLOCKED_ADDRESSES = 100_000;

/** The outcome of counting one request against one limit; also what the RateLimit-* headers say. */
export interface RateLimitDecision {
  allowed: boolean;
  scope: RateLimitScope;
  /** Requests allowed per window. */
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

/**
 * Fixed-window request limits shared by every gateway replica through Redis
 * (rate-limiter-flexible): per client address for requests without a principal, and per API
 * key or user with the tenant plan's `requestsPerMinute` (libs/billing). When Redis fails, each
 * replica falls back to an in-memory limiter of the same size rather than letting everything
 * through or refusing everything.
 */
@Injectable()
export class RateLimitService {
  private readonly logger = new Logger(RateLimitService.name);
  private readonly ipLimiter: RateLimiterRedis;
  /** One limiter per limit size; they share one key space, so a plan change applies at once. */
  private readonly principalLimiters = new Map<number, RateLimiterRedis>();
  private readonly keyPrefix: string;
  /** Addresses over their limit in this process, until their window ends (ms since epoch). */
  private readonly blockedUntil = new Map<string, number>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.keyPrefix = `${config.redisPrefix}:rl`;
    this.ipLimiter = this.limiter('ip', config.rateLimits.ipPerMinute);
  }

  /**
   * Counts a request against its client address (`clientAddressKey`). An address that has used
   * its limit is also remembered here until its window ends (`blockedIp`), so that its next
   * requests can be refused before anything else, Redis included.
   */
  async consumeIp(addressKey: string): Promise<RateLimitDecision> {
    const decision = await this.consume(this.ipLimiter, addressKey, 'IP');
    if (decision.remaining === 0) this.block(addressKey, decision.resetSeconds);
    return decision;
  }

  /** The refusal for an address known to be over its limit, or null. No I/O. */
  blockedIp(addressKey: string, now = Date.now()): RateLimitDecision | null {
    const until = this.blockedUntil.get(addressKey);
    if (until === undefined) return null;
    if (until <= now) {
      this.blockedUntil.delete(addressKey);
      return null;
    }
    return {
      allowed: false,
      scope: 'IP',
      limit: this.ipLimiter.points,
      remaining: 0,
      resetSeconds: Math.max(1, Math.ceil((until - now) / 1000)),
    };
  }

  private block(addressKey: string, seconds: number): void {
    // Bounded: a flood from very many addresses forgets the oldest (Redis still counts them).
    if (this.blockedUntil.size >= MAX_BLOCKED_ADDRESSES) {
      const oldest = this.blockedUntil.keys().next();
      if (!oldest.done) this.blockedUntil.delete(oldest.value);
    }
    this.blockedUntil.delete(addressKey);
    this.blockedUntil.set(addressKey, Date.now() + seconds * 1000);
  }

  /** Counts a request against the API key or user that made it. */
  consumePrincipal(principal: Principal): Promise<RateLimitDecision> {
    const limit = this.limitOf(principal);
    let limiter = this.principalLimiters.get(limit);
    if (!limiter) {
      limiter = this.limiter('principal', limit);
      this.principalLimiters.set(limit, limiter);
    }
    const [key, scope]: [string, RateLimitScope] =
      principal.kind === 'API_KEY'
        ? [`key:${principal.apiKeyId}`, 'API_KEY']
        : [`user:${principal.userId}`, 'USER'];
    return this.consume(limiter, key, scope);
  }

  /** Requests per minute for a principal: the override from config, else the tenant's plan. */
  limitOf(principal: Principal): number {
    const override = this.config.rateLimits.apiKeyPerMinute;
    if (override !== null) return override;
    const plan = principal.tenant?.plan;
    // Platform administrators belong to no tenant, hence no plan: they get the largest one.
    if (plan === undefined) return plans.enterprise.requestsPerMinute;
    if (isPlanId(plan)) return getPlan(plan).requestsPerMinute;
    // A plan id the catalogue does not know is a data error; the smallest plan applies.
    this.logger.warn(`tenant ${principal.tenant?.id} has unknown plan ${JSON.stringify(plan)}`);
    return plans.free.requestsPerMinute;
  }

  private limiter(kind: string, points: number): RateLimiterRedis {
    return new RateLimiterRedis({
      storeClient: this.redis,
      keyPrefix: `${this.keyPrefix}:${kind}`,
      points,
      duration: WINDOW_SECONDS,
      insuranceLimiter: new RateLimiterMemory({ points, duration: WINDOW_SECONDS }),
    });
  }

  private async consume(
    limiter: RateLimiterAbstract,
    key: string,
    scope: RateLimitScope,
  ): Promise<RateLimitDecision> {
    try {
      return decision(await limiter.consume(key), limiter.points, scope, true);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        return decision(rejection, limiter.points, scope, false);
      }
      // Both Redis and the in-memory insurance failed: a bug, not a caller's excess.
      this.logger.error(`rate limiter failed, request let through: ${describe(rejection)}`);
      return {
        allowed: true,
        scope,
        limit: limiter.points,
        remaining: limiter.points,
        resetSeconds: WINDOW_SECONDS,
      };
    }
  }
}

function decision(
  res: RateLimiterRes,
  limit: number,
  scope: RateLimitScope,
  allowed: boolean,
): RateLimitDecision {
  return {
    allowed,
    scope,
    limit,
    remaining: Math.max(0, res.remainingPoints),
    resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
