import { Inject, Injectable } from '@nestjs/common';
import type { Db, Render as RenderRow, RenderQueueSnapshot } from '@likeness/db';
import { DB } from '../infra/infra.module';

/** The window `startedRecently` counts over (migration 0005). */
const RECENT_WINDOW_SECONDS = 600;

/**
 * Where a waiting render stands, estimated from the round-robin admission: a render that is the
 * k-th in its tenant's line starts after every render already admitted and waiting for a
 * worker, its own k − 1 predecessors, and up to k − 1 renders of each other tenant with renders
 * waiting (their first k − 1 rounds). Plan concurrency limits are not modelled.
 */
export function positionInLine(snapshot: RenderQueueSnapshot, ownRank: number): number {
  const rounds = Math.max(0, ownRank - 1);
  let others = 0;
  for (const waiting of snapshot.otherWaiting) others += Math.min(waiting, rounds);
  return snapshot.admittedWaiting + rounds + others + 1;
}

/**
 * Seconds until a render at `position` is done: the wait at the recent start rate (renders
 * started in the last 10 minutes, all tenants) plus its run time at the recent speed (wall
 * seconds per audio second of renders finished in the last hour). Null without data to go by.
 */
export function etaFor(
  snapshot: RenderQueueSnapshot,
  position: number,
  audioSeconds: number,
  workersAvailable: boolean,
): number | null {
  if (snapshot.secondsPerVideoSecond === null) return null;
  const run = snapshot.secondsPerVideoSecond * audioSeconds;
  const ahead = position - 1;
  if (ahead === 0) return workersAvailable ? run : null;
  if (snapshot.startedRecently === 0) return null;
  const wait = ahead / (snapshot.startedRecently / RECENT_WINDOW_SECONDS);
  return Math.round((wait + run) * 10) / 10;
}

/** How long one tenant's snapshot is reused on a replica (positions are estimates anyway). */
const SNAPSHOT_TTL_MS = 1000;
const SNAPSHOT_CACHE_MAX = 10_000;

@Injectable()
export class RenderQueueInfo {
  private readonly snapshots = new Map<
    string,
    { at: number; value: Promise<RenderQueueSnapshot> }
  >();

  constructor(@Inject(DB) private readonly db: Db) {}

  /** The queue snapshot as the tenant sees it, at most a second old. */
  snapshot(tenantId: string): Promise<RenderQueueSnapshot> {
    const now = Date.now();
    const cached = this.snapshots.get(tenantId);
    if (cached && now - cached.at < SNAPSHOT_TTL_MS) return cached.value;
    if (this.snapshots.size >= SNAPSHOT_CACHE_MAX) this.snapshots.clear();
    const value = this.db.renders.queueSnapshot(tenantId);
    this.snapshots.set(tenantId, { at: now, value });
    value.catch(() => this.snapshots.delete(tenantId));
    return value;
  }

  /** Queue positions of the tenant's QUEUED renders among `renders` (others are absent). */
  async positions(tenantId: string, renders: readonly RenderRow[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const queued = renders.filter((r) => r.status === 'QUEUED');
    if (queued.length === 0) return out;
    const waiting = queued.filter((r) => r.admittedAt === null);
    for (const admitted of queued.filter((r) => r.admittedAt !== null)) {
      out.set(
        admitted.id,
        1 + (await this.db.renders.admittedAhead(tenantId, admitted.admittedAt as Date)),
      );
    }
    if (waiting.length > 0) {
      const [snapshot, ranks] = await Promise.all([
        this.snapshot(tenantId),
        this.db.renders.waitingRanks(
          tenantId,
          waiting.map((r) => r.id),
        ),
      ]);
      for (const render of waiting) {
        const rank = ranks.get(render.id);
        if (rank !== undefined) out.set(render.id, positionInLine(snapshot, rank));
      }
    }
    return out;
  }

  /** Position and snapshot for a render the tenant would create now with `priority`. */
  async forNewRender(
    tenantId: string,
    priority: number,
  ): Promise<{ position: number; snapshot: RenderQueueSnapshot }> {
    const [snapshot, ahead] = await Promise.all([
      this.snapshot(tenantId),
      this.db.renders.waitingCount(tenantId, priority),
    ]);
    return { position: positionInLine(snapshot, ahead + 1), snapshot };
  }
}
