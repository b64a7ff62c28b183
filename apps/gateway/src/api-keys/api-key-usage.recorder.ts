import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { Db } from '@likeness/db';
import { DB } from '../infra/infra.module';

/** A key's lastUsedAt is written at most once per this interval per replica. */
export const LAST_USED_INTERVAL_MS = 60_000;
/** Uses are collected for this long, then written in one statement per tenant. */
export const LAST_USED_FLUSH_DELAY_MS = 1_000;

/**
 * Records `lastUsedAt` without a write per request: the first use of a key in a minute is queued,
 * later ones are ignored, and the queue is flushed asynchronously (one UPDATE per tenant). A
 * failed flush is logged and retried on the key's next use; it never reaches the request.
 */
@Injectable()
export class ApiKeyUsageRecorder implements OnModuleDestroy {
  private readonly logger = new Logger(ApiKeyUsageRecorder.name);
  /** Keys recorded within the last interval. */
  private readonly recent = new LRUCache<string, true>({
    max: 100_000,
    ttl: LAST_USED_INTERVAL_MS,
  });
  private pending = new Map<string, { tenantId: string; at: Date }>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(@Inject(DB) private readonly db: Db) {}

  record(tenantId: string, apiKeyId: string, at: Date = new Date()): void {
    if (this.closed || this.recent.has(apiKeyId)) return;
    this.recent.set(apiKeyId, true);
    this.pending.set(apiKeyId, { tenantId, at });
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, LAST_USED_FLUSH_DELAY_MS);
      this.timer.unref();
    }
  }

  /** Writes what is queued; resolves when written (or failed and logged). Never rejects. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writePending());
    return this.flushing;
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Modules are destroyed before the database pool closes (onApplicationShutdown).
    await this.flush();
  }

  private async writePending(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const byTenant = new Map<string, { ids: string[]; at: Date }>();
    for (const [id, { tenantId, at }] of batch) {
      const group = byTenant.get(tenantId);
      if (!group) byTenant.set(tenantId, { ids: [id], at });
      else {
        group.ids.push(id);
        if (at > group.at) group.at = at;
      }
    }
    for (const [tenantId, { ids, at }] of byTenant) {
      try {
        await this.db.apiKeys.touchLastUsed(tenantId, ids, at);
      } catch (err) {
        for (const id of ids) this.recent.delete(id);
        this.logger.warn(
          `could not record lastUsedAt of ${ids.length} API key(s): ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }
}
