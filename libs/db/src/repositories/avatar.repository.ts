import type { DbContext, TenantTx } from '../db';
import { DbError, isUuid, sqlState } from '../errors';
import { Prisma } from '../prisma';
import type { Avatar, AvatarSimilarity, AvatarStatus, JsonValue, ListOptions } from '../types';
import { hasPrismaCode } from './asset.repository';
import { json, nullableJsonInput, page } from './mappers';

type AvatarRow = Prisma.AvatarGetPayload<object>;

function toAvatar(row: AvatarRow): Avatar {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    imageAssetId: row.imageAssetId,
    faceIndex: row.faceIndex,
    faceBox: row.faceBox === null ? null : json(row.faceBox),
    keypoints: row.keypoints === null ? null : json(row.keypoints),
    status: row.status,
    failureReason: row.failureReason,
    consentAttestation: row.consentAttestation,
    consentAt: row.consentAt,
    modelPack: row.modelPack,
    previewAssetId: row.previewAssetId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export interface CreateAvatarInput {
  name: string;
  imageAssetId: string;
  faceIndex?: number | null;
  consentAttestation: string;
  consentAt: Date;
  modelPack: string;
}

/** What avatar preparation writes back. */
export interface UpdateAvatarInput {
  name?: string;
  status?: AvatarStatus;
  failureReason?: string | null;
  faceBox?: JsonValue | null;
  keypoints?: JsonValue | null;
  previewAssetId?: string | null;
}

/** Embedding dimensions with an HNSW expression index in the migrations (see 0001_init). */
const INDEXED_DIMS: ReadonlySet<number> = new Set([512]);

async function requireAsset(
  tx: TenantTx,
  tenantId: string,
  assetId: string,
  what: string,
): Promise<void> {
  const found = isUuid(assetId)
    ? await tx.asset.findFirst({ where: { id: assetId, tenantId }, select: { id: true } })
    : null;
  if (!found) throw new DbError('INVALID_REFERENCE', `${what} ${assetId} not found`);
}

export class AvatarRepository {
  constructor(private readonly ctx: DbContext) {}

  /** The image asset must belong to the same tenant (foreign keys alone would not check that). */
  async create(tenantId: string, input: CreateAvatarInput): Promise<Avatar> {
    const row = await this.ctx.withTenant(tenantId, async (tx) => {
      await requireAsset(tx, tenantId, input.imageAssetId, 'image asset');
      return tx.avatar.create({
        data: {
          tenantId,
          name: input.name,
          imageAssetId: input.imageAssetId,
          faceIndex: input.faceIndex ?? null,
          consentAttestation: input.consentAttestation,
          consentAt: input.consentAt,
          modelPack: input.modelPack,
        },
      });
    });
    return toAvatar(row);
  }

  async findById(tenantId: string, id: string): Promise<Avatar | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.avatar.findFirst({ where: { id, tenantId } }),
    );
    return row ? toAvatar(row) : null;
  }

  /** Newest first. */
  async list(
    tenantId: string,
    options?: ListOptions & { status?: AvatarStatus },
  ): Promise<Avatar[]> {
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.avatar.findMany({
        where: { tenantId, ...(options?.status ? { status: options.status } : {}) },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        ...page(options),
      }),
    );
    return rows.map(toAvatar);
  }

  /** Null when not found. */
  async update(tenantId: string, id: string, patch: UpdateAvatarInput): Promise<Avatar | null> {
    if (!isUuid(id)) return null;
    return this.ctx.withTenant(tenantId, async (tx) => {
      if (patch.previewAssetId)
        await requireAsset(tx, tenantId, patch.previewAssetId, 'preview asset');
      const data: Prisma.AvatarUncheckedUpdateManyInput = {
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.status !== undefined ? { status: patch.status } : {}),
        ...(patch.failureReason !== undefined ? { failureReason: patch.failureReason } : {}),
        ...(patch.faceBox !== undefined ? { faceBox: nullableJsonInput(patch.faceBox) } : {}),
        ...(patch.keypoints !== undefined ? { keypoints: nullableJsonInput(patch.keypoints) } : {}),
        ...(patch.previewAssetId !== undefined ? { previewAssetId: patch.previewAssetId } : {}),
        updatedAt: new Date(),
      };
      const { count } = await tx.avatar.updateMany({ where: { id, tenantId }, data });
      if (count === 0) return null;
      const row = await tx.avatar.findFirst({ where: { id, tenantId } });
      return row ? toAvatar(row) : null;
    });
  }

  /** False when not found; DbError CONFLICT while renders still reference it. */
  async delete(tenantId: string, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    try {
      const { count } = await this.ctx.withTenant(tenantId, (tx) =>
        tx.avatar.deleteMany({ where: { id, tenantId } }),
      );
      return count > 0;
    } catch (error) {
      if (sqlState(error) === '23503' || hasPrismaCode(error, 'P2003')) {
        throw new DbError('CONFLICT', `avatar ${id} is still referenced by renders`);
      }
      throw error;
    }
  }

  /** Stores (or replaces) the avatar's identity embedding. DbError NOT_FOUND for an unknown avatar. */
  async setEmbedding(
    tenantId: string,
    avatarId: string,
    input: { model: string; vector: number[] },
  ): Promise<void> {
    const { vector } = input;
    if (vector.length === 0 || !vector.every((v) => Number.isFinite(v))) {
      throw new DbError('INVALID_INPUT', 'embedding must be a non-empty vector of finite numbers');
    }
    await this.ctx.withTenant(tenantId, async (tx) => {
      const avatar = isUuid(avatarId)
        ? await tx.avatar.findFirst({ where: { id: avatarId, tenantId }, select: { id: true } })
        : null;
      if (!avatar) throw new DbError('NOT_FOUND', `avatar ${avatarId} not found`);
      const literal = `[${vector.join(',')}]`;
      await tx.$executeRaw`
        INSERT INTO identity_embeddings (tenant_id, avatar_id, model, dim, embedding)
        VALUES (${tenantId}::uuid, ${avatarId}::uuid, ${input.model}, ${vector.length}, ${literal}::vector)
        ON CONFLICT (avatar_id) DO UPDATE
          SET model = EXCLUDED.model, dim = EXCLUDED.dim, embedding = EXCLUDED.embedding, created_at = now()`;
    });
  }

  /** The stored embedding, or null. */
  async getEmbedding(
    tenantId: string,
    avatarId: string,
  ): Promise<{ model: string; vector: number[] } | null> {
    if (!isUuid(avatarId)) return null;
    const rows = await this.ctx.withTenant(
      tenantId,
      (tx) => tx.$queryRaw<{ model: string; embedding: string }[]>`
        SELECT model, embedding::text AS embedding FROM identity_embeddings
        WHERE avatar_id = ${avatarId}::uuid AND tenant_id = ${tenantId}::uuid`,
    );
    const row = rows[0];
    return row ? { model: row.model, vector: JSON.parse(row.embedding) as number[] } : null;
  }

  /**
   * The tenant's `first` avatars most similar to `avatarId` (cosine similarity of identity
   * embeddings of the same model and dimension), best first, the avatar itself excluded.
   * Empty when the avatar has no embedding.
   */
  async similar(tenantId: string, avatarId: string, first: number): Promise<AvatarSimilarity[]> {
    if (!isUuid(avatarId)) return [];
    const limit = Math.max(1, Math.min(100, Math.floor(first)));
    return this.ctx.withTenant(tenantId, async (tx) => {
      const targets = await tx.$queryRaw<{ model: string; dim: number; embedding: string }[]>`
        SELECT model, dim, embedding::text AS embedding FROM identity_embeddings
        WHERE avatar_id = ${avatarId}::uuid AND tenant_id = ${tenantId}::uuid`;
      const target = targets[0];
      if (!target) return [];
      // The HNSW index is partial (`WHERE dim = <n>`) on `embedding::vector(<n>)`: use the same
      // expression and a literal dimension so the planner can use it.
      const cast = INDEXED_DIMS.has(target.dim)
        ? Prisma.raw(`::vector(${target.dim})`)
        : Prisma.raw('::vector');
      const rows = await tx.$queryRaw<{ avatar_id: string; distance: number }[]>`
        SELECT avatar_id, (embedding${cast} <=> ${target.embedding}${cast})::float8 AS distance
        FROM identity_embeddings
        WHERE tenant_id = ${tenantId}::uuid AND model = ${target.model} AND dim = ${Prisma.raw(String(Math.trunc(target.dim)))}
          AND avatar_id <> ${avatarId}::uuid
        ORDER BY embedding${cast} <=> ${target.embedding}${cast}
        LIMIT ${limit}`;
      return rows.map((r) => ({ avatarId: r.avatar_id, similarity: 1 - Number(r.distance) }));
    });
  }
}
