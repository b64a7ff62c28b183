import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import type { Queue } from 'bullmq';
import {
  DetectedFaceV1,
  JobName,
  QueueName,
  RenderJobV1,
  renderJobId,
  renderMediaPrefix,
  type JobPayload,
} from '@likeness/contracts';
import type { RenderDispatch } from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { LazyQueue } from '../infra/lazy-queue';
import { renderControls } from './render-view';

export type RenderJob = JobPayload<typeof JobName.Render>;

/** What BullMQ knows of a render's job. */
export type RenderJobState =
  | { state: 'missing' }
  | { state: 'waiting' }
  | { state: 'active' }
  | { state: 'completed'; finishedAt: Date }
  | { state: 'failed'; finishedAt: Date; reason: string };

/** First retry 5 s after a retryable failure, then 10, 20 s … */
const BACKOFF = { type: 'exponential', delay: 5000 } as const;
/** Finished jobs are kept this long, so the reconciler can tell "finished" from "lost". */
const KEEP_COMPLETED_SECONDS = 3600;
const KEEP_FAILED_SECONDS = 7 * 24 * 3600;
const ADD_TIMEOUT_MS = 3000;

/**
 * `render` jobs on the `render` queue (BullMQ, prefix REDIS_PREFIX), consumed by the render
 * workers. Postgres is the source of truth; a job only exists for an admitted render, its id is
 * `renderJobId(renderId, attempt)`, so re-adding the same admission (the reconciler after a
 * Redis restart, racing the admitter) is a no-op. Retries within one admission (attempts with
 * backoff) are for retryable worker failures; the worker fails bad input at once.
 */
@Injectable()
export class RenderQueue implements OnModuleDestroy {
  private readonly logger = new Logger(RenderQueue.name);
  private readonly lazy: LazyQueue;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.lazy = new LazyQueue(QueueName.Render, {
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      logger: this.logger,
    });
  }

  /** The job payload of an admitted render (validated against the contract). */
  payloadOf(dispatch: RenderDispatch): RenderJob {
    const { render } = dispatch;
    const face = DetectedFaceV1.pick({ box: true, keypoints: true }).safeParse({
      box: dispatch.faceBox,
      keypoints: dispatch.keypoints,
    });
    return RenderJobV1.parse({
      v: 1,
      tenantId: render.tenantId,
      renderId: render.id,
      attempt: render.attempts,
      imageStorageKey: dispatch.imageStorageKey,
      audioStorageKey: dispatch.audioStorageKey,
      identityEmbedding: dispatch.identityEmbedding,
      prompt: render.prompt,
      ...renderControls(render.controls),
      seed: render.seed,
      modelPack: render.modelPack,
      // The version the render was validated against: a worker running another one refuses it.
      ...(render.modelPackVersion ? { modelPackVersion: render.modelPackVersion } : {}),
      mediaPrefix: renderMediaPrefix(render.tenantId, render.id),
      face: face.success ? face.data : null,
      ...(render.deadlineAt ? { deadlineAt: render.deadlineAt.toISOString() } : {}),
    });
  }

  /** Adds the jobs (a known job id is left as it is). Throws when Redis does not take them. */
  async add(jobs: readonly RenderJob[]): Promise<void> {
    if (jobs.length === 0) return;
    const added = this.open().addBulk(
      jobs.map((data) => ({
        name: JobName.Render,
        data,
        opts: {
          jobId: renderJobId(data.renderId, data.attempt),
          attempts: this.config.renders.jobAttempts,
          backoff: { ...BACKOFF },
          removeOnComplete: { age: KEEP_COMPLETED_SECONDS },
          removeOnFail: { age: KEEP_FAILED_SECONDS },
        },
      })),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer from Redis in ${ADD_TIMEOUT_MS} ms`)),
        ADD_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([added, timeout]);
    } catch (error) {
      added.catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async state(renderId: string, attempt: number): Promise<RenderJobState> {
    const jobId = renderJobId(renderId, attempt);
    const state = await this.open().getJobState(jobId);
    // Read after the state, so a job seen finished has its finishing time (a job read before
    // could have finished in between); unknown → now: "just finished", never "long ago".
    const job =
      state === 'completed' || state === 'failed' ? await this.open().getJob(jobId) : null;
    const finishedAt = new Date(job?.finishedOn ?? Date.now());
    switch (state) {
      case 'unknown':
        return { state: 'missing' };
      case 'active':
        return { state: 'active' };
      case 'completed':
        return { state: 'completed', finishedAt };
      case 'failed':
        return { state: 'failed', finishedAt, reason: job?.failedReason || 'unknown' };
      case 'waiting':
      case 'delayed':
      case 'prioritized':
      case 'waiting-children':
        return { state: 'waiting' };
    }
  }

  /**
   * Removes a job no worker holds (waiting, delayed, failed, or active with an expired lock).
   * True when the job is gone afterwards; false while a worker holds its lock.
   */
  async remove(renderId: string, attempt: number): Promise<boolean> {
    const jobId = renderJobId(renderId, attempt);
    try {
      const queue = this.open();
      if (!(await queue.getJob(jobId))) return true;
      return (await queue.remove(jobId)) === 1;
    } catch (error) {
      this.logger.warn(`could not remove render job ${jobId}: ${String(error)}`);
      return false;
    }
  }

  /** Jobs waiting for a worker (waiting, delayed, prioritized), for metrics. */
  async waitingCount(): Promise<number> {
    return this.open().getJobCountByTypes('waiting', 'delayed', 'prioritized');
  }

  /** The BullMQ queue, opened on first use. */
  private open(): Queue {
    return this.lazy.get();
  }

  async onModuleDestroy(): Promise<void> {
    await this.lazy.close();
  }
}
