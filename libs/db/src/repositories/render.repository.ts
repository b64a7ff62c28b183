import type { DbContext, TenantTx } from '../db';
import { DbError, isUniqueViolation, isUuid } from '../errors';
import type { Prisma } from '../prisma';
import type {
  JsonObject,
  JsonValue,
  ListOptions,
  Render,
  RenderEvent,
  RenderStatus,
  TenantStatus,
} from '../types';
import type { CreateAssetInput } from './asset.repository';
import type { AdmissionSlotsInput, RenderDispatch } from './render-dispatch.repository';
import { json, jsonInput, jsonObject, nullableJsonInput, page } from './mappers';

type RenderRow = Prisma.RenderGetPayload<object>;
type RenderEventRow = Prisma.RenderEventGetPayload<object>;

export function toRender(row: RenderRow): Render {
  return {
    id: row.id,
    tenantId: row.tenantId,
    apiKeyId: row.apiKeyId,
    avatarId: row.avatarId,
    audioAssetId: row.audioAssetId,
    prompt: row.prompt,
    controls: jsonObject(row.controls),
    seed: row.seed,
    modelPack: row.modelPack,
    modelPackVersion: row.modelPackVersion,
    status: row.status,
    priority: row.priority,
    progress: row.progress === null ? null : json(row.progress),
    outputAssetId: row.outputAssetId,
    identityScore: row.identityScore,
    costCents: row.costCents,
    error: row.error === null ? null : json(row.error),
    attempts: row.attempts,
    idempotencyKey: row.idempotencyKey,
    inputHash: row.inputHash,
    queuedAt: row.queuedAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    deadlineAt: row.deadlineAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    admittedAt: row.admittedAt,
    runId: row.runId,
    runSeq: row.runSeq,
    runAt: row.runAt,
    runs: row.runs,
    workerId: row.workerId,
    lastEventAt: row.lastEventAt,
    cancelRequestedAt: row.cancelRequestedAt,
    audioSeconds: row.audioSeconds,
    frames: row.frames,
    billedSeconds: row.billedSeconds,
    quotedCents: row.quotedCents,
  };
}

export function toRenderEvent(row: RenderEventRow): RenderEvent {
  return {
    id: row.id,
    tenantId: row.tenantId,
    renderId: row.renderId,
    sequence: row.sequence,
    type: row.type,
    payload: json(row.payload),
    createdAt: row.createdAt,
  };
}

export interface CreateRenderInput {
  apiKeyId?: string | null;
  avatarId: string;
  audioAssetId: string;
  prompt?: string;
  controls?: JsonObject;
  seed: number;
  modelPack: string;
  modelPackVersion: string;
  priority?: number;
  /** Unique per tenant; a second create with the same key is DbError CONFLICT. */
  idempotencyKey?: string | null;
  inputHash: string;
  deadlineAt?: Date | null;
}

export interface UpdateRenderInput {
  status?: RenderStatus;
  progress?: JsonValue | null;
  outputAssetId?: string | null;
  identityScore?: number | null;
  costCents?: number | null;
  error?: JsonValue | null;
  attempts?: number;
  startedAt?: Date | null;
  finishedAt?: Date | null;
  deadlineAt?: Date | null;
  admittedAt?: Date | null;
  runId?: string | null;
  runSeq?: number;
  runAt?: Date | null;
  runs?: number;
  workerId?: string | null;
  lastEventAt?: Date | null;
  cancelRequestedAt?: Date | null;
  billedSeconds?: number;
}

/** The columns every new render gets from its CreateRenderInput. */
function createData(tenantId: string, input: CreateRenderInput) {
  return {
    tenantId,
    apiKeyId: input.apiKeyId ?? null,
    avatarId: input.avatarId,
    audioAssetId: input.audioAssetId,
    prompt: input.prompt ?? '',
    controls: jsonInput(input.controls ?? {}),
    seed: input.seed,
    modelPack: input.modelPack,
    modelPackVersion: input.modelPackVersion,
    priority: input.priority ?? 0,
    idempotencyKey: input.idempotencyKey ?? null,
    inputHash: input.inputHash,
    deadlineAt: input.deadlineAt ?? null,
  };
}

async function requireOwned(
  tx: TenantTx,
  tenantId: string,
  kind: 'avatar' | 'asset' | 'apiKey',
  id: string,
): Promise<void> {
  const where = { id, tenantId };
  let found: { id: string } | null = null;
  if (isUuid(id)) {
    switch (kind) {
      case 'avatar':
        found = await tx.avatar.findFirst({ where, select: { id: true } });
        break;
      case 'asset':
        found = await tx.asset.findFirst({ where, select: { id: true } });
        break;
      case 'apiKey':
        found = await tx.apiKey.findFirst({ where, select: { id: true } });
        break;
    }
  }
  if (!found) throw new DbError('INVALID_REFERENCE', `${kind} ${id} not found`);
}

/** The status of a render that will not change any more. */
export const FINISHED_RENDER_STATUSES: readonly RenderStatus[] = [
  'SUCCEEDED',
  'FAILED',
  'CANCELED',
];

const SNAPSHOT_DATES = [
  'queuedAt',
  'startedAt',
  'finishedAt',
  'deadlineAt',
  'createdAt',
  'updatedAt',
  'admittedAt',
  'runAt',
  'lastEventAt',
  'cancelRequestedAt',
] as const satisfies readonly (keyof Render)[];

/** A render as JSON (dates as ISO strings): the payload of every RenderEvent row. */
export function renderSnapshot(render: Render): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(render) as [string, unknown][]) {
    out[key] = value instanceof Date ? value.toISOString() : (value as JsonValue);
  }
  return out;
}

/** The render a RenderEvent payload recorded; null for payloads that are not snapshots. */
export function renderFromSnapshot(payload: JsonValue): Render | null {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return null;
  if (typeof payload['id'] !== 'string' || typeof payload['status'] !== 'string') return null;
  const render: Record<string, unknown> = { ...payload };
  for (const key of SNAPSHOT_DATES) {
    const value = payload[key];
    render[key] = typeof value === 'string' ? new Date(value) : null;
  }
  return render as unknown as Render;
}

function updateData(patch: UpdateRenderInput): Prisma.RenderUncheckedUpdateManyInput {
  const data: Prisma.RenderUncheckedUpdateManyInput = { updatedAt: new Date() };
  if (patch.status !== undefined) data.status = patch.status;
  if (patch.progress !== undefined) data.progress = nullableJsonInput(patch.progress);
  if (patch.outputAssetId !== undefined) data.outputAssetId = patch.outputAssetId;
  if (patch.identityScore !== undefined) data.identityScore = patch.identityScore;
  if (patch.costCents !== undefined) data.costCents = patch.costCents;
  if (patch.error !== undefined) data.error = nullableJsonInput(patch.error);
  if (patch.attempts !== undefined) data.attempts = patch.attempts;
  if (patch.startedAt !== undefined) data.startedAt = patch.startedAt;
  if (patch.finishedAt !== undefined) data.finishedAt = patch.finishedAt;
  if (patch.deadlineAt !== undefined) data.deadlineAt = patch.deadlineAt;
  if (patch.admittedAt !== undefined) data.admittedAt = patch.admittedAt;
  if (patch.runId !== undefined) data.runId = patch.runId;
  if (patch.runSeq !== undefined) data.runSeq = patch.runSeq;
  if (patch.runAt !== undefined) data.runAt = patch.runAt;
  if (patch.runs !== undefined) data.runs = patch.runs;
  if (patch.workerId !== undefined) data.workerId = patch.workerId;
  if (patch.lastEventAt !== undefined) data.lastEventAt = patch.lastEventAt;
  if (patch.cancelRequestedAt !== undefined) data.cancelRequestedAt = patch.cancelRequestedAt;
  if (patch.billedSeconds !== undefined) data.billedSeconds = patch.billedSeconds;
  return data;
}

/** What `createQueued` reads under the tenant's render lock, for the quota decision. */
export interface RenderUsage {
  plan: string;
  tenantStatus: TenantStatus;
  /** Video seconds reserved or charged by renders created since `monthStart`. */
  videoSecondsThisMonth: number;
  /** Renders of the tenant not finished yet (waiting, admitted, running). */
  unfinished: number;
  /** The creating API key's monthly spend cap and its spend (charged or quoted) since monthStart. */
  apiKey: { spendCapCents: number | null; spentThisMonthCents: number } | null;
}

export interface CreateQueuedRenderInput extends CreateRenderInput {
  audioSeconds: number;
  frames: number;
}

/** What createQueued is asked for: the rows it looks up itself, under the tenant's lock. */
export type RenderCreateRequest = Pick<
  CreateQueuedRenderInput,
  'avatarId' | 'audioAssetId' | 'apiKeyId' | 'idempotencyKey'
>;

/** The rest of the render, built by the caller from what createQueued found. */
export type RenderCreateBuilt = Omit<CreateQueuedRenderInput, keyof RenderCreateRequest>;

/** The avatar and the audio asset as createQueued found them in the tenant (null: none). */
export interface RenderCreateFound {
  /** Null when the tenant has no such avatar, or it was deleted. */
  avatar: { status: string } | null;
  audio: { kind: string; probe: JsonObject } | null;
}

/** What `createQueued`'s guard allows: the seconds reserved against the quota and the price. */
export interface RenderReservation {
  /** Reserved against the monthly quota now; corrected when the render finishes. */
  billedSeconds: number;
  quotedCents: number;
}

/**
 * createQueued's admission at creation (see there): the admitter's limits, as
 * RenderDispatchRepository.admit takes them.
 */
export interface AdmitAtCreation {
  /** Admitted-and-unfinished renders allowed across all tenants (worker capacity + backlog). */
  capacity: number;
  /** How many more renders the tenant may have in flight now (plan concurrency − inFlight). */
  freeSlots(tenant: AdmissionSlotsInput): number;
  now?: Date;
}

export type CreateQueuedResult<A> =
  | {
      created: true;
      render: Render;
      event: RenderEvent;
      /** Admitted at creation: what its BullMQ job needs. Null: it waits for a pass. */
      dispatch: RenderDispatch | null;
      after: A;
    }
  /** The idempotency key was used before: the render it created (nothing was written). */
  | { created: false; render: Render };

/** One state change of a render, decided from its locked row (`RenderRepository.change`). */
export interface RenderChange {
  patch: UpdateRenderInput;
  /** Type of the RenderEvent recorded with the change (its payload is the changed render). */
  eventType: string;
  /** Created in the same transaction and linked as the render's output. */
  outputAsset?: CreateAssetInput;
  /** The usage ledger row; one per render, a second one is ignored. */
  usage?: { quantity: number; unit: string };
}

/** Runs inside the change's transaction (e.g. webhook outbox rows); its result is returned. */
export type AfterRenderChange<A> = (tx: TenantTx, render: Render, event: RenderEvent) => Promise<A>;

export interface RenderQueueSnapshot {
  /** Waiting (not admitted) renders of each OTHER tenant, ascending; no tenant ids. */
  otherWaiting: number[];
  /** Renders admitted (a BullMQ job exists) that no worker started yet. */
  admittedWaiting: number;
  /** Renders started in the last 10 minutes, all tenants. */
  startedRecently: number;
  /** Wall seconds per audio second of renders finished in the last hour; null without any. */
  secondsPerVideoSecond: number | null;
}

/** What the signed preview route needs, found by render id alone (migration 0005). */
export interface RenderPreview {
  tenantId: string;
  previewKey: string | null;
  tenantStatus: TenantStatus;
}

export class RenderRepository {
  constructor(private readonly ctx: DbContext) {}

  async create(tenantId: string, input: CreateRenderInput): Promise<Render> {
    try {
      const row = await this.ctx.withTenant(tenantId, async (tx) => {
        await requireOwned(tx, tenantId, 'avatar', input.avatarId);
        await requireOwned(tx, tenantId, 'asset', input.audioAssetId);
        if (input.apiKeyId) await requireOwned(tx, tenantId, 'apiKey', input.apiKeyId);
        return tx.render.create({
          data: {
            ...createData(tenantId, input),
          },
        });
      });
      return toRender(row);
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new DbError(
          'CONFLICT',
          `a render with idempotency key ${input.idempotencyKey ?? ''} already exists`,
        );
      }
      throw error;
    }
  }

  async findById(tenantId: string, id: string): Promise<Render | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.render.findFirst({ where: { id, tenantId } }),
    );
    return row ? toRender(row) : null;
  }

  async findByIdempotencyKey(tenantId: string, idempotencyKey: string): Promise<Render | null> {
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.render.findFirst({ where: { tenantId, idempotencyKey } }),
    );
    return row ? toRender(row) : null;
  }

  /** Newest first. */
  async list(
    tenantId: string,
    options?: ListOptions & { status?: RenderStatus },
  ): Promise<Render[]> {
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.render.findMany({
        where: { tenantId, ...(options?.status ? { status: options.status } : {}) },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        ...page(options),
      }),
    );
    return rows.map(toRender);
  }

  /** Null when not found. */
  async update(tenantId: string, id: string, patch: UpdateRenderInput): Promise<Render | null> {
    if (!isUuid(id)) return null;
    return this.ctx.withTenant(tenantId, async (tx) => {
      if (patch.outputAssetId) await requireOwned(tx, tenantId, 'asset', patch.outputAssetId);
      const data = updateData(patch);
      const { count } = await tx.render.updateMany({ where: { id, tenantId }, data });
      if (count === 0) return null;
      const row = await tx.render.findFirst({ where: { id, tenantId } });
      return row ? toRender(row) : null;
    });
  }

  /**
   * Creates a QUEUED render and its first event (`render.queued`) under the tenant's render
   * lock (a transaction-scoped advisory lock): concurrent creates of one tenant run one after
   * the other, so `guard` (which throws to refuse, or returns the reservation) sees every
   * earlier reservation and no quota can be exceeded by racing requests. A known idempotency key
   * returns that render instead. The avatar must be READY (it is locked against deletion until
   * the commit): DbError INVALID_REFERENCE otherwise.
   *
   * With `admit`, the render is admitted in the same transaction when an admission pass would
   * admit it at once: the admitter's lock is free (likeness_render_admission_load, migration
   * 0008), no render of any tenant waits in Postgres, fewer than `capacity` are in flight and
   * the tenant has a free slot. Then `dispatch` is what its BullMQ job needs (the caller adds
   * the job after the commit, as the admitter does); otherwise it is null and the render waits
   * for the next pass. Four statements in all (lock, context, render, event) for a new render:
   * the avatar and the audio asset are read here (`build` validates them), not beforehand.
   */
  async createQueued<A = undefined>(
    tenantId: string,
    request: RenderCreateRequest,
    options: {
      monthStart: Date;
      /** The render to create from what was found; throws to refuse (nothing is written). */
      build(found: RenderCreateFound): RenderCreateBuilt;
      /** Throws to refuse, or returns the reservation (sees every earlier one: the lock). */
      guard(usage: RenderUsage, built: RenderCreateBuilt): RenderReservation;
      admit?: AdmitAtCreation;
      after?: AfterRenderChange<A>;
    },
  ): Promise<CreateQueuedResult<A | undefined>> {
    const admit = options.admit;
    return this.ctx.withTenant(
      tenantId,
      async (tx) => {
        const context = await readCreateContext(tx, tenantId, request, options.monthStart, !!admit);
        if (context.existingId !== null) {
          const existing = await tx.render.findFirst({
            where: { id: context.existingId, tenantId },
          });
          if (existing) return { created: false as const, render: toRender(existing) };
        }
        const avatar = context.avatar;
        const built = options.build({
          avatar: avatar && !avatar.deleted ? { status: avatar.status } : null,
          audio: context.audio && { kind: context.audio.kind, probe: context.audio.probe },
        });
        const input: CreateQueuedRenderInput = { ...built, ...request };
        const reservation = options.guard(context.usage, built);
        // The avatar is locked (FOR SHARE) until the commit: it cannot be deleted meanwhile.
        if (!avatar || avatar.deleted) {
          throw new DbError('INVALID_REFERENCE', `avatar ${input.avatarId} not found`);
        }
        if (avatar.status !== 'READY') {
          throw new DbError(
            'INVALID_REFERENCE',
            `avatar ${input.avatarId} is ${avatar.status}, not READY`,
          );
        }
        const admitNow =
          admit !== undefined &&
          context.admission.locked &&
          !context.admission.waiting &&
          context.admission.inFlight < admit.capacity &&
          context.audio !== null &&
          Math.floor(
            admit.freeSlots({
              plan: context.usage.plan,
              status: context.usage.tenantStatus,
              inFlight: context.tenantInFlight,
            }),
          ) >= 1;
        const created = await tx.render.create({
          data: {
            ...createData(tenantId, input),
            audioSeconds: input.audioSeconds,
            frames: input.frames,
            billedSeconds: reservation.billedSeconds,
            quotedCents: reservation.quotedCents,
            // The first event's sequence, written with the row (no bump needed).
            eventSequence: 1,
            ...(admitNow ? { admittedAt: admit.now ?? new Date(), attempts: 1 } : {}),
          },
        });
        const render = toRender(created);
        const event = toRenderEvent(
          await tx.renderEvent.create({
            data: {
              tenantId,
              renderId: render.id,
              sequence: 1,
              type: 'render.queued',
              payload: jsonInput(renderSnapshot(render)),
            },
          }),
        );
        const dispatch: RenderDispatch | null =
          admitNow && context.audio !== null
            ? {
                render,
                imageStorageKey: avatar.imageStorageKey,
                audioStorageKey: context.audio.storageKey,
                avatarDeleted: false,
                faceBox: avatar.faceBox,
                keypoints: avatar.keypoints,
                identityEmbedding:
                  avatar.embedding === null ? null : (JSON.parse(avatar.embedding) as number[]),
              }
            : null;
        const after = options.after ? await options.after(tx, render, event) : undefined;
        return { created: true as const, render, event, dispatch, after };
      },
      { lock: `likeness:renders:${tenantId}` },
    );
  }

  /**
   * Changes one render under its row lock: `decide` sees the current row and returns the
   * change, or null to leave the render as it is (then nothing is written and null returned).
   * Every change records a RenderEvent with the next sequence; `after` runs in the same
   * transaction. Null as well for unknown or foreign renders.
   */
  async change<A = undefined>(
    tenantId: string,
    renderId: string,
    decide: (current: Render) => RenderChange | null,
    after?: AfterRenderChange<A>,
  ): Promise<{ render: Render; event: RenderEvent; after: A | undefined } | null> {
    if (!isUuid(renderId)) return null;
    return this.ctx.withTenant(tenantId, async (tx) => {
      const current = await lockRender(tx, tenantId, renderId);
      if (!current) return null;
      const change = decide(current);
      if (!change) return null;
      const patch: UpdateRenderInput = { ...change.patch };
      if (change.outputAsset) {
        const asset = await tx.asset.create({
          data: {
            ...(change.outputAsset.id !== undefined ? { id: change.outputAsset.id } : {}),
            tenantId,
            kind: change.outputAsset.kind,
            mime: change.outputAsset.mime,
            bytes: BigInt(change.outputAsset.bytes),
            sha256: change.outputAsset.sha256,
            storageKey: change.outputAsset.storageKey,
            probe: jsonInput(change.outputAsset.probe ?? {}),
          },
        });
        patch.outputAssetId = asset.id;
      } else if (patch.outputAssetId) {
        await requireOwned(tx, tenantId, 'asset', patch.outputAssetId);
      }
      // The change and the next event sequence in one UPDATE (the row is locked: gapless).
      const updated = await tx.render.update({
        where: { id: renderId },
        data: { ...updateData(patch), eventSequence: { increment: 1 } },
      });
      if (change.usage) {
        await tx.$executeRaw`
          INSERT INTO usage_events (tenant_id, api_key_id, render_id, quantity, unit)
          VALUES (${tenantId}::uuid, ${current.apiKeyId}::uuid, ${renderId}::uuid,
                  ${change.usage.quantity}, ${change.usage.unit})
          ON CONFLICT (render_id) DO NOTHING`;
      }
      const render = toRender(updated);
      const event = toRenderEvent(
        await tx.renderEvent.create({
          data: {
            tenantId,
            renderId,
            sequence: updated.eventSequence,
            type: change.eventType,
            payload: jsonInput(renderSnapshot(render)),
          },
        }),
      );
      const result = after ? await after(tx, render, event) : undefined;
      return { render, event, after: result };
    });
  }

  /** What createQueued's guard would see now (read without the lock: for estimates). */
  async usage(tenantId: string, apiKeyId: string | null, monthStart: Date): Promise<RenderUsage> {
    return this.ctx.withTenant(
      tenantId,
      async (tx) => (await readCreateContext(tx, tenantId, { apiKeyId }, monthStart, false)).usage,
    );
  }

  /** Several renders of the tenant by id (unknown and foreign ids left out), in no order. */
  async findByIds(tenantId: string, ids: readonly string[]): Promise<Render[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return [];
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.render.findMany({ where: { tenantId, id: { in: valid } } }),
    );
    return rows.map(toRender);
  }

  /** The last event of a render (its current state as subscribers saw it), if any. */
  async lastEvent(tenantId: string, renderId: string): Promise<RenderEvent | null> {
    if (!isUuid(renderId)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.renderEvent.findFirst({
        where: { tenantId, renderId },
        orderBy: { sequence: 'desc' },
      }),
    );
    return row ? toRenderEvent(row) : null;
  }

  /**
   * 1-based places in the tenant's own waiting line (renders not yet admitted, by priority,
   * then age) of the given renders; admitted and finished renders are absent.
   */
  async waitingRanks(tenantId: string, ids: readonly string[]): Promise<Map<string, number>> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return new Map();
    const rows = await this.ctx.withTenant(
      tenantId,
      (tx) => tx.$queryRaw<{ id: string; rank: number }[]>`
        SELECT id::text AS id, rank::integer AS rank FROM (
          SELECT id, row_number() OVER (ORDER BY priority DESC, queued_at, id) AS rank
          FROM renders
          WHERE tenant_id = ${tenantId}::uuid AND status = 'QUEUED' AND admitted_at IS NULL
        ) line WHERE id = ANY(${valid}::uuid[])`,
    );
    return new Map(rows.map((r) => [r.id, Number(r.rank)]));
  }

  /** The tenant's waiting renders with a priority of at least `minPriority`. */
  async waitingCount(tenantId: string, minPriority: number): Promise<number> {
    return this.ctx.withTenant(tenantId, (tx) =>
      tx.render.count({
        where: { tenantId, status: 'QUEUED', admittedAt: null, priority: { gte: minPriority } },
      }),
    );
  }

  /** Numbers about the whole queue, none identifying another tenant (migration 0005). */
  async queueSnapshot(tenantId: string): Promise<RenderQueueSnapshot> {
    const rows = await this.ctx.withTenant(
      tenantId,
      (tx) =>
        tx.$queryRaw<
          {
            other_waiting: number[];
            admitted_waiting: number;
            started_recently: number;
            seconds_per_video_second: number | null;
          }[]
        >`SELECT * FROM likeness_render_queue_snapshot(${tenantId}::uuid)`,
    );
    const row = rows[0];
    return {
      otherWaiting: (row?.other_waiting ?? []).map(Number),
      admittedWaiting: Number(row?.admitted_waiting ?? 0),
      startedRecently: Number(row?.started_recently ?? 0),
      secondsPerVideoSecond:
        row?.seconds_per_video_second === null || row?.seconds_per_video_second === undefined
          ? null
          : Number(row.seconds_per_video_second),
    };
  }

  /** Admitted renders of any tenant still waiting for a worker, admitted before `before`. */
  async admittedAhead(tenantId: string, before: Date): Promise<number> {
    const rows = await this.ctx.withTenant(
      tenantId,
      (tx) => tx.$queryRaw<{ n: number }[]>`
        SELECT likeness_render_admitted_ahead(${before}::timestamptz) AS n`,
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * The render behind a signed preview URL, whatever its tenant (a SECURITY DEFINER function,
   * migration 0005). Only for requests whose signature has been verified.
   */
  async findPreview(renderId: string): Promise<RenderPreview | null> {
    if (!isUuid(renderId)) return null;
    const rows = await this.ctx.app().$queryRaw<
      { tenant_id: string; preview_key: string | null; tenant_status: TenantStatus }[]
    >`SELECT * FROM likeness_render_preview(${renderId}::uuid)`;
    const row = rows[0];
    return row
      ? { tenantId: row.tenant_id, previewKey: row.preview_key, tenantStatus: row.tenant_status }
      : null;
  }

  /**
   * Appends an event with the next sequence (1, 2, 3 … without gaps): the counter on the render
   * row is bumped under its row lock in the same transaction, so concurrent appends queue up and
   * a rolled-back append gives its number back. DbError NOT_FOUND for an unknown render.
   */
  async appendEvent(
    tenantId: string,
    renderId: string,
    type: string,
    payload: JsonValue,
  ): Promise<RenderEvent> {
    if (!isUuid(renderId)) throw new DbError('NOT_FOUND', `render ${renderId} not found`);
    const row = await this.ctx.withTenant(tenantId, async (tx) => {
      const bumped = await tx.$queryRaw<{ event_sequence: number }[]>`
        UPDATE renders SET event_sequence = event_sequence + 1
        WHERE id = ${renderId}::uuid AND tenant_id = ${tenantId}::uuid
        RETURNING event_sequence`;
      const sequence = bumped[0]?.event_sequence;
      if (sequence === undefined) throw new DbError('NOT_FOUND', `render ${renderId} not found`);
      return tx.renderEvent.create({
        data: { tenantId, renderId, sequence, type, payload: jsonInput(payload) },
      });
    });
    return toRenderEvent(row);
  }

  /** Events after `afterSequence` (0 = from the start), in order: for resuming subscribers. */
  async listEvents(
    tenantId: string,
    renderId: string,
    afterSequence = 0,
    first = 1000,
  ): Promise<RenderEvent[]> {
    if (!isUuid(renderId)) return [];
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.renderEvent.findMany({
        where: { tenantId, renderId, sequence: { gt: afterSequence } },
        orderBy: { sequence: 'asc' },
        take: Math.max(1, Math.min(10_000, first)),
      }),
    );
    return rows.map(toRenderEvent);
  }
}

/**
 * Every column of `renders` as Prisma names it (so a raw row reads like a Prisma one): a raw
 * SELECT can lock and read a render in one statement. render.repository.spec checks that it
 * reads exactly what render.findFirst does.
 */
const RENDER_COLUMNS: Record<keyof RenderRow, string> = {
  id: 'id::text',
  tenantId: 'tenant_id::text',
  apiKeyId: 'api_key_id::text',
  avatarId: 'avatar_id::text',
  audioAssetId: 'audio_asset_id::text',
  prompt: 'prompt',
  controls: 'controls',
  seed: 'seed',
  modelPack: 'model_pack',
  modelPackVersion: 'model_pack_version',
  status: 'status::text',
  priority: 'priority',
  progress: 'progress',
  outputAssetId: 'output_asset_id::text',
  identityScore: 'identity_score',
  costCents: 'cost_cents',
  error: 'error',
  attempts: 'attempts',
  idempotencyKey: 'idempotency_key',
  inputHash: 'input_hash',
  eventSequence: 'event_sequence',
  queuedAt: 'queued_at',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  deadlineAt: 'deadline_at',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  admittedAt: 'admitted_at',
  runId: 'run_id',
  runSeq: 'run_seq',
  runAt: 'run_at',
  runs: 'runs',
  workerId: 'worker_id',
  lastEventAt: 'last_event_at',
  cancelRequestedAt: 'cancel_requested_at',
  audioSeconds: 'audio_seconds',
  frames: 'frames',
  billedSeconds: 'billed_seconds',
  quotedCents: 'quoted_cents',
};
const RENDER_SELECT_LIST = Object.entries(RENDER_COLUMNS)
  .map(([name, column]) => `${column} AS "${name}"`)
  .join(', ');

/** Locks a render row for the rest of the transaction and reads it (one statement); null when not found. */
export async function lockRender(
  tx: TenantTx,
  tenantId: string,
  renderId: string,
): Promise<Render | null> {
  const rows = await tx.$queryRawUnsafe<RenderRow[]>(
    `SELECT ${RENDER_SELECT_LIST} FROM renders WHERE id = $1::uuid AND tenant_id = $2::uuid FOR UPDATE`,
    renderId,
    tenantId,
  );
  const row = rows[0];
  return row ? toRender(row) : null;
}

/**
 * What createQueued reads in one statement, under the tenant's render lock (and `usage()`, for
 * estimates, without the lock, an avatar or an audio asset).
 */
interface CreateContext {
  /** The render created before with the same idempotency key, if any. */
  existingId: string | null;
  usage: RenderUsage;
  /** The tenant's admitted and unfinished renders. */
  tenantInFlight: number;
  /** Null: no such avatar in the tenant. Locked FOR SHARE until the commit. */
  avatar: {
    status: string;
    deleted: boolean;
    imageStorageKey: string | null;
    faceBox: JsonValue | null;
    keypoints: JsonValue | null;
    /** pgvector text ("[0.1,…]"), parsed only when the render is admitted. */
    embedding: string | null;
  } | null;
  /** The audio asset of the tenant; null when there is none with that id. */
  audio: { kind: string; probe: JsonObject; storageKey: string } | null;
  /** likeness_render_admission_load: the admitter's lock and the figures across tenants. */
  admission: { locked: boolean; waiting: boolean; inFlight: number };
}

async function readCreateContext(
  tx: TenantTx,
  tenantId: string,
  input: Partial<RenderCreateRequest>,
  monthStart: Date,
  tryAdmit: boolean,
): Promise<CreateContext> {
  const uuidOrNull = (id: string | null | undefined) => (id && isUuid(id) ? id : null);
  const apiKeyId = uuidOrNull(input.apiKeyId);
  const avatarId = uuidOrNull(input.avatarId);
  const audioId = uuidOrNull(input.audioAssetId);
  const rows = await tx.$queryRaw<
    {
      plan: string;
      tenant_status: TenantStatus;
      seconds: number;
      unfinished: number;
      in_flight: number;
      existing_id: string | null;
      key_found: boolean;
      key_cap: number | null;
      key_spent: number | null;
      avatar_status: string | null;
      avatar_deleted: boolean | null;
      image_key: string | null;
      face_box: JsonValue | null;
      keypoints: JsonValue | null;
      embedding: string | null;
      audio_key: string | null;
      audio_kind: string | null;
      audio_probe: JsonValue | null;
      admit_locked: boolean;
      admit_waiting: boolean;
      admit_in_flight: number;
    }[]
  >`
    SELECT t.plan, t.status::text AS tenant_status,
      (SELECT coalesce(sum(r.billed_seconds), 0)::float8 FROM renders r
        WHERE r.tenant_id = t.id AND r.created_at >= ${monthStart}::timestamptz) AS seconds,
      u.unfinished, u.in_flight,
      (SELECT r.id::text FROM renders r
        WHERE r.tenant_id = t.id AND r.idempotency_key = ${input.idempotencyKey ?? null}::text)
        AS existing_id,
      k.id IS NOT NULL AS key_found, k.spend_cap_cents AS key_cap,
      (SELECT coalesce(sum(coalesce(r.cost_cents, r.quoted_cents)), 0)::float8 FROM renders r
        WHERE r.tenant_id = k.tenant_id AND r.api_key_id = k.id
          AND r.created_at >= ${monthStart}::timestamptz) AS key_spent,
      av.avatar_status, av.avatar_deleted, av.image_key, av.face_box, av.keypoints, av.embedding,
      au.storage_key AS audio_key, au.kind::text AS audio_kind, au.probe AS audio_probe,
      adm.locked AS admit_locked, adm.waiting AS admit_waiting, adm.in_flight AS admit_in_flight
    FROM tenants t
    CROSS JOIN LATERAL (
      SELECT count(*)::integer AS unfinished,
        count(*) FILTER (WHERE r.admitted_at IS NOT NULL)::integer AS in_flight
      FROM renders r WHERE r.tenant_id = t.id AND r.status IN ('QUEUED', 'RUNNING', 'ENCODING')
    ) u
    LEFT JOIN api_keys k ON k.id = ${apiKeyId}::uuid AND k.tenant_id = t.id
    LEFT JOIN LATERAL (
      SELECT a.status::text AS avatar_status, a.deleted_at IS NOT NULL AS avatar_deleted,
        img.storage_key AS image_key, a.face_box, a.keypoints, e.embedding::text AS embedding
      FROM avatars a
      LEFT JOIN assets img ON img.id = a.image_asset_id
      LEFT JOIN identity_embeddings e ON e.avatar_id = a.id
      WHERE a.id = ${avatarId}::uuid AND a.tenant_id = t.id
      FOR SHARE OF a
    ) av ON true
    LEFT JOIN assets au ON au.id = ${audioId}::uuid AND au.tenant_id = t.id
    CROSS JOIN LATERAL likeness_render_admission_load(${tryAdmit}) adm
    WHERE t.id = ${tenantId}::uuid`;
  const row = rows[0];
  if (!row) throw new DbError('NOT_FOUND', `tenant ${tenantId} not found`);
  return {
    existingId: row.existing_id,
    usage: {
      plan: row.plan,
      tenantStatus: row.tenant_status,
      videoSecondsThisMonth: Number(row.seconds),
      unfinished: Number(row.unfinished),
      apiKey: row.key_found
        ? {
            spendCapCents: row.key_cap === null ? null : Number(row.key_cap),
            spentThisMonthCents: Number(row.key_spent ?? 0),
          }
        : null,
    },
    tenantInFlight: Number(row.in_flight),
    avatar:
      row.avatar_status === null
        ? null
        : {
            status: row.avatar_status,
            deleted: row.avatar_deleted === true,
            imageStorageKey: row.image_key,
            faceBox: row.face_box,
            keypoints: row.keypoints,
            embedding: row.embedding,
          },
    audio:
      row.audio_key === null || row.audio_kind === null
        ? null
        : { kind: row.audio_kind, probe: jsonObject(row.audio_probe), storageKey: row.audio_key },
    admission: {
      locked: row.admit_locked,
      waiting: row.admit_waiting,
      inFlight: Number(row.admit_in_flight),
    },
  };
}
