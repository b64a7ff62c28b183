import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Db, Render as RenderRow } from '@likeness/db';
import type { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DB, REDIS } from '../infra/infra.module';
import { PeriodicTask } from '../infra/periodic-task';
import { WorkerRegistryService } from '../workers';
import { RenderCancelSignals } from './render-cancel.signal';
import { RenderChanges } from './render-changes';
import { RenderQueue } from './render.queue';
import { cancelNow, decideFail, GatewayFailure, requeue } from './render-transitions';

export interface ReconcileReport {
  /** False when another replica held the reconciler lock. */
  ran: boolean;
  /** Admitted renders whose BullMQ job was gone (Redis restarted empty …): job added again. */
  readded: number;
  /** Renders sent back to the waiting line (worker lost, job ended without a report). */
  requeued: number;
  /** Renders failed: past their deadline, or out of admissions. */
  failed: number;
  /** Cancels forced because no worker confirmed them in time. */
  canceled: number;
}

/** A job that ended this long ago without the worker's final event reaching us is lost. */
const REPORT_GRACE_MS = 60_000;

/**
 * Postgres is the source of truth; this repairs what Redis or the workers lost. Every
 * `reconcileIntervalMs` one replica (a Redis lock) looks at the unfinished renders that are
 * admitted, past their deadline or being cancelled:
 *
 * - past `deadlineAt`: FAILED (DEADLINE_EXCEEDED, free); a running worker gets a cancel signal.
 * - cancel requested and not confirmed within `cancelGraceSeconds`: CANCELED anyway.
 * - admitted, BullMQ job missing (Redis restarted empty, an add that failed): the same job is
 *   added again (same id, so a job that does exist is left alone).
 * - job completed or failed over a minute ago but the render is unfinished (the worker's final
 *   event never came): run again as a new admission, or FAILED after `maxAdmissions`.
 * - job active, but its worker's advertisement expired and no event came for
 *   `workerLostSeconds`: the job is removed once its lock has expired and the render runs again
 *   (new admission). This is for when no worker is left to notice: while other workers live,
 *   BullMQ's stalled-job check moves the job back to waiting after its lock expires (30 s) and
 *   another worker re-runs it under the same attempt (a new `run`), which needs nothing here.
 */
@Injectable()
export class RenderReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RenderReconciler.name);
  private readonly owner = randomUUID();
  private readonly task: PeriodicTask;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DB) private readonly db: Db,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly registry: WorkerRegistryService,
    private readonly queue: RenderQueue,
    private readonly changes: RenderChanges,
    private readonly signals: RenderCancelSignals,
  ) {
    this.task = new PeriodicTask(
      'reconcile',
      config.renders.reconcileIntervalMs,
      () => this.reconcile(),
      this.logger,
    );
  }

  onApplicationBootstrap(): void {
    if (this.config.renders.dispatch) this.task.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task.stop();
  }

  /** One pass, if no other replica is running one. */
  async reconcile(now = new Date()): Promise<ReconcileReport> {
    const report: ReconcileReport = { ran: false, readded: 0, requeued: 0, failed: 0, canceled: 0 };
    const lockKey = `${this.config.redisPrefix}:renders:reconciler`;
    const ttlMs = Math.max(30_000, this.config.renders.reconcileIntervalMs * 3);
    if ((await this.redis.set(lockKey, this.owner, 'PX', ttlMs, 'NX')) !== 'OK') return report;
    report.ran = true;
    try {
      this.registry.refresh();
      const live = new Set((await this.registry.workers()).map((w) => w.workerId));
      for (const render of await this.db.renderDispatch.unfinishedForReconcile(now)) {
        try {
          await this.one(render, live, now, report);
        } catch (error) {
          this.logger.warn(`reconcile of render ${render.id} failed: ${String(error)}`);
        }
      }
    } finally {
      // Only our own lock: compare and delete in one step.
      await this.redis.eval(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
        1,
        lockKey,
        this.owner,
      );
    }
    return report;
  }

  private async one(
    render: RenderRow,
    live: ReadonlySet<string>,
    now: Date,
    report: ReconcileReport,
  ): Promise<void> {
    const { tenantId, id } = render;
    const nowMs = now.getTime();
    if (render.deadlineAt !== null && render.deadlineAt.getTime() <= nowMs) {
      if (render.admittedAt !== null) {
        await this.queue.remove(id, render.attempts);
        await this.signals.send(render, 'DEADLINE_EXCEEDED');
      }
      const failed = await this.changes.apply(tenantId, id, (current) =>
        decideFail(
          current,
          {
            code: GatewayFailure.DeadlineExceeded,
            message: 'The render did not finish before its deadline',
            ourFault: true,
          },
          now,
        ),
      );
      if (failed) report.failed++;
      return;
    }
    if (render.cancelRequestedAt !== null) {
      const waited = nowMs - render.cancelRequestedAt.getTime();
      if (render.admittedAt === null || waited > this.config.renders.cancelGraceSeconds * 1000) {
        if (render.admittedAt !== null) await this.queue.remove(id, render.attempts);
        if (await this.changes.apply(tenantId, id, (current) => cancelNow(current, now))) {
          report.canceled++;
        }
        return;
      }
      // A worker that subscribed late, or missed the message, hears it again.
      await this.signals.send(render, 'CANCELED');
    }
    if (render.admittedAt === null) return;

    const job = await this.queue.state(id, render.attempts);
    switch (job.state) {
      case 'missing': {
        const dispatch = await this.db.renderDispatch.dispatchOf(tenantId, id);
        if (!dispatch || dispatch.imageStorageKey === null || dispatch.avatarDeleted) return;
        await this.queue.add([this.queue.payloadOf(dispatch)]);
        report.readded++;
        return;
      }
      case 'completed':
      case 'failed': {
        const endedAt = job.finishedAt.getTime();
        const grace = Math.max(REPORT_GRACE_MS, this.config.workerEvents.claimIdleMs * 2);
        if (nowMs - endedAt < grace) return; // the worker's event may still be on its way
        await this.runAgain(
          render,
          'The render job ended without a report from the worker',
          report,
        );
        return;
      }
      case 'active': {
        const quietSince = (render.lastEventAt ?? render.admittedAt).getTime();
        const lost =
          render.workerId !== null &&
          !live.has(render.workerId) &&
          nowMs - quietSince > this.config.renders.workerLostSeconds * 1000;
        if (!lost) return;
        // Fails (false) while the worker's lock is still held: it may be alive after all.
        if (!(await this.queue.remove(id, render.attempts))) return;
        await this.runAgain(render, `Worker ${render.workerId ?? ''} stopped responding`, report);
        return;
      }
      case 'waiting':
        return;
    }
  }

  /**
   * A new admission of the render, or FAILED once it has had `maxAdmissions` (CANCELED when a
   * cancel was asked for: the worker is gone, so is the render).
   */
  private async runAgain(render: RenderRow, message: string, report: ReconcileReport) {
    if (render.cancelRequestedAt !== null) {
      if (await this.changes.apply(render.tenantId, render.id, (current) => cancelNow(current))) {
        report.canceled++;
      }
      return;
    }
    if (render.attempts >= this.config.renders.maxAdmissions) {
      const failed = await this.changes.apply(render.tenantId, render.id, (current) =>
        decideFail(current, {
          code: 'INTERNAL',
          message: `${message}; gave up after ${render.attempts} attempts`,
          ourFault: true,
        }),
      );
      if (failed) report.failed++;
      return;
    }
    const requeued = await this.changes.apply(render.tenantId, render.id, (current) =>
      // Only the admission we looked at: a newer one (or a finished render) is left alone.
      current.attempts === render.attempts
        ? requeue(current, { code: GatewayFailure.WorkerLost, message })
        : null,
    );
    if (requeued) report.requeued++;
  }
}
