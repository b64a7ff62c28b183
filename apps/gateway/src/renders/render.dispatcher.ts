import { setTimeout as delay } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { getPlan, isPlanId } from '@likeness/billing';
import type { AdmissionSlotsInput, AdmitAtCreation, Db, RenderDispatch } from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DB } from '../infra/infra.module';
import { WorkerRegistryService } from '../workers';
import { roundRobin } from './fair-order';
import { PackCatalog } from './pack-catalog';
import { DispatchTrigger, RenderChanges } from './render-changes';
import { RenderQueue, type RenderJob } from './render.queue';
import { decideFail, GatewayFailure } from './render-transitions';

export interface AdmissionPass {
  /** False when another replica was admitting (this pass did nothing). */
  locked: boolean;
  /** True when nothing waited: the pass ended before the lock (inFlight, capacity unread). */
  idle?: boolean;
  admitted: number;
  /** Admitted and unfinished before the pass; the limit was capacity. */
  inFlight: number;
  capacity: number;
}

/** How many renders of a plan may be in flight at once (unknown plans: one). */
export function planConcurrency(plan: string): number {
  return isPlanId(plan) ? getPlan(plan).maxConcurrentRenders : 1;
}

/** A pass that found the admitter's lock held tries again this often, this many times. */
const LOCK_RETRY_MS = 10;
const LOCK_RETRIES = 20;

/** How many more renders a tenant may have in flight now (suspended tenants: none). */
function freeSlots(tenant: AdmissionSlotsInput): number {
  return tenant.status === 'ACTIVE' ? planConcurrency(tenant.plan) - tenant.inFlight : 0;
}

/**
 * The fair scheduler's admitter. Renders wait in Postgres (QUEUED, not admitted); a pass — at
 * most one at a time across replicas (a transaction-scoped advisory lock) — admits them
 * round-robin across tenants (roundRobin), each tenant within its plan's concurrency, by
 * priority then age within a tenant, and only as many as the live workers can take plus a
 * small backlog (so the order of starts is decided here, not by BullMQ's FIFO). Each admitted
 * render gets a BullMQ `render` job with id `<renderId>_<attempt>`, added after the commit (a
 * lost add is re-added by the reconciler). Passes run every `dispatchIntervalMs` and soon after
 * a kick (a render queued, a slot freed). A render created while nothing waits anywhere and
 * there is room is admitted by its creating transaction instead (admissionAtCreation), which
 * is exactly what the next pass would do, without waiting for it.
 */
@Injectable()
export class RenderDispatcher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RenderDispatcher.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(DB) private readonly db: Db,
    private readonly registry: WorkerRegistryService,
    private readonly queue: RenderQueue,
    private readonly changes: RenderChanges,
    private readonly catalog: PackCatalog,
    trigger: DispatchTrigger,
  ) {
    trigger.onKick(() => this.soon());
  }

  onApplicationBootstrap(): void {
    if (!this.config.renders.dispatch) return;
    this.timer = setInterval(() => this.soon(), this.config.renders.dispatchIntervalMs);
    this.timer.unref();
    this.soon();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Runs a pass now, or right after the one running (passes never overlap on a replica). */
  soon(): void {
    if (this.stopped || !this.config.renders.dispatch) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      let busy = 0;
      do {
        this.again = false;
        try {
          const result = await this.pass();
          // The admitter's lock was held: by another replica's pass, or by a createRender
          // admitting its own render. What this pass was for may still be waiting: try again
          // shortly (bounded; the periodic pass covers a lock held longer).
          busy = result.locked ? 0 : busy + 1;
          if (!result.locked && busy <= LOCK_RETRIES && !this.stopped) {
            this.again = true;
            await delay(LOCK_RETRY_MS);
          }
        } catch (error) {
          this.logger.warn(`admission pass failed: ${String(error)}`);
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
  }

  /** Waits for the pass in progress, if any (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * The limits for admitting a render as it is created (RenderRepository.createQueued's
   * `admit`: it is admitted there when a pass would admit it at once); undefined while this
   * replica does not admit (dispatch off, shutting down), so the render waits for a pass.
   */
  async admissionAtCreation(): Promise<AdmitAtCreation | undefined> {
    if (this.stopped || !this.config.renders.dispatch) return undefined;
    return { capacity: await this.capacity(), freeSlots };
  }

  /** One admission pass (also callable directly, e.g. by tests and tools). */
  async pass(): Promise<AdmissionPass> {
    void this.catalog.rememberLive();
    // Nothing waits (the usual pass after a render finished): no lock, no transaction. A render
    // queued after this read kicks a pass of its own.
    if (!(await this.db.renderDispatch.anyWaiting())) {
      return { locked: true, admitted: 0, inFlight: 0, capacity: 0, idle: true };
    }
    const capacity = await this.capacity();
    const result = await this.db.renderDispatch.admit({
      capacity,
      freeSlots,
      choose: roundRobin,
    });
    if (result.admitted.length > 0) await this.enqueue(result.admitted);
    return {
      locked: result.locked,
      admitted: result.admitted.length,
      inFlight: result.inFlight,
      capacity,
    };
  }

  /** Admitted-and-unfinished renders allowed: the live workers' capacity plus the backlog. */
  private async capacity(): Promise<number> {
    const workers = await this.registry.workers();
    return workers.reduce((sum, w) => sum + w.capacity, 0) + this.config.renders.dispatchBacklog;
  }

  /** Adds the jobs of admitted renders; those that cannot run (avatar gone) fail instead. */
  async enqueue(admitted: readonly RenderDispatch[]): Promise<void> {
    const jobs: RenderJob[] = [];
    for (const dispatch of admitted) {
      if (dispatch.avatarDeleted || dispatch.imageStorageKey === null) {
        await this.changes.apply(dispatch.render.tenantId, dispatch.render.id, (current) =>
          decideFail(current, {
            code: GatewayFailure.AvatarGone,
            message: 'The avatar was deleted before the render started',
            field: 'avatarId',
            ourFault: false,
          }),
        );
        continue;
      }
      jobs.push(this.queue.payloadOf(dispatch));
    }
    try {
      await this.queue.add(jobs);
    } catch (error) {
      // The renders stay admitted; the reconciler adds their jobs.
      this.logger.warn(`could not add ${jobs.length} render job(s): ${String(error)}`);
    }
  }
}
