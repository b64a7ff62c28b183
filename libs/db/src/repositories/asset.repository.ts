import type { DbContext } from '../db';
import { DbError, isUuid, sqlState } from '../errors';
import type { Prisma } from '../prisma';
import type { Asset, AssetKind, JsonObject, ListOptions, TenantStatus } from '../types';
import { jsonInput, jsonObject, page } from './mappers';

type AssetRow = Prisma.AssetGetPayload<object>;

function toAsset(row: AssetRow): Asset {
  return {
    id: row.id,
    tenantId: row.tenantId,
    kind: row.kind,
    mime: row.mime,
    bytes: Number(row.bytes),
    sha256: row.sha256,
    storageKey: row.storageKey,
    probe: jsonObject(row.probe),
    createdAt: row.createdAt,
  };
}

export interface CreateAssetInput {
  /**
   * The id to use (a uuid). Callers that store the object before the row exists (uploads: the
   * storage key contains the id) choose it; otherwise Postgres generates one.
   */
  id?: string;
  kind: AssetKind;
  mime: string;
  bytes: number;
  sha256: string;
  storageKey: string;
  probe?: JsonObject;
}

/** What serving a signed download needs, found by asset id alone (see `findForDownload`). */
export interface AssetDownload {
  id: string;
  tenantId: string;
  mime: string;
  bytes: number;
  storageKey: string;
  tenantStatus: TenantStatus;
}

interface DownloadRow {
  tenant_id: string;
  mime: string;
  bytes: bigint;
  storage_key: string;
  tenant_status: TenantStatus;
}

export class AssetRepository {
  constructor(private readonly ctx: DbContext) {}

  async create(tenantId: string, input: CreateAssetInput): Promise<Asset> {
    if (!Number.isSafeInteger(input.bytes) || input.bytes < 0) {
      throw new DbError(
        'INVALID_INPUT',
        `asset bytes must be a non-negative integer: ${input.bytes}`,
      );
    }
    if (input.id !== undefined && !isUuid(input.id)) {
      throw new DbError('INVALID_INPUT', `asset id is not a uuid: ${input.id}`);
    }
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.asset.create({
        data: {
          ...(input.id !== undefined ? { id: input.id } : {}),
          tenantId,
          kind: input.kind,
          mime: input.mime,
          bytes: BigInt(input.bytes),
          sha256: input.sha256,
          storageKey: input.storageKey,
          probe: jsonInput(input.probe ?? {}),
        },
      }),
    );
    return toAsset(row);
  }

  async findById(tenantId: string, id: string): Promise<Asset | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.asset.findFirst({ where: { id, tenantId } }),
    );
    return row ? toAsset(row) : null;
  }

  /**
   * The asset behind a signed download URL, whatever its tenant: the one lookup that does not
   * take a tenant id (a SECURITY DEFINER function, migration 0003). Only for requests whose
   * URL signature has already been verified. Null when there is no such asset.
   */
  async findForDownload(id: string): Promise<AssetDownload | null> {
    if (!isUuid(id)) return null;
    const rows = await this.ctx.app().$queryRaw<
      DownloadRow[]
    >`SELECT * FROM likeness_asset_for_download(${id}::uuid)`;
    const row = rows[0];
    if (!row) return null;
    return {
      id,
      tenantId: row.tenant_id,
      mime: row.mime,
      bytes: Number(row.bytes),
      storageKey: row.storage_key,
      tenantStatus: row.tenant_status,
    };
  }

  /** Newest first. */
  async list(tenantId: string, options?: ListOptions & { kind?: AssetKind }): Promise<Asset[]> {
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.asset.findMany({
        where: { tenantId, ...(options?.kind ? { kind: options.kind } : {}) },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        ...page(options),
      }),
    );
    return rows.map(toAsset);
  }

  /** False when not found; DbError CONFLICT while an avatar or render still uses the asset. */
  async delete(tenantId: string, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    try {
      const { count } = await this.ctx.withTenant(tenantId, (tx) =>
        tx.asset.deleteMany({ where: { id, tenantId } }),
      );
      return count > 0;
    } catch (error) {
      if (sqlState(error) === '23503' || hasPrismaCode(error, 'P2003')) {
        throw new DbError('CONFLICT', `asset ${id} is still referenced`);
      }
      throw error;
    }
  }
}

export function hasPrismaCode(error: unknown, code: string): boolean {
  return error !== null && typeof error === 'object' && (error as { code?: unknown }).code === code;
}
