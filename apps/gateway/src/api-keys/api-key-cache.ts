import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import type { ApiKeyAuth } from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { REDIS } from '../infra/infra.module';

/** `<REDIS_PREFIX>:auth:invalidate`, e.g. `likeness:auth:invalidate`. */
export function authInvalidationChannel(redisPrefix: string): string {
  return `${redisPrefix}:auth:invalidate`;
}

const invalidationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('key'), tenantId: z.string(), apiKeyId: z.string() }),
  z.object({ kind: z.literal('tenant'), tenantId: z.string() }),
]);
export type AuthInvalidation = z.infer<typeof invalidationSchema>;

export interface ApiKeyCacheOptions {
  /** Entries kept (least recently used evicted first). */
  max: number;
  /** Safety net: an entry is reloaded after this long even if no invalidation arrived. */
  ttlMs: number;
}
export const DEFAULT_API_KEY_CACHE_OPTIONS: ApiKeyCacheOptions = { max: 10_000, ttlMs: 60_000 };

/**
 * In-process cache of authenticated API keys, keyed by the sha256 of the secret, so a request
 * does not cost a database round trip. The cached row is judged on every request (revokedAt,
 * expiresAt, tenant status), so scheduled revocations and expiry need no invalidation.
 *
 * Changes that the row does not foresee (a revocation, a rotation, a tenant's status) are pushed
 * to every replica through Redis pub/sub on `authInvalidationChannel(REDIS_PREFIX)`: each replica
 * listens on a dedicated subscriber connection and drops the matching entries. The cache is used
 * only while that subscription is live; while Redis is unreachable every request goes to the
 * database, and on reconnect the cache starts empty, so a lost message cannot keep a revoked key
 * alive. A fill racing with an invalidation is discarded (generation counter).
 *
 * Call `invalidateKey` / `invalidateTenant` after committing any change to a key or a tenant's
 * status outside this module (see apps/gateway/README.md).
 */
@Injectable()
export class ApiKeyCache implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ApiKeyCache.name);
  readonly channel: string;
  private readonly entries: LRUCache<string, ApiKeyAuth>;
  private readonly inflight = new Map<string, Promise<ApiKeyAuth | null>>();
  private subscriber: Redis | null = null;
  private subscribed = false;
  private generation = 0;
  private reportedOffline = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(REDIS) private readonly publisher: Redis,
  ) {
    this.channel = authInvalidationChannel(config.redisPrefix);
    const options = DEFAULT_API_KEY_CACHE_OPTIONS;
    this.entries = new LRUCache<string, ApiKeyAuth>({ max: options.max, ttl: options.ttlMs });
  }

  /** True while the invalidation subscription is live (only then are entries served). */
  get live(): boolean {
    return this.subscribed;
  }

  get size(): number {
    return this.entries.size;
  }

  onModuleInit(): void {
    const subscriber = new Redis(this.config.redisUrl, {
      // We subscribe again ourselves on every 'ready' and only then serve from the cache.
      autoResubscribe: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: null,
      connectionName: 'likeness-gateway-auth-invalidation',
      // disconnect() of a socket that never connected waits this long before giving up on it.
      disconnectTimeout: 200,
    });
    this.subscriber = subscriber;
    subscriber.on('ready', () => {
      subscriber.subscribe(this.channel).then(
        () => {
          this.generation += 1;
          this.subscribed = true;
          this.reportedOffline = false;
        },
        (err: unknown) => this.reportOffline(err),
      );
    });
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
    subscriber.on('close', () => this.goOffline());
    subscriber.on('error', (err: unknown) => this.reportOffline(err));
  }

  async onModuleDestroy(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = null;
    this.goOffline();
    if (!subscriber) return;
    subscriber.removeAllListeners('ready');
    subscriber.removeAllListeners('message');
    subscriber.removeAllListeners('close');
    // Keep an 'error' listener: a late socket error must not become an unhandled event.
    if (subscriber.status === 'ready') {
      await subscriber.quit().catch(() => subscriber.disconnect());
    } else {
      subscriber.disconnect();
    }
  }

  /**
   * The key for this secret hash: from the cache when live, else from `load` (concurrent misses
   * for one hash share a load). Unknown keys (null) are never cached, so a new key works at once.
   */
  lookup(
    secretHash: string,
    load: (secretHash: string) => Promise<ApiKeyAuth | null>,
  ): Promise<ApiKeyAuth | null> {
    if (this.subscribed) {
      const hit = this.entries.get(secretHash);
      if (hit) return Promise.resolve(hit);
    }
    const pending = this.inflight.get(secretHash);
    if (pending) return pending;
    const generation = this.generation;
    const loading = load(secretHash)
      .then((found) => {
        if (found && this.subscribed && generation === this.generation) {
          this.entries.set(secretHash, found);
        }
        return found;
      })
      .finally(() => {
        if (this.inflight.get(secretHash) === loading) this.inflight.delete(secretHash);
      });
    this.inflight.set(secretHash, loading);
    return loading;
  }

  /** After revoking or rotating a key: drops it here now and on every replica via Redis. */
  invalidateKey(tenantId: string, apiKeyId: string): Promise<void> {
    return this.invalidate({ kind: 'key', tenantId, apiKeyId });
  }

  /**
   * After any change to a tenant that authentication depends on (status: suspension or
   * reactivation; name or plan shown in the principal): drops all its keys on every replica.
   */
  invalidateTenant(tenantId: string): Promise<void> {
    return this.invalidate({ kind: 'tenant', tenantId });
  }

  private async invalidate(message: AuthInvalidation): Promise<void> {
    this.apply(message);
    try {
      await this.publisher.publish(this.channel, JSON.stringify(message));
    } catch (err) {
      // The change is committed; replicas that cannot hear us cannot hear Redis either, and a
      // replica without a live subscription does not serve from its cache.
      this.logger.warn(
        `could not publish an auth invalidation (${message.kind}): ${errorMessage(err)}`,
      );
    }
  }

  private receive(raw: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    const message = invalidationSchema.safeParse(parsed);
    if (!message.success) {
      // Unknown shape (e.g. a newer replica): drop everything rather than risk a stale key.
      this.logger.warn('unrecognised auth invalidation message; clearing the API key cache');
      this.clear();
      return;
    }
    this.apply(message.data);
  }

  private apply(message: AuthInvalidation): void {
    this.generation += 1;
    this.inflight.clear();
    const doomed: string[] = [];
    this.entries.forEach((entry, hash) => {
      const matches =
        message.kind === 'key'
          ? entry.apiKeyId === message.apiKeyId
          : entry.tenantId === message.tenantId;
      if (matches) doomed.push(hash);
    });
    for (const hash of doomed) this.entries.delete(hash);
  }

  private clear(): void {
    this.generation += 1;
    this.inflight.clear();
    this.entries.clear();
  }

  private goOffline(): void {
    this.subscribed = false;
    this.clear();
  }

  private reportOffline(err: unknown): void {
    if (this.reportedOffline) return;
    this.reportedOffline = true;
    this.logger.warn(
      `auth invalidation channel unavailable, authenticating every request against the database: ${errorMessage(err)}`,
    );
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
