import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { Db } from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DB } from '../infra/infra.module';
import { PeriodicTask } from '../infra/periodic-task';
import { WebhookQueue } from './webhook.queue';

/** Deliveries re-enqueued per sweep at most; the next sweep takes the rest. */
const BATCH = 500;
/** Retention runs at most this often per replica, deleting at most PURGE_BATCHES × PURGE_BATCH rows. */
const PURGE_EVERY_MS = 3_600_000;
const PURGE_BATCH = 2000;
const PURGE_BATCHES = 10;

/**
 * Postgres is the source of truth for deliveries; the queue is only a wake-up call. Every
 * WEBHOOK_SWEEP_INTERVAL_MS this re-enqueues PENDING deliveries more than WEBHOOK_SWEEP_GRACE_MS
 * overdue: jobs lost with Redis, enqueues that failed after a commit, callers that crashed
 * between commit and enqueue, attempts whose process died. Every replica sweeps; the job ids
 * and the worker's claim make the overlap harmless.
 *
 * Retention: about once an hour it also deletes finished deliveries (and their attempt log)
 * older than WEBHOOK_DELIVERY_RETENTION_DAYS, in bounded batches; replicas purging at the same
 * time skip each other's rows.
 */
@Injectable()
export class WebhookSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WebhookSweeper.name);
  private readonly task: PeriodicTask;
  private lastPurgeAt = 0;

  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly queue: WebhookQueue,
  ) {
    this.task = new PeriodicTask(
      'webhook sweep',
      config.webhooks.sweep.intervalMs,
      async () => {
        await this.sweep();
        await this.purgeIfDue();
      },
      this.logger,
    );
  }

  onApplicationBootstrap(): void {
    this.task.start();
  }

  /** One pass; resolves with the number of deliveries re-enqueued. */
  async sweep(now: Date = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - this.config.webhooks.sweep.graceMs);
    const due = await this.db.webhooks.dueDeliveries(cutoff, BATCH);
    if (due.length === 0) return 0;
    const enqueued = await this.queue.enqueue(
      due.map((d) => ({ tenantId: d.tenantId, deliveryId: d.deliveryId, attempts: d.attempts })),
    );
    if (enqueued) this.logger.log(`re-enqueued ${due.length} overdue webhook deliveries`);
    return enqueued ? due.length : 0;
  }

  /** Retention, at most once per PURGE_EVERY_MS on this replica; resolves with rows deleted. */
  async purgeIfDue(now: Date = new Date()): Promise<number> {
    const { retentionDays } = this.config.webhooks;
    if (retentionDays === 0 || now.getTime() - this.lastPurgeAt < PURGE_EVERY_MS) return 0;
    this.lastPurgeAt = now.getTime();
    return this.purge(now);
  }

  /** Deletes finished deliveries created more than WEBHOOK_DELIVERY_RETENTION_DAYS before `now`. */
  async purge(now: Date = new Date()): Promise<number> {
    const { retentionDays } = this.config.webhooks;
    if (retentionDays === 0) return 0;
    const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
    let purged = 0;
    for (let i = 0; i < PURGE_BATCHES; i++) {
      const n = await this.db.webhooks.purgeFinishedDeliveries(cutoff, PURGE_BATCH);
      purged += n;
      if (n < PURGE_BATCH) break;
    }
    if (purged > 0) {
      this.logger.log(
        `deleted ${purged} webhook deliveries finished before ${cutoff.toISOString()}`,
      );
    }
    return purged;
  }

  async onModuleDestroy(): Promise<void> {
    await this.task.stop();
  }
}
