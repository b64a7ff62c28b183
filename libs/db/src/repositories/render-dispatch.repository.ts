import type { DbContext, TenantTx } from '../db';
import { isUuid } from '../errors';
import type { JsonValue, Render, TenantStatus } from '../types';
import { toRender } from './render.repository';

/**
 * One advisory-lock key for the admitter: one admission pass at a time across replicas. Also
 * taken by createQueued's admission at creation, inside likeness_render_admission_load
 * (migration 0008 spells the same number).
 */
const ADMIT_LOCK_KEY = 7_310_524_105;

/** A tenant with renders waiting in Postgres, as the admitter sees it. */
export interface AdmissionTenant {
  tenantId: string;
  plan: string;
  status: TenantStatus;
  /** Renders waiting (not admitted yet). */
  waiting: number;
  /** Renders admitted and not finished (queued in BullMQ, running, encoding). */
  inFlight: number;
  /** The tenant's most recent admission: the round-robin turns to the longest-unserved first. */
  lastAdmittedAt: Date | null;
}

/** What a tenant's free slots are computed from (AdmitOptions / AdmitAtCreation.freeSlots). */
export type AdmissionSlotsInput = Pick<AdmissionTenant, 'plan' | 'status' | 'inFlight'>;

/** A waiting render that may be admitted now (within its tenant's free slots). */
export interface AdmissionCandidate {
  renderId: string;
  tenantId: string;
  /** 1 = the tenant's next render (priority, then age). */
  rank: number;
}

/** What a BullMQ render job needs besides the render row. */
export interface RenderDispatch {
  render: Render;
  /** The avatar's image; null when the avatar is gone (the render cannot run). */
  imageStorageKey: string | null;
  audioStorageKey: string;
  avatarDeleted: boolean;
  faceBox: JsonValue | null;
  keypoints: JsonValue | null;
  identityEmbedding: number[] | null;
}

/** Where an unfinished render stands, for the queue-depth metric. */
export type RenderQueueState = 'waiting' | 'admitted' | 'running' | 'encoding';

export interface RenderQueueDepthRow {
  /** waiting: QUEUED in Postgres; admitted: QUEUED with a BullMQ job; running; encoding. */
  state: RenderQueueState;
  pack: string;
  count: number;
}

export interface AdmitOptions {
  /** Admitted-and-unfinished renders allowed across all tenants (worker capacity + backlog). */
  capacity: number;
  /** How many more renders the tenant may have in flight now (plan concurrency − inFlight). */
  freeSlots(tenant: AdmissionSlotsInput): number;
  /** The renders to admit, in order (at most `capacityLeft`). */
  choose(
    tenants: readonly AdmissionTenant[],
    candidates: readonly AdmissionCandidate[],
    capacityLeft: number,
  ): string[];
  now?: Date;
}

export interface AdmitResult {
  /** False when another replica's pass held the lock (nothing was done). */
  locked: boolean;
  /** Admitted and unfinished renders before this pass. */
  inFlight: number;
  admitted: RenderDispatch[];
}

/**
 * The fair scheduler's and the reconciler's view across tenants (Db's privileged path,
 * likeness_platform): renders wait in Postgres until admitted, an admission pass runs under a
 * transaction-scoped advisory lock so only one replica admits at a time.
 */
export class RenderDispatchRepository {
  constructor(private readonly ctx: DbContext) {}

  /**
   * One admission pass: under the admit lock, reads the tenants with waiting renders and the
   * renders in flight, asks `freeSlots` per tenant and `choose` for the order, and marks the
   * chosen renders admitted (admittedAt set, attempts + 1: the attempt names the BullMQ job).
   */
  async admit(options: AdmitOptions): Promise<AdmitResult> {
    const now = options.now ?? new Date();
    return this.ctx.privileged(async (tx) => {
      const lock = await tx.$queryRaw<{ ok: boolean }[]>`
        SELECT pg_try_advisory_xact_lock(${ADMIT_LOCK_KEY}::bigint) AS ok`;
      if (!lock[0]?.ok) return { locked: false, inFlight: 0, admitted: [] };
      const flying = await tx.$queryRaw<{ n: number }[]>`
        SELECT count(*)::integer AS n FROM renders
        WHERE admitted_at IS NOT NULL AND status IN ('QUEUED', 'RUNNING', 'ENCODING')`;
      const inFlight = Number(flying[0]?.n ?? 0);
      const capacityLeft = options.capacity - inFlight;
      if (capacityLeft <= 0) return { locked: true, inFlight, admitted: [] };

      const tenantRows = await tx.$queryRaw<
        {
          tenant_id: string;
          plan: string;
          status: TenantStatus;
          waiting: number;
          in_flight: number;
          last_admitted_at: Date | null;
        }[]
      >`
        SELECT w.tenant_id::text AS tenant_id, t.plan, t.status::text AS status, w.waiting,
          (SELECT count(*)::integer FROM renders a
            WHERE a.tenant_id = w.tenant_id AND a.admitted_at IS NOT NULL
              AND a.status IN ('QUEUED', 'RUNNING', 'ENCODING')) AS in_flight,
          (SELECT max(l.admitted_at) FROM renders l WHERE l.tenant_id = w.tenant_id)
            AS last_admitted_at
        FROM (SELECT tenant_id, count(*)::integer AS waiting FROM renders
              WHERE status = 'QUEUED' AND admitted_at IS NULL GROUP BY tenant_id) w
        JOIN tenants t ON t.id = w.tenant_id`;
      const tenants: AdmissionTenant[] = tenantRows.map((r) => ({
        tenantId: r.tenant_id,
        plan: r.plan,
        status: r.status,
        waiting: Number(r.waiting),
        inFlight: Number(r.in_flight),
        lastAdmittedAt: r.last_admitted_at,
      }));
      const slots = tenants
        .map((t) => ({ t, n: Math.min(t.waiting, capacityLeft, Math.floor(options.freeSlots(t))) }))
        .filter((x) => x.n > 0);
      if (slots.length === 0) return { locked: true, inFlight, admitted: [] };

      const candidateRows = await tx.$queryRaw<{ id: string; tenant_id: string; rank: number }[]>`
        SELECT c.id::text AS id, c.tenant_id::text AS tenant_id, c.rank::integer AS rank
        FROM unnest(${slots.map((s) => s.t.tenantId)}::uuid[], ${slots.map((s) => s.n)}::int[])
          AS q(tenant_id, n)
        CROSS JOIN LATERAL (
          SELECT r.id, r.tenant_id,
            row_number() OVER (ORDER BY r.priority DESC, r.queued_at, r.id) AS rank
          FROM renders r
          WHERE r.tenant_id = q.tenant_id AND r.status = 'QUEUED' AND r.admitted_at IS NULL
            AND r.cancel_requested_at IS NULL
          ORDER BY r.priority DESC, r.queued_at, r.id
          LIMIT q.n
        ) c`;
      const candidates: AdmissionCandidate[] = candidateRows.map((r) => ({
        renderId: r.id,
        tenantId: r.tenant_id,
        rank: Number(r.rank),
      }));
      const chosen = options.choose(tenants, candidates, capacityLeft).slice(0, capacityLeft);
      if (chosen.length === 0) return { locked: true, inFlight, admitted: [] };
      // One millisecond apart in admission order, so the next pass knows who came last.
      const admittedIds = await tx.$queryRaw<{ id: string }[]>`
        UPDATE renders r
        SET admitted_at = ${now}::timestamptz + (c.ord * interval '1 millisecond'),
            attempts = r.attempts + 1, updated_at = now()
        FROM unnest(${chosen}::uuid[]) WITH ORDINALITY AS c(id, ord)
        WHERE r.id = c.id AND r.status = 'QUEUED' AND r.admitted_at IS NULL
        RETURNING r.id::text AS id`;
      const admitted = await loadDispatch(
        tx,
        admittedIds.map((r) => r.id),
      );
      const order = new Map(chosen.map((id, i) => [id, i]));
      admitted.sort((a, b) => (order.get(a.render.id) ?? 0) - (order.get(b.render.id) ?? 0));
      return { locked: true, inFlight, admitted };
    });
  }

  /**
   * Whether any render of any tenant waits in Postgres, read without the admitter's lock (one
   * statement, likeness_render_admission_load(false), migration 0008): a pass with nothing to
   * admit need not take the lock.
   */
  async anyWaiting(): Promise<boolean> {
    const rows = await this.ctx.app().$queryRaw<{ waiting: boolean }[]>`
      SELECT waiting FROM likeness_render_admission_load(false)`;
    return rows[0]?.waiting === true;
  }

  /**
   * What the job of one render needs (the reconciler re-adds lost jobs); null for unknown or
   * foreign renders.
   */
  async dispatchOf(tenantId: string, renderId: string): Promise<RenderDispatch | null> {
    if (!isUuid(renderId)) return null;
    const found = await this.ctx.withTenant(tenantId, (tx) => loadDispatch(tx, [renderId]));
    return found[0] ?? null;
  }

  /**
   * Unfinished renders the reconciler must look at: admitted ones (their job, their worker),
   * those past their deadline and those with a cancel request, least recently changed first.
   */
  async unfinishedForReconcile(now: Date, limit = 500): Promise<Render[]> {
    const rows = await this.ctx.privileged((tx) =>
      tx.render.findMany({
        where: {
          status: { in: ['QUEUED', 'RUNNING', 'ENCODING'] },
          OR: [
            { admittedAt: { not: null } },
            { deadlineAt: { lt: now } },
            { cancelRequestedAt: { not: null } },
          ],
        },
        orderBy: { updatedAt: 'asc' },
        take: Math.max(1, Math.min(5000, limit)),
      }),
    );
    return rows.map(toRender);
  }

  /** Renders waiting in Postgres or in flight, all tenants (the gateway's queue-depth metric). */
  async depth(): Promise<{ waiting: number; inFlight: number }> {
    const rows = await this.ctx.privileged(
      (tx) => tx.$queryRaw<{ waiting: number; in_flight: number }[]>`
        SELECT count(*) FILTER (WHERE admitted_at IS NULL)::integer AS waiting,
               count(*) FILTER (WHERE admitted_at IS NOT NULL)::integer AS in_flight
        FROM renders WHERE status IN ('QUEUED', 'RUNNING', 'ENCODING')`,
    );
    return { waiting: Number(rows[0]?.waiting ?? 0), inFlight: Number(rows[0]?.in_flight ?? 0) };
  }

  /**
   * Unfinished renders of all tenants by state and model pack (the gateway's queue-depth
   * gauges): one aggregate over the partial waiting / in-flight indexes' rows, no ids.
   */
  async depthByPack(): Promise<RenderQueueDepthRow[]> {
    const rows = await this.ctx.privileged(
      (tx) => tx.$queryRaw<{ state: RenderQueueState; pack: string; n: number }[]>`
        SELECT CASE
                 WHEN status = 'QUEUED' AND admitted_at IS NULL THEN 'waiting'
                 WHEN status = 'QUEUED' THEN 'admitted'
                 WHEN status = 'RUNNING' THEN 'running'
                 ELSE 'encoding'
               END AS state,
               model_pack AS pack, count(*)::integer AS n
        FROM renders WHERE status IN ('QUEUED', 'RUNNING', 'ENCODING')
        GROUP BY 1, 2`,
    );
    return rows.map((r) => ({ state: r.state, pack: r.pack, count: Number(r.n) }));
  }
}

async function loadDispatch(tx: TenantTx, renderIds: readonly string[]): Promise<RenderDispatch[]> {
  if (renderIds.length === 0) return [];
  const rows = await tx.$queryRaw<
    {
      id: string;
      image_key: string | null;
      audio_key: string;
      avatar_deleted: boolean;
      face_box: JsonValue | null;
      keypoints: JsonValue | null;
      embedding: string | null;
    }[]
  >`
    SELECT r.id::text AS id, img.storage_key AS image_key, au.storage_key AS audio_key,
      (av.deleted_at IS NOT NULL) AS avatar_deleted, av.face_box, av.keypoints,
      e.embedding::text AS embedding
    FROM renders r
    JOIN avatars av ON av.id = r.avatar_id
    LEFT JOIN assets img ON img.id = av.image_asset_id
    JOIN assets au ON au.id = r.audio_asset_id
    LEFT JOIN identity_embeddings e ON e.avatar_id = av.id
    WHERE r.id = ANY(${[...renderIds]}::uuid[])`;
  const renders = await tx.render.findMany({ where: { id: { in: [...renderIds] } } });
  const byId = new Map(renders.map((r) => [r.id, toRender(r)]));
  const out: RenderDispatch[] = [];
  for (const row of rows) {
    const render = byId.get(row.id);
    if (!render) continue;
    out.push({
      render,
      imageStorageKey: row.image_key,
      audioStorageKey: row.audio_key,
      avatarDeleted: row.avatar_deleted,
      faceBox: row.face_box,
      keypoints: row.keypoints,
      identityEmbedding: row.embedding === null ? null : (JSON.parse(row.embedding) as number[]),
    });
  }
  return out;
}
