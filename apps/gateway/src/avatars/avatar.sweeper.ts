import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { AvatarFailureReason } from '@likeness/contracts';
import type { Db } from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DB } from '../infra/infra.module';
import { PeriodicTask } from '../infra/periodic-task';
import { AvatarPreparationEvents, INTERNAL_FAILURE_MESSAGE } from './avatar-preparation.events';
import { AvatarQueue } from './avatar.queue';

/** Avatars looked at per sweep at most; the next sweep takes the rest. */
const BATCH = 200;

export interface SweepResult {
  /** Avatars whose job was missing (enqueue failed after the commit, Redis lost it): queued again. */
  requeued: string[];
  /** Avatars whose job failed for good without a final worker event (e.g. stalled too often). */
  failed: string[];
}

/**
 * Postgres is the source of truth for avatars; the queue only carries the work. Every
 * AVATAR_SWEEP_INTERVAL_MS this looks at avatars PROCESSING for more than AVATAR_SWEEP_GRACE_MS
 * (a SECURITY DEFINER scan across tenants, migration 0006) and asks BullMQ about the job with the
 * avatar's id: none (never enqueued because Redis failed after the commit, lost with Redis, or
 * completed while its event was lost) → enqueued again; failed for good more than the grace
 * period ago (retries exhausted, or a worker crashed mid-job too often, so no worker said why)
 * → the avatar FAILS with INTERNAL;
 * waiting, delayed or running → left alone. Every replica sweeps; the job id (the avatar id)
 * and the PROCESSING-only transition make the overlap harmless.
 */
@Injectable()
export class AvatarSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Avatars');
  private readonly task: PeriodicTask;

  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly queue: AvatarQueue,
    private readonly outcomes: AvatarPreparationEvents,
  ) {
    this.task = new PeriodicTask(
      'avatar sweep',
      config.avatars.sweep.intervalMs,
      () => this.sweep(),
      this.logger,
    );
  }

  onApplicationBootstrap(): void {
    this.task.start();
  }

  /** One pass. */
  async sweep(now: Date = new Date()): Promise<SweepResult> {
    const cutoff = new Date(now.getTime() - this.config.avatars.sweep.graceMs);
    const stale = await this.db.avatars.staleProcessing(cutoff, BATCH);
    const result: SweepResult = { requeued: [], failed: [] };
    for (const { tenantId, avatarId } of stale) {
      const job = await this.queue.jobState(avatarId);
      if (job.state === 'live') continue;
      // A job that failed only just now usually has its worker's precise avatar.failed event
      // still on the way: give that event the grace period to arrive first.
      if (job.state === 'failed' && job.finishedAt > cutoff) continue;
      const avatar = await this.db.avatars.findById(tenantId, avatarId);
      if (avatar?.status !== 'PROCESSING') continue;
      if (job.state === 'missing') {
        const image = await this.db.assets.findById(tenantId, avatar.imageAssetId);
        if (!image) continue; // cannot happen while the avatar references it (FK RESTRICT)
        const enqueued = await this.queue.enqueue({
          v: 1,
          tenantId,
          avatarId,
          imageStorageKey: image.storageKey,
          faceIndex: avatar.faceIndex,
          modelPack: avatar.modelPack,
        });
        if (enqueued) result.requeued.push(avatarId);
        continue;
      }
      const failed = await this.outcomes.fail(tenantId, avatarId, {
        reason: AvatarFailureReason.Internal,
        message: INTERNAL_FAILURE_MESSAGE,
        faces: null,
      });
      if (!failed) continue;
      this.logger.error(`avatar ${avatarId} failed: its job failed silently (${job.reason})`);
      result.failed.push(avatarId);
    }
    if (result.requeued.length > 0) {
      this.logger.log(`re-enqueued ${result.requeued.length} lost avatar.prepare jobs`);
    }
    return result;
  }

  async onModuleDestroy(): Promise<void> {
    await this.task.stop();
  }
}
