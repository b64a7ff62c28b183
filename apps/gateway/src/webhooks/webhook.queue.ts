import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { JobName, QueueName, type JobPayload } from '@likeness/contracts';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { LazyQueue } from '../infra/lazy-queue';

export interface DeliveryJob {
  tenantId: string;
  deliveryId: string;
  /** Attempts the delivery has had: part of the job id, so each attempt is enqueued once. */
  attempts: number;
  /** 0 = now. */
  delayMs?: number;
}

/** An enqueue that Redis has not answered by then is left to the sweeper. */
const ENQUEUE_TIMEOUT_MS = 3000;

/**
 * `webhook.deliver` jobs on the `webhook` queue (BullMQ, prefix REDIS_PREFIX). The database is
 * the source of truth: a job only says "look at this delivery now"; the job id
 * `<deliveryId>-<attempts>` makes a repeated enqueue of the same attempt a no-op (the sweeper
 * and the after-commit enqueue may race), and the worker's claim makes a duplicate run a no-op.
 * Enqueueing never throws: a failure is logged and the sweeper re-enqueues the delivery later.
 */
@Injectable()
export class WebhookQueue implements OnModuleDestroy {
  private readonly logger = new Logger(WebhookQueue.name);
  private readonly lazy: LazyQueue;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.lazy = new LazyQueue(QueueName.Webhook, {
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      logger: this.logger,
    });
  }

  async enqueue(jobs: readonly DeliveryJob[]): Promise<boolean> {
    if (jobs.length === 0) return true;
    const queue = this.open();
    const added = queue.addBulk(
      jobs.map((job) => {
        const data: JobPayload<typeof JobName.WebhookDeliver> = {
          v: 1,
          tenantId: job.tenantId,
          deliveryId: job.deliveryId,
        };
        return {
          name: JobName.WebhookDeliver,
          data,
          opts: {
            jobId: `${job.deliveryId}-${job.attempts}`,
            delay: Math.max(0, Math.round(job.delayMs ?? 0)),
            // Retries of the job itself are for our own failures (database down); the
            // endpoint's retries are separate jobs scheduled by the worker.
            attempts: 3,
            backoff: { type: 'exponential', delay: 1000 },
            removeOnComplete: true,
            removeOnFail: true,
          },
        };
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer from Redis in ${ENQUEUE_TIMEOUT_MS} ms`)),
        ENQUEUE_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([added, timeout]);
      return true;
    } catch (error) {
      added.catch(() => undefined);
      this.logger.warn(
        `could not enqueue ${jobs.length} webhook deliver${jobs.length === 1 ? 'y' : 'ies'} (the sweeper will): ${error instanceof Error ? error.message : String(error)}`,
      );
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The BullMQ queue, opened on first use. */
  private open(): Queue {
    return this.lazy.get();
  }

  async onModuleDestroy(): Promise<void> {
    await this.lazy.close();
  }
}
