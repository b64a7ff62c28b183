import type { DbContext } from '../db';
import { DbError, isUniqueViolation, isUuid } from '../errors';
import type { Prisma } from '../prisma';
import type { ApiKey, ApiKeyAuth, TenantStatus } from '../types';

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

export class ApiKeyRepository {
  constructor(private readonly ctx: DbContext) {}

  async create(tenantId: string, input: CreateApiKeyInput): Promise<ApiKey> {
    try {
      const row = await this.ctx.withTenant(tenantId, (tx) =>
        tx.apiKey.create({
          data: {
            tenantId,
            name: input.name,
            prefix: input.prefix,
            secretHash: input.secretHash,
            scopes: input.scopes,
            expiresAt: input.expiresAt,
            spendCapCents: input.spendCapCents ?? null,
          },
        }),
      );
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

  /** Idempotent: revoking a revoked key keeps the first revocation time. Null when not found. */
  async revoke(tenantId: string, id: string): Promise<ApiKey | null> {
    if (!isUuid(id)) return null;
    return this.ctx.withTenant(tenantId, async (tx) => {
      await tx.apiKey.updateMany({
        where: { id, tenantId, revokedAt: null },
        data: { revokedAt: new Date() },
      });
      const row = await tx.apiKey.findFirst({ where: { id, tenantId } });
      return row ? toApiKey(row) : null;
    });
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

  /** Batched by the caller (e.g. once a minute); unknown or foreign ids are ignored. */
  async touchLastUsed(tenantId: string, ids: string[], at: Date = new Date()): Promise<number> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return 0;
    const { count } = await this.ctx.withTenant(tenantId, (tx) =>
      tx.apiKey.updateMany({ where: { tenantId, id: { in: valid } }, data: { lastUsedAt: at } }),
    );
    return count;
  }
}
