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
import { WebhookQueue } from './webhook.queue';

/** Deliveries re-enqueued per sweep at most; the next sweep takes the rest. */
const BATCH = 500;

/**
 * Postgres is the source of truth for deliveries; the queue is only a wake-up call. Every
 * WEBHOOK_SWEEP_INTERVAL_MS this re-enqueues PENDING deliveries more than WEBHOOK_SWEEP_GRACE_MS
 * overdue: jobs lost with Redis, enqueues that failed after a commit, callers that crashed
 * between commit and enqueue, attempts whose process died. Every replica sweeps; the job ids
 * and the worker's claim make the overlap harmless.
 */
@Injectable()
export class WebhookSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WebhookSweeper.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly queue: WebhookQueue,
  ) {}

  onApplicationBootstrap(): void {
    const { intervalMs } = this.config.webhooks.sweep;
    if (intervalMs === 0) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweep()
        .catch((error: unknown) => {
          this.logger.warn(
            `webhook sweep failed: ${error instanceof Error ? error.message : String(error)}`,
          );
          return 0;
        })
        .finally(() => {
          this.running = undefined;
        });
    }, intervalMs);
    this.timer.unref();
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

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
