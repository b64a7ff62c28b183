import { Inject, Injectable, Logger } from '@nestjs/common';
import { Gauge, Histogram } from 'prom-client';
import type { Db, Render, RenderQueueDepthRow, RenderQueueState } from '@likeness/db';
import { DB } from '../infra/infra.module';
import { WorkerRegistryService } from '../workers';
import { GatewayMetrics } from './metrics';

const STATES: readonly RenderQueueState[] = ['waiting', 'admitted', 'running', 'encoding'];
/** Render durations: from a second to the 6 h deadline. */
const RENDER_SECONDS_BUCKETS = [
  1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600,
];
/** A scrape reuses a queue-depth read this young (several scrapers, one query). */
const DEPTH_CACHE_MS = 1000;
/** A scrape never waits longer than this for Postgres; the gauges are then left out. */
const DEPTH_TIMEOUT_MS = 2000;
/** Packs remembered to report their zeros; pack names come from workers, so cap them. */
const MAX_PACKS = 100;

/**
 * Render metrics in the gateway's registry (README "Observability"): the queue depth of all
 * tenants by state and pack, read from Postgres on scrape (one aggregate query, at most once a
 * second), the live workers and their advertised capacity (the registry's cached read of the
 * heartbeats), and the durations of finished renders by outcome, observed by the replica that
 * wrote the final change (RenderChanges calls `finished`). The depth and worker gauges are the
 * same on every replica: aggregate them with max, not sum.
 */
@Injectable()
export class RenderMetrics {
  private readonly logger = new Logger(RenderMetrics.name);
  private readonly packs = new Set<string>();
  private depthRead: { at: number; rows: Promise<RenderQueueDepthRow[]> } | undefined;

  private readonly duration: Histogram<'outcome'>;
  private readonly runDuration: Histogram<'outcome'>;

  constructor(
    metrics: GatewayMetrics,
    @Inject(DB) private readonly db: Db,
    private readonly registry: WorkerRegistryService,
  ) {
    const registers = [metrics.registry];
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    new Gauge({
      name: 'likeness_render_queue_depth',
      help: 'Unfinished renders of all tenants by state (waiting: QUEUED in Postgres, not admitted; admitted: BullMQ job, not started; running; encoding) and model pack.',
      labelNames: ['state', 'pack'] as const,
      registers,
      async collect() {
        this.reset();
        const rows = await self.depth();
        if (rows === null) return;
        for (const row of rows) self.remember(row.pack);
        for (const pack of self.packs) {
          for (const state of STATES) this.set({ state, pack }, 0);
        }
        for (const row of rows) this.set({ state: row.state, pack: row.pack }, row.count);
      },
    });
    new Gauge({
      name: 'likeness_render_workers',
      help: 'Live render workers (unexpired heartbeats).',
      registers,
      async collect() {
        const workers = await self.workers();
        this.set(workers?.length ?? 0);
      },
    });
    new Gauge({
      name: 'likeness_render_worker_capacity',
      help: 'Renders the live workers advertise they can run at once, in all.',
      registers,
      async collect() {
        const workers = await self.workers();
        this.set((workers ?? []).reduce((n, w) => n + w.capacity, 0));
      },
    });
    new Gauge({
      name: 'likeness_render_worker_busy',
      help: 'Jobs the live workers advertise as running now.',
      registers,
      async collect() {
        const workers = await self.workers();
        this.set((workers ?? []).reduce((n, w) => n + w.currentJobs.length, 0));
      },
    });
    new Gauge({
      name: 'likeness_render_pack_workers',
      help: 'Live render workers that have the model pack loaded.',
      labelNames: ['pack'] as const,
      registers,
      async collect() {
        this.reset();
        for (const [pack, n] of self.perPack(await self.workers(), () => 1)) this.set({ pack }, n);
      },
    });
    new Gauge({
      name: 'likeness_render_pack_capacity',
      help: 'Advertised capacity of the live workers that have the model pack loaded.',
      labelNames: ['pack'] as const,
      registers,
      async collect() {
        this.reset();
        const workers = await self.workers();
        for (const [pack, n] of self.perPack(workers, (w) => w.capacity)) this.set({ pack }, n);
      },
    });
    this.duration = new Histogram({
      name: 'likeness_render_duration_seconds',
      help: 'Finished renders, from createRender to the final status, by outcome (succeeded, failed, canceled).',
      labelNames: ['outcome'] as const,
      buckets: RENDER_SECONDS_BUCKETS,
      registers,
    });
    this.runDuration = new Histogram({
      name: 'likeness_render_run_seconds',
      help: 'Finished renders that a worker started, from the start of the current run to the final status, by outcome.',
      labelNames: ['outcome'] as const,
      buckets: RENDER_SECONDS_BUCKETS,
      registers,
    });
  }

  /** A render reached SUCCEEDED, FAILED or CANCELED (called once, after the commit). */
  finished(render: Pick<Render, 'status' | 'createdAt' | 'startedAt' | 'finishedAt'>): void {
    const outcome = render.status.toLowerCase();
    const end = render.finishedAt ?? new Date();
    this.duration.observe(
      { outcome },
      Math.max(0, end.getTime() - render.createdAt.getTime()) / 1000,
    );
    if (render.startedAt) {
      this.runDuration.observe(
        { outcome },
        Math.max(0, end.getTime() - render.startedAt.getTime()) / 1000,
      );
    }
  }

  /** The depth rows, at most DEPTH_CACHE_MS old; null when Postgres did not answer in time. */
  private async depth(): Promise<RenderQueueDepthRow[] | null> {
    const now = Date.now();
    if (this.depthRead === undefined || now - this.depthRead.at > DEPTH_CACHE_MS) {
      const rows = this.db.renderDispatch.depthByPack();
      this.depthRead = { at: now, rows };
      rows.catch(() => {
        if (this.depthRead?.rows === rows) this.depthRead = undefined;
      });
    }
    return bounded(this.depthRead.rows, (error) =>
      this.logger.warn(`render queue depth not read: ${String(error)}`),
    );
  }

  private workers() {
    return bounded(this.registry.workers(), (error) =>
      this.logger.warn(`render workers not read: ${String(error)}`),
    );
  }

  private perPack<W extends { packs: readonly { name: string }[] }>(
    workers: readonly W[] | null,
    value: (worker: W) => number,
  ): Map<string, number> {
    const out = new Map<string, number>();
    for (const worker of workers ?? []) {
      for (const name of new Set(worker.packs.map((p) => p.name))) {
        this.remember(name);
        out.set(name, (out.get(name) ?? 0) + value(worker));
      }
    }
    for (const pack of this.packs) if (!out.has(pack)) out.set(pack, 0);
    return out;
  }

  private remember(pack: string): void {
    if (this.packs.size < MAX_PACKS) this.packs.add(pack);
  }
}

/** The value, or null (reported through `failed`) on an error or after DEPTH_TIMEOUT_MS. */
async function bounded<T>(value: Promise<T>, failed: (error: unknown) => void): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer in ${DEPTH_TIMEOUT_MS} ms`)),
      DEPTH_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([value, timeout]);
  } catch (error) {
    failed(error);
    return null;
  } finally {
    clearTimeout(timer);
  }
}
