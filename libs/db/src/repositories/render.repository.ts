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
} from '../types';
import { json, jsonInput, jsonObject, nullableJsonInput, page } from './mappers';

type RenderRow = Prisma.RenderGetPayload<object>;
type RenderEventRow = Prisma.RenderEventGetPayload<object>;

function toRender(row: RenderRow): Render {
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
  };
}

function toRenderEvent(row: RenderEventRow): RenderEvent {
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
      const data: Prisma.RenderUncheckedUpdateManyInput = {
        ...(patch.status !== undefined ? { status: patch.status } : {}),
        ...(patch.progress !== undefined ? { progress: nullableJsonInput(patch.progress) } : {}),
        ...(patch.outputAssetId !== undefined ? { outputAssetId: patch.outputAssetId } : {}),
        ...(patch.identityScore !== undefined ? { identityScore: patch.identityScore } : {}),
        ...(patch.costCents !== undefined ? { costCents: patch.costCents } : {}),
        ...(patch.error !== undefined ? { error: nullableJsonInput(patch.error) } : {}),
        ...(patch.attempts !== undefined ? { attempts: patch.attempts } : {}),
        ...(patch.startedAt !== undefined ? { startedAt: patch.startedAt } : {}),
        ...(patch.finishedAt !== undefined ? { finishedAt: patch.finishedAt } : {}),
        ...(patch.deadlineAt !== undefined ? { deadlineAt: patch.deadlineAt } : {}),
        updatedAt: new Date(),
      };
      const { count } = await tx.render.updateMany({ where: { id, tenantId }, data });
      if (count === 0) return null;
      const row = await tx.render.findFirst({ where: { id, tenantId } });
      return row ? toRender(row) : null;
    });
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
