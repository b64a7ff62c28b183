import type { DbContext, TenantTx } from '../db';
import { DbError, isUuid, sqlState } from '../errors';
import { Prisma } from '../prisma';
import type {
  Avatar,
  AvatarSimilarity,
  AvatarStatus,
  JsonObject,
  JsonValue,
  ListOptions,
} from '../types';
import { hasPrismaCode } from './asset.repository';
import { writeAuditEntry } from './audit-log.repository';
import { json, jsonInput, nullableJsonInput, page } from './mappers';

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
    failureMessage: row.failureMessage,
    failureFaces: row.failureFaces === null ? null : json(row.failureFaces),
    consentAttestation: row.consentAttestation,
    consentAt: row.consentAt,
    modelPack: row.modelPack,
    previewAssetId: row.previewAssetId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    deletedAt: row.deletedAt,
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

/**
 * Who created the avatar, for the consent record written in the avatar's transaction (action
 * `avatar.create`: the attestation, when, and the sha256 of the photo it covers).
 */
export interface AvatarAuditInput {
  /** `user:<id>`, `api_key:<id>`. */
  actor: string;
  /** Added to the entry's data (e.g. the request id, the key's prefix). */
  data?: JsonObject;
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

/** A successful preparation: the face, the preview image the worker stored, the embedding. */
export interface AvatarPreparedInput {
  faceBox: JsonValue;
  keypoints: JsonValue;
  /** Becomes an IMAGE asset of the tenant; `storageKey` must lie under `tenants/<tenantId>/`. */
  preview: { mime: string; bytes: number; sha256: string; storageKey: string; probe: JsonObject };
  embedding: { model: string; vector: number[] };
}

export interface AvatarFailedInput {
  reason: string;
  message: string;
  faces?: JsonValue | null;
}

/**
 * How a terminal preparation event was taken: `applied` when it moved the avatar out of
 * PROCESSING (the first terminal event wins), else the avatar as it is (null when it does not
 * exist, or was deleted).
 */
export type AvatarTransition =
  { applied: true; avatar: Avatar } | { applied: false; avatar: Avatar | null };

export interface AvatarTransitionOptions {
  /** Runs inside the transaction after the change (webhook outbox rows), only when applied. */
  inTransaction?: (tx: TenantTx, avatar: Avatar) => Promise<void>;
}

/** What deleting removed, for the caller to delete the stored objects after the commit. */
export interface DeletedAvatar {
  /** Storage key of the preview image whose asset row was deleted, if any. */
  previewStorageKey: string | null;
  /** True when finished renders still reference the avatar: it stays as a hidden tombstone. */
  tombstone: boolean;
}

/** Render statuses during which the avatar's photo and face data are still needed. */
const ACTIVE_RENDER_STATUSES = ['QUEUED', 'RUNNING', 'ENCODING'] as const;

/** Embedding dimensions with an HNSW expression index in the migrations (0001: 512, 0006: 128). */
const INDEXED_DIMS: ReadonlySet<number> = new Set([128, 512]);

/** The avatar, row-locked for the rest of the transaction; null if absent or deleted. */
async function lockAvatar(tx: TenantTx, tenantId: string, id: string): Promise<AvatarRow | null> {
  const locked = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM avatars
    WHERE id = ${id}::uuid AND tenant_id = ${tenantId}::uuid AND deleted_at IS NULL
    FOR UPDATE`;
  if (locked.length === 0) return null;
  return tx.avatar.findFirst({ where: { id, tenantId } });
}

export class AvatarRepository {
  constructor(private readonly ctx: DbContext) {}

  /**
   * The image asset must belong to the same tenant (foreign keys alone would not check that):
   * DbError INVALID_REFERENCE when it does not, INVALID_INPUT when it is not an IMAGE. With
   * `audit`, the consent record is written in the same transaction.
   */
  async create(
    tenantId: string,
    input: CreateAvatarInput,
    audit?: AvatarAuditInput,
  ): Promise<Avatar> {
    try {
      const row = await this.ctx.withTenant(tenantId, async (tx) => {
        const image = isUuid(input.imageAssetId)
          ? await tx.asset.findFirst({
              where: { id: input.imageAssetId, tenantId },
              select: { id: true, kind: true, sha256: true },
            })
          : null;
        if (!image) {
          throw new DbError('INVALID_REFERENCE', `image asset ${input.imageAssetId} not found`);
        }
        if (image.kind !== 'IMAGE') {
          throw new DbError(
            'INVALID_INPUT',
            `asset ${input.imageAssetId} is ${image.kind.toLowerCase()}, not an image`,
          );
        }
        const created = await tx.avatar.create({
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
        if (audit) {
          await writeAuditEntry(tx, tenantId, {
            actor: audit.actor,
            action: 'avatar.create',
            target: created.id,
            data: {
              ...audit.data,
              name: input.name,
              imageAssetId: image.id,
              imageSha256: image.sha256,
              faceIndex: input.faceIndex ?? null,
              modelPack: input.modelPack,
              consent: {
                attestation: input.consentAttestation,
                at: input.consentAt.toISOString(),
              },
            },
          });
        }
        return created;
      });
      return toAvatar(row);
    } catch (error) {
      // The asset was deleted between the check and the insert.
      if (sqlState(error) === '23503' || hasPrismaCode(error, 'P2003')) {
        throw new DbError('INVALID_REFERENCE', `image asset ${input.imageAssetId} not found`);
      }
      throw error;
    }
  }

  /** Null for unknown, foreign and deleted avatars. */
  async findById(tenantId: string, id: string): Promise<Avatar | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.avatar.findFirst({ where: { id, tenantId, deletedAt: null } }),
    );
    return row ? toAvatar(row) : null;
  }

  /** Also a deleted avatar's tombstone (what a finished render shows as its avatar). */
  async findByIdIncludingDeleted(tenantId: string, id: string): Promise<Avatar | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.avatar.findFirst({ where: { id, tenantId } }),
    );
    return row ? toAvatar(row) : null;
  }

  /** Several at once (deleted ones left out), in no particular order. */
  async findByIds(tenantId: string, ids: readonly string[]): Promise<Avatar[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return [];
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.avatar.findMany({ where: { id: { in: valid }, tenantId, deletedAt: null } }),
    );
    return rows.map(toAvatar);
  }

  /** Newest first; deleted avatars are left out. */
  async list(
    tenantId: string,
    options?: ListOptions & { status?: AvatarStatus },
  ): Promise<Avatar[]> {
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.avatar.findMany({
        where: {
          tenantId,
          deletedAt: null,
          ...(options?.status ? { status: options.status } : {}),
        },
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
      if (patch.previewAssetId) {
        const preview = isUuid(patch.previewAssetId)
          ? await tx.asset.findFirst({
              where: { id: patch.previewAssetId, tenantId },
              select: { id: true },
            })
          : null;
        if (!preview) {
          throw new DbError('INVALID_REFERENCE', `preview asset ${patch.previewAssetId} not found`);
        }
      }
      const data: Prisma.AvatarUncheckedUpdateManyInput = {
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.status !== undefined ? { status: patch.status } : {}),
        ...(patch.failureReason !== undefined ? { failureReason: patch.failureReason } : {}),
        ...(patch.faceBox !== undefined ? { faceBox: nullableJsonInput(patch.faceBox) } : {}),
        ...(patch.keypoints !== undefined ? { keypoints: nullableJsonInput(patch.keypoints) } : {}),
        ...(patch.previewAssetId !== undefined ? { previewAssetId: patch.previewAssetId } : {}),
        updatedAt: new Date(),
      };
      const { count } = await tx.avatar.updateMany({
        where: { id, tenantId, deletedAt: null },
        data,
      });
      if (count === 0) return null;
      const row = await tx.avatar.findFirst({ where: { id, tenantId } });
      return row ? toAvatar(row) : null;
    });
  }

  /**
   * PROCESSING → READY in one transaction: the preview becomes an IMAGE asset, the embedding is
   * stored, the face recorded. Only a PROCESSING avatar changes (the row is locked first, so two
   * replicas handling two terminal events of one avatar take turns and the first wins);
   * anything else is `applied: false` and writes nothing.
   */
  async markPrepared(
    tenantId: string,
    avatarId: string,
    input: AvatarPreparedInput,
    options: AvatarTransitionOptions = {},
  ): Promise<AvatarTransition> {
    if (!isUuid(avatarId)) return { applied: false, avatar: null };
    const { vector } = input.embedding;
    if (vector.length === 0 || !vector.every((v) => Number.isFinite(v))) {
      throw new DbError('INVALID_INPUT', 'embedding must be a non-empty vector of finite numbers');
    }
    if (!input.preview.storageKey.startsWith(`tenants/${tenantId}/`)) {
      throw new DbError(
        'INVALID_INPUT',
        `preview key ${input.preview.storageKey} is not the tenant's`,
      );
    }
    return this.ctx.withTenant(tenantId, async (tx): Promise<AvatarTransition> => {
      const current = await lockAvatar(tx, tenantId, avatarId);
      if (!current) return { applied: false, avatar: null };
      if (current.status !== 'PROCESSING') return { applied: false, avatar: toAvatar(current) };
      const preview = await tx.asset.create({
        data: {
          tenantId,
          kind: 'IMAGE',
          mime: input.preview.mime,
          bytes: BigInt(input.preview.bytes),
          sha256: input.preview.sha256,
          storageKey: input.preview.storageKey,
          probe: jsonInput(input.preview.probe),
        },
        select: { id: true },
      });
      await upsertEmbedding(tx, tenantId, avatarId, input.embedding);
      const row = await tx.avatar.update({
        where: { id: avatarId },
        data: {
          status: 'READY',
          faceBox: jsonInput(input.faceBox),
          keypoints: jsonInput(input.keypoints),
          previewAssetId: preview.id,
          failureReason: null,
          failureMessage: null,
          failureFaces: Prisma.DbNull,
          updatedAt: new Date(),
        },
      });
      const avatar = toAvatar(row);
      await options.inTransaction?.(tx, avatar);
      return { applied: true, avatar };
    });
  }

  /** PROCESSING → FAILED with the reason; like markPrepared, only a PROCESSING avatar changes. */
  async markFailed(
    tenantId: string,
    avatarId: string,
    input: AvatarFailedInput,
    options: AvatarTransitionOptions = {},
  ): Promise<AvatarTransition> {
    if (!isUuid(avatarId)) return { applied: false, avatar: null };
    return this.ctx.withTenant(tenantId, async (tx): Promise<AvatarTransition> => {
      const current = await lockAvatar(tx, tenantId, avatarId);
      if (!current) return { applied: false, avatar: null };
      if (current.status !== 'PROCESSING') return { applied: false, avatar: toAvatar(current) };
      const row = await tx.avatar.update({
        where: { id: avatarId },
        data: {
          status: 'FAILED',
          failureReason: input.reason,
          failureMessage: input.message,
          failureFaces: nullableJsonInput(input.faces ?? null),
          updatedAt: new Date(),
        },
      });
      const avatar = toAvatar(row);
      await options.inTransaction?.(tx, avatar);
      return { applied: true, avatar };
    });
  }

  /**
   * Deletes the avatar, its identity embedding and its preview's asset row (unless something
   * else uses that image). DbError CONFLICT while renders that use the avatar are QUEUED,
   * RUNNING or ENCODING. When finished renders still reference it, the row stays as a tombstone
   * (deletedAt, no face data, no preview) hidden from every avatar query. Null when not found.
   * The caller deletes the preview object after the commit.
   */
  async delete(
    tenantId: string,
    id: string,
    audit?: AvatarAuditInput,
  ): Promise<DeletedAvatar | null> {
    if (!isUuid(id)) return null;
    return this.ctx.withTenant(tenantId, async (tx): Promise<DeletedAvatar | null> => {
      const avatar = await lockAvatar(tx, tenantId, id);
      if (!avatar) return null;
      const active = await tx.render.count({
        where: { tenantId, avatarId: id, status: { in: [...ACTIVE_RENDER_STATUSES] } },
      });
      if (active > 0) {
        throw new DbError(
          'CONFLICT',
          `avatar ${id} is used by ${active} render${active === 1 ? '' : 's'} not yet finished`,
        );
      }
      const embeddings = await tx.identityEmbedding.deleteMany({
        where: { tenantId, avatarId: id },
      });
      let previewStorageKey: string | null = null;
      if (avatar.previewAssetId !== null) {
        const preview = await tx.asset.findFirst({
          where: { id: avatar.previewAssetId, tenantId },
          select: { storageKey: true },
        });
        const { count } = await tx.asset.deleteMany({
          where: {
            id: avatar.previewAssetId,
            tenantId,
            avatarImages: { none: {} },
            renderAudio: { none: {} },
            renderOutputs: { none: {} },
          },
        });
        if (count > 0 && preview) previewStorageKey = preview.storageKey;
      }
      const renders = await tx.render.count({ where: { tenantId, avatarId: id } });
      if (renders > 0) {
        await tx.avatar.update({
          where: { id },
          data: {
            deletedAt: new Date(),
            faceBox: Prisma.DbNull,
            keypoints: Prisma.DbNull,
            failureFaces: Prisma.DbNull,
            previewAssetId: null,
            updatedAt: new Date(),
          },
        });
      } else {
        await tx.avatar.delete({ where: { id } });
      }
      if (audit) {
        await writeAuditEntry(tx, tenantId, {
          actor: audit.actor,
          action: 'avatar.delete',
          target: id,
          data: {
            ...audit.data,
            previewAssetId: avatar.previewAssetId,
            previewDeleted: previewStorageKey !== null,
            embeddingDeleted: embeddings.count > 0,
            tombstone: renders > 0,
          },
        });
      }
      return { previewStorageKey, tombstone: renders > 0 };
    });
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
        ? await tx.avatar.findFirst({
            where: { id: avatarId, tenantId, deletedAt: null },
            select: { id: true },
          })
        : null;
      if (!avatar) throw new DbError('NOT_FOUND', `avatar ${avatarId} not found`);
      await upsertEmbedding(tx, tenantId, avatarId, input);
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

  /** Model and dimension of the avatars' embeddings (avatars without one are absent). */
  async embeddingInfo(
    tenantId: string,
    avatarIds: readonly string[],
  ): Promise<Map<string, { model: string; dim: number }>> {
    const ids = avatarIds.filter(isUuid);
    if (ids.length === 0) return new Map();
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.identityEmbedding.findMany({
        where: { tenantId, avatarId: { in: ids } },
        select: { avatarId: true, model: true, dim: true },
      }),
    );
    return new Map(rows.map((r) => [r.avatarId, { model: r.model, dim: r.dim }]));
  }

  /**
   * The tenant's `first` avatars most similar to `avatarId` (cosine similarity of identity
   * embeddings of the same model and dimension), best first, the avatar itself excluded.
   * Empty when the avatar has no embedding. For indexed dimensions the ORDER BY is the HNSW
   * index's expression, and the scan is iterative so that the tenant filter cannot starve it.
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
      // HNSW returns about ef_search candidates before the WHERE filters them (other tenants'
      // rows, other models): pgvector 0.8's iterative scan keeps going until LIMIT rows passed.
      await tx.$executeRawUnsafe(`SET LOCAL hnsw.iterative_scan = strict_order`);
      const rows = await tx.$queryRaw<{ avatar_id: string; distance: number }[]>(
        similarQuery(tenantId, avatarId, target, limit),
      );
      return rows.map((r) => ({ avatarId: r.avatar_id, similarity: 1 - Number(r.distance) }));
    });
  }

  /**
   * Across tenants (the sweeper): PROCESSING avatars unchanged since `cutoff`, oldest first, at
   * most `limit` (≤ 1000), through the SECURITY DEFINER function of migration 0006.
   */
  async staleProcessing(
    cutoff: Date,
    limit: number,
  ): Promise<{ avatarId: string; tenantId: string }[]> {
    const rows = await this.ctx.app().$queryRaw<{ avatar_id: string; tenant_id: string }[]>`
      SELECT * FROM likeness_stale_processing_avatars(${cutoff}::timestamptz, ${Math.trunc(limit)}::int)`;
    return rows.map((r) => ({ avatarId: r.avatar_id, tenantId: r.tenant_id }));
  }
}

async function upsertEmbedding(
  tx: TenantTx,
  tenantId: string,
  avatarId: string,
  input: { model: string; vector: number[] },
): Promise<void> {
  const literal = `[${input.vector.join(',')}]`;
  await tx.$executeRaw`
    INSERT INTO identity_embeddings (tenant_id, avatar_id, model, dim, embedding)
    VALUES (${tenantId}::uuid, ${avatarId}::uuid, ${input.model}, ${input.vector.length}, ${literal}::vector)
    ON CONFLICT (avatar_id) DO UPDATE
      SET model = EXCLUDED.model, dim = EXCLUDED.dim, embedding = EXCLUDED.embedding, created_at = now()`;
}

/**
 * The nearest-neighbour query of `similar`. The HNSW indexes are partial (`WHERE dim = <n>`) on
 * `embedding::vector(<n>)`: the same expression and a literal dimension let the planner use
 * them. Exported for the test that EXPLAINs it.
 */
export function similarQuery(
  tenantId: string,
  avatarId: string,
  target: { model: string; dim: number; embedding: string },
  limit: number,
): Prisma.Sql {
  const dim = Math.trunc(target.dim);
  const cast = INDEXED_DIMS.has(dim) ? Prisma.raw(`::vector(${dim})`) : Prisma.raw('::vector');
  return Prisma.sql`
    SELECT avatar_id, (embedding${cast} <=> ${target.embedding}${cast})::float8 AS distance
    FROM identity_embeddings
    WHERE tenant_id = ${tenantId}::uuid AND model = ${target.model} AND dim = ${Prisma.raw(String(dim))}
      AND avatar_id <> ${avatarId}::uuid
    ORDER BY embedding${cast} <=> ${target.embedding}${cast}
    LIMIT ${limit}`;
}
