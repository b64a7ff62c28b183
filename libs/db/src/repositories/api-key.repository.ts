import type { DbContext, TenantTx } from '../db';
import { writeAuditEntry } from './audit-log.repository';
import { DbError, isUniqueViolation, isUuid } from '../errors';
import type { Prisma } from '../prisma';
import type { ApiKey, ApiKeyAuth, JsonObject, TenantStatus } from '../types';

type ApiKeyRow = Prisma.ApiKeyGetPayload<object>;

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    lastUsedAt: row.lastUsedAt,
    spendCapCents: row.spendCapCents,
    createdAt: row.createdAt,
  };
}

export interface CreateApiKeyInput {
  name: string;
  /** First 16 characters of the secret; see generateApiKeySecret. */
  prefix: string;
  /** sha256 hex of the secret; the secret itself is never stored. */
  secretHash: string;
  scopes: string[];
  expiresAt: Date | null;
  spendCapCents?: number | null;
}

/**
 * An audit-log entry written in the same transaction as the change it records. The repository
 * sets `action` (`api_key.create`, `api_key.revoke`, `api_key.rotate`) and `target` (the key id).
 */
export interface ApiKeyAuditInput {
  /** `user:<id>`, `api_key:<id>`, `system`. */
  actor: string;
  data?: JsonObject;
}

/** Keyset position in the listing order (newest first): the last key of the previous page. */
export interface ApiKeyCursor {
  createdAt: Date;
  id: string;
}

export interface ListApiKeysOptions {
  /** Page size, 1..500. */
  first: number;
  after?: ApiKeyCursor | null;
  /** Also list keys whose revocation time has passed (a scheduled, future one never hides a key). */
  includeRevoked?: boolean;
  now?: Date;
}

export interface ApiKeyPage {
  items: ApiKey[];
  hasNextPage: boolean;
}

export interface RotateApiKeyInput {
  /** The new key's secret material (generateApiKeySecret); name, scopes, expiry and cap are copied. */
  replacement: { prefix: string; secretHash: string };
  /** When the old key stops working; an earlier scheduled revocation is kept. */
  revokeOldAt: Date;
  now?: Date;
  audit?: ApiKeyAuditInput;
}

export interface RotatedApiKey {
  /** The old key, with its (possibly future) revokedAt. */
  previous: ApiKey;
  created: ApiKey;
}

interface AuthRow {
  api_key_id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  scopes: string[];
  expires_at: Date | null;
  revoked_at: Date | null;
  spend_cap_cents: number | null;
  tenant_name: string;
  tenant_slug: string;
  tenant_plan: string;
  tenant_status: TenantStatus;
}

async function appendAudit(
  tx: TenantTx,
  tenantId: string,
  action: string,
  keyId: string,
  audit: ApiKeyAuditInput | undefined,
): Promise<void> {
  if (!audit) return;
  await writeAuditEntry(tx, tenantId, { ...audit, action, target: keyId });
}

export class ApiKeyRepository {
  constructor(private readonly ctx: DbContext) {}

  /** With `audit`, the audit-log entry `api_key.create` is written in the same transaction. */
  async create(
    tenantId: string,
    input: CreateApiKeyInput,
    audit?: ApiKeyAuditInput,
  ): Promise<ApiKey> {
    try {
      const row = await this.ctx.withTenant(tenantId, async (tx) => {
        const created = await tx.apiKey.create({
          data: {
            tenantId,
            name: input.name,
            prefix: input.prefix,
            secretHash: input.secretHash,
            scopes: input.scopes,
            expiresAt: input.expiresAt,
            spendCapCents: input.spendCapCents ?? null,
          },
        });
        await appendAudit(tx, tenantId, 'api_key.create', created.id, audit);
        return created;
      });
      return toApiKey(row);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new DbError('CONFLICT', 'an API key with this secret already exists');
      throw error;
    }
  }

  async findById(tenantId: string, id: string): Promise<ApiKey | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.apiKey.findFirst({ where: { id, tenantId } }),
    );
    return row ? toApiKey(row) : null;
  }

  /** Newest first, revoked ones included. */
  async list(tenantId: string): Promise<ApiKey[]> {
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.apiKey.findMany({ where: { tenantId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] }),
    );
    return rows.map(toApiKey);
  }

  /** One page, newest first (createdAt, then id), after the given keyset cursor. */
  async listPage(tenantId: string, options: ListApiKeysOptions): Promise<ApiKeyPage> {
    const first = Math.max(1, Math.min(500, Math.trunc(options.first)));
    const now = options.now ?? new Date();
    const after = options.after;
    if (after && !isUuid(after.id)) return { items: [], hasNextPage: false };
    const where: Prisma.ApiKeyWhereInput = {
      tenantId,
      AND: [
        options.includeRevoked ? {} : { OR: [{ revokedAt: null }, { revokedAt: { gt: now } }] },
        after
          ? {
              OR: [
                { createdAt: { lt: after.createdAt } },
                { createdAt: after.createdAt, id: { lt: after.id } },
              ],
            }
          : {},
      ],
    };
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.apiKey.findMany({
        where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: first + 1,
      }),
    );
    return { items: rows.slice(0, first).map(toApiKey), hasNextPage: rows.length > first };
  }

  /**
   * Revokes the key at `at` (default now). Idempotent: a key already revoked at or before `at`
   * keeps its revocation time; a revocation scheduled later (rotation grace) is brought forward.
   * With `audit`, `api_key.revoke` is logged in the same transaction when something changed.
   * Null when not found (or another tenant's).
   */
  async revoke(
    tenantId: string,
    id: string,
    options: { at?: Date; audit?: ApiKeyAuditInput } = {},
  ): Promise<ApiKey | null> {
    if (!isUuid(id)) return null;
    const at = options.at ?? new Date();
    return this.ctx.withTenant(tenantId, async (tx) => {
      const { count } = await tx.apiKey.updateMany({
        where: { id, tenantId, OR: [{ revokedAt: null }, { revokedAt: { gt: at } }] },
        data: { revokedAt: at },
      });
      if (count > 0) await appendAudit(tx, tenantId, 'api_key.revoke', id, options.audit);
      const row = await tx.apiKey.findFirst({ where: { id, tenantId } });
      return row ? toApiKey(row) : null;
    });
  }

  /**
   * Replaces a key: a new key with the same name, scopes, expiry and spend cap, and the old one
   * revoked at `revokeOldAt` (kept if already scheduled earlier), in one transaction that locks
   * the old row. Null when not found; DbError CONFLICT when the old key is already revoked or
   * expired at `now`.
   */
  async rotate(
    tenantId: string,
    id: string,
    input: RotateApiKeyInput,
  ): Promise<RotatedApiKey | null> {
    if (!isUuid(id)) return null;
    const now = input.now ?? new Date();
    try {
      return await this.ctx.withTenant(tenantId, async (tx) => {
        const locked = await tx.$queryRaw<{ id: string }[]>`
          SELECT id FROM api_keys WHERE id = ${id}::uuid AND tenant_id = ${tenantId}::uuid FOR UPDATE`;
        if (locked.length === 0) return null;
        const old = await tx.apiKey.findFirstOrThrow({ where: { id, tenantId } });
        if (old.revokedAt && old.revokedAt <= now)
          throw new DbError('CONFLICT', 'the API key is revoked');
        if (old.expiresAt && old.expiresAt <= now)
          throw new DbError('CONFLICT', 'the API key has expired');
        const created = await tx.apiKey.create({
          data: {
            tenantId,
            name: old.name,
            prefix: input.replacement.prefix,
            secretHash: input.replacement.secretHash,
            scopes: old.scopes,
            expiresAt: old.expiresAt,
            spendCapCents: old.spendCapCents,
          },
        });
        const revokeAt =
          old.revokedAt && old.revokedAt < input.revokeOldAt ? old.revokedAt : input.revokeOldAt;
        const previous = await tx.apiKey.update({
          where: { id: old.id },
          data: { revokedAt: revokeAt },
        });
        if (input.audit) {
          await appendAudit(tx, tenantId, 'api_key.rotate', id, {
            actor: input.audit.actor,
            data: { ...input.audit.data, newApiKeyId: created.id },
          });
        }
        return { previous: toApiKey(previous), created: toApiKey(created) };
      });
    } catch (error) {
      if (isUniqueViolation(error))
        throw new DbError('CONFLICT', 'an API key with this secret already exists');
      throw error;
    }
  }

  /**
   * Before the tenant is known: the SECURITY DEFINER function looks the key up by hash. Null when
   * unknown; expiry, revocation and tenant status are returned for the caller to judge.
   */
  async authenticate(secretHash: string): Promise<ApiKeyAuth | null> {
    const rows = await this.ctx.app().$queryRaw<
      AuthRow[]
    >`SELECT * FROM likeness_authenticate_api_key(${secretHash})`;
    const row = rows[0];
    if (!row) return null;
    return {
      apiKeyId: row.api_key_id,
      tenantId: row.tenant_id,
      name: row.name,
      prefix: row.prefix,
      scopes: row.scopes,
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
      spendCapCents: row.spend_cap_cents,
      tenant: {
        id: row.tenant_id,
        name: row.tenant_name,
        slug: row.tenant_slug,
        plan: row.tenant_plan,
        status: row.tenant_status,
      },
    };
  }

  /**
   * Batched by the caller (e.g. at most once per key per minute); unknown or foreign ids are
   * ignored, and a later lastUsedAt already stored (another replica's) is never moved back.
   */
  async touchLastUsed(tenantId: string, ids: string[], at: Date = new Date()): Promise<number> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return 0;
    const { count } = await this.ctx.withTenant(tenantId, (tx) =>
      tx.apiKey.updateMany({
        where: {
          tenantId,
          id: { in: valid },
          OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: at } }],
        },
        data: { lastUsedAt: at },
      }),
    );
    return count;
  }
}
