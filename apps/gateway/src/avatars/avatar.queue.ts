import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { JobName, QueueName, type JobPayload } from '@likeness/contracts';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { LazyQueue } from '../infra/lazy-queue';

export type AvatarPrepareJob = JobPayload<typeof JobName.AvatarPrepare>;

/** What BullMQ knows of an avatar's job (`missing`: no job with the avatar's id). */
export type AvatarJobState =
  { state: 'missing' } | { state: 'live' } | { state: 'failed'; reason: string; finishedAt: Date };

/** Runs of one job at most: storage, Redis or a crashed runtime get this many tries. */
export const AVATAR_PREPARE_ATTEMPTS = 5;
/** First retry after 5 s, then 10, 20, 40 s. */
export const AVATAR_PREPARE_BACKOFF = { type: 'exponential', delay: 5000 } as const;
/** An enqueue that Redis has not answered by then is left to the sweeper. */
const ENQUEUE_TIMEOUT_MS = 3000;
/** Failed jobs are kept this long, so the sweeper can tell "failed" from "lost". */
const KEEP_FAILED_SECONDS = 7 * 24 * 3600;

/**
 * `avatar.prepare` jobs on the `avatar` queue (BullMQ, prefix REDIS_PREFIX), consumed by the
 * render workers. Postgres is the source of truth (the avatar is PROCESSING); the job id is the
 * avatar id, so the after-commit enqueue and the sweeper cannot queue one avatar twice while a
 * job exists. Retries (attempts with exponential backoff) are for infrastructure failures:
 * the worker fails bad photos at once (UnrecoverableError) and reports why.
 */
@Injectable()
export class AvatarQueue implements OnModuleDestroy {
  private readonly logger = new Logger(AvatarQueue.name);
  private readonly lazy: LazyQueue;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.lazy = new LazyQueue(QueueName.Avatar, {
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      logger: this.logger,
    });
  }

  /** Never throws: false (logged) when Redis did not take the job; the sweeper retries. */
  async enqueue(job: AvatarPrepareJob): Promise<boolean> {
    const added = this.open().add(JobName.AvatarPrepare, job, {
      jobId: job.avatarId,
      attempts: AVATAR_PREPARE_ATTEMPTS,
      backoff: { ...AVATAR_PREPARE_BACKOFF },
      removeOnComplete: true,
      removeOnFail: { age: KEEP_FAILED_SECONDS },
    });
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
        `could not enqueue avatar.prepare for ${job.avatarId} (the sweeper will): ${error instanceof Error ? error.message : String(error)}`,
      );
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether a job for the avatar is waiting, running or retrying, failed for good, or gone. */
  async jobState(avatarId: string): Promise<AvatarJobState> {
    const job = await this.open().getJob(avatarId);
    if (!job) return { state: 'missing' };
    const state = await job.getState();
    if (state === 'unknown') return { state: 'missing' };
    if (state === 'failed') {
      return {
        state: 'failed',
        reason: job.failedReason || 'unknown',
        finishedAt: new Date(job.finishedOn ?? job.timestamp),
      };
    }
    // Completed jobs are removed at once; one seen here is about to go: treat it as gone.
    if (state === 'completed') return { state: 'missing' };
    return { state: 'live' };
  }

  /** Drops a job that has not started (deleted avatar); a running or finished one is left. */
  async discard(avatarId: string): Promise<void> {
    try {
      const job = await this.open().getJob(avatarId);
      if (!job) return;
      const state = await job.getState();
      if (
        state === 'waiting' ||
        state === 'delayed' ||
        state === 'prioritized' ||
        state === 'failed'
      ) {
        await job.remove();
      }
    } catch (error) {
      // A job left behind only makes a worker prepare an avatar that no longer exists; the
      // gateway ignores its events.
      this.logger.warn(
        `could not discard the avatar.prepare job of ${avatarId}: ${error instanceof Error ? error.message : String(error)}`,
      );
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
