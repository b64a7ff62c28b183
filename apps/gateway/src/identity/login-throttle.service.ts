import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, type RateLimiterRes } from 'rate-limiter-flexible';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { REDIS } from '../infra/infra.module';
import { RateLimitedException } from '../errors/likeness.exception';

/** Failed attempts are counted over this window (a success resets the email + IP count). */
const FAILURE_WINDOW_SECONDS = 24 * 60 * 60;

/** One login attempt's reservation: settle it with `succeeded` or `failed`. */
export interface LoginAttempt {
  succeeded(): Promise<void>;
  failed(): Promise<void>;
}

/**
 * Login brute-force protection on the gateway's Redis (shared by every replica):
 * - per email + IP: `maxFailures` consecutive failures lock that pair for `lockoutSeconds`;
 *   a successful login resets the count;
 * - per IP: `maxFailuresPerIp` failures within 24 h (any emails) lock the IP for `lockoutSeconds`;
 *   successes do not reset it (one known account must not launder a password-spraying run).
 * Every attempt reserves a point on both counters before the password is checked, atomically
 * in Redis, so parallel guesses cannot slip past the limit; a success gives the points back.
 * Keys hold sha256(email) rather than the address itself.
 */
@Injectable()
export class LoginThrottle {
  private readonly byEmailAndIp: RateLimiterRedis;
  private readonly byIp: RateLimiterRedis;
  private readonly limits: AppConfig['login'];

  constructor(@Inject(APP_CONFIG) config: AppConfig, @Inject(REDIS) redis: Redis) {
    this.limits = config.login;
    const common = { storeClient: redis, duration: FAILURE_WINDOW_SECONDS };
    this.byEmailAndIp = new RateLimiterRedis({
      ...common,
      keyPrefix: `${config.redisPrefix}:login:fail:email-ip`,
      points: this.limits.maxFailures,
    });
    this.byIp = new RateLimiterRedis({
      ...common,
      keyPrefix: `${config.redisPrefix}:login:fail:ip`,
      points: this.limits.maxFailuresPerIp,
    });
  }

  /** Reserves the attempt, or throws RATE_LIMITED (with retryAfterSeconds) while locked. */
  async begin(email: string, ip: string): Promise<LoginAttempt> {
    const pairKey = `${createHash('sha256').update(email.trim().toLowerCase()).digest('hex')}:${ip}`;
    const [pair, address] = await Promise.all([
      this.byEmailAndIp.penalty(pairKey, 1),
      this.byIp.penalty(ip, 1),
    ]);
    const locked = [
      pair.consumedPoints > this.limits.maxFailures ? pair : null,
      address.consumedPoints > this.limits.maxFailuresPerIp ? address : null,
    ].filter((r): r is RateLimiterRes => r !== null);
    if (locked.length > 0) {
      // A refused attempt is not a failure of its own: give back the points it reserved.
      await Promise.all([this.byEmailAndIp.reward(pairKey, 1), this.byIp.reward(ip, 1)]);
      // Until the lock is installed (a parallel attempt still verifying) the key's TTL is the
      // counting window; never announce more than the lockout.
      const ms = Math.min(
        Math.max(...locked.map((r) => r.msBeforeNext)),
        this.limits.lockoutSeconds * 1000,
      );
      throw new RateLimitedException(
        'Too many failed sign-in attempts; try again later',
        Math.max(1, Math.ceil(ms / 1000)),
      );
    }
    return {
      succeeded: async () => {
        await Promise.all([this.byEmailAndIp.delete(pairKey), this.byIp.reward(ip, 1)]);
      },
      failed: async () => {
        await Promise.all([
          pair.consumedPoints >= this.limits.maxFailures
            ? this.byEmailAndIp.block(pairKey, this.limits.lockoutSeconds)
            : null,
          address.consumedPoints >= this.limits.maxFailuresPerIp
            ? this.byIp.block(ip, this.limits.lockoutSeconds)
            : null,
        ]);
      },
    };
  }
}
