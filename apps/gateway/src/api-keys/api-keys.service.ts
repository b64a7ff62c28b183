import { Inject, Injectable } from '@nestjs/common';
import { DbError, generateApiKeySecret, type ApiKey as DbApiKey, type Db } from '@likeness/db';
import { DB } from '../infra/infra.module';
import type { Principal } from '../auth/principal';
import { ApiKeyCache } from './api-key-cache';
import {
  ApiKeyConflictException,
  ApiKeyNotFoundException,
  ScopeNotHeldException,
} from './api-key.errors';
import {
  ApiKey,
  ApiKeyConnection,
  ApiKeyEnvironment,
  ApiKeyStatus,
  CreatedApiKey,
  type CreateApiKeyInput,
} from './api-key.model';
import {
  decodeCursor,
  encodeCursor,
  scopesNotHeld,
  validateCreateApiKey,
  validateGracePeriod,
  validateKeyId,
  validatePageSize,
} from './api-key.validation';

export interface ListApiKeysArgs {
  first?: number | null;
  after?: string | null;
  includeRevoked?: boolean | null;
}

/** `user:<id>` or `api_key:<id>`, as the audit log records actors. */
export function actorOf(principal: Principal): string {
  return principal.kind === 'USER' ? `user:${principal.userId}` : `api_key:${principal.apiKeyId}`;
}

export function toApiKeyModel(key: DbApiKey, now: Date): ApiKey {
  const status =
    key.revokedAt && key.revokedAt <= now
      ? ApiKeyStatus.REVOKED
      : key.expiresAt && key.expiresAt <= now
        ? ApiKeyStatus.EXPIRED
        : ApiKeyStatus.ACTIVE;
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    environment: key.prefix.startsWith('lk_test_')
      ? ApiKeyEnvironment.TEST
      : ApiKeyEnvironment.LIVE,
    scopes: key.scopes,
    status,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    revokedAt: key.revokedAt,
    lastUsedAt: key.lastUsedAt,
    spendCapCents: key.spendCapCents,
  };
}

/**
 * API key management for the caller's tenant. Secrets are generated here, returned once and
 * stored only as sha256. Every change is audit-logged in its own transaction, and revocations
 * and rotations are pushed to every replica's ApiKeyCache.
 */
@Injectable()
export class ApiKeysService {
  constructor(
    @Inject(DB) private readonly db: Db,
    private readonly cache: ApiKeyCache,
  ) {}

  async create(
    principal: Principal,
    tenantId: string,
    input: CreateApiKeyInput,
    now = new Date(),
  ): Promise<CreatedApiKey> {
    const valid = validateCreateApiKey(input, now);
    this.assertMayGrant(principal, valid.scopes);
    const generated = generateApiKeySecret(valid.environment);
    const key = await this.db.apiKeys.create(
      tenantId,
      {
        name: valid.name,
        prefix: generated.prefix,
        secretHash: generated.secretHash,
        scopes: valid.scopes,
        expiresAt: valid.expiresAt,
        spendCapCents: valid.spendCapCents,
      },
      {
        actor: actorOf(principal),
        data: {
          name: valid.name,
          prefix: generated.prefix,
          scopes: valid.scopes,
          expiresAt: valid.expiresAt?.toISOString() ?? null,
          spendCapCents: valid.spendCapCents,
        },
      },
    );
    return { apiKey: toApiKeyModel(key, now), secret: generated.secret };
  }

  async revoke(principal: Principal, tenantId: string, id: string): Promise<ApiKey> {
    const keyId = validateKeyId(id);
    const now = new Date();
    const key = await this.db.apiKeys.revoke(tenantId, keyId, {
      at: now,
      audit: { actor: actorOf(principal) },
    });
    if (!key) throw new ApiKeyNotFoundException();
    await this.cache.invalidateKey(tenantId, key.id);
    return toApiKeyModel(key, now);
  }

  async rotate(
    principal: Principal,
    tenantId: string,
    id: string,
    gracePeriodSeconds: number | null | undefined,
  ): Promise<CreatedApiKey> {
    const keyId = validateKeyId(id);
    const grace = validateGracePeriod(gracePeriodSeconds);
    const old = await this.db.apiKeys.findById(tenantId, keyId);
    if (!old) throw new ApiKeyNotFoundException();
    // The replacement carries the old key's scopes: rotating is granting them again.
    this.assertMayGrant(principal, old.scopes);
    const now = new Date();
    const revokeOldAt = new Date(now.getTime() + grace * 1000);
    const generated = generateApiKeySecret(old.prefix.startsWith('lk_test_') ? 'test' : 'live');
    let rotated;
    try {
      rotated = await this.db.apiKeys.rotate(tenantId, keyId, {
        replacement: { prefix: generated.prefix, secretHash: generated.secretHash },
        revokeOldAt,
        now,
        audit: {
          actor: actorOf(principal),
          data: {
            prefix: old.prefix,
            newPrefix: generated.prefix,
            gracePeriodSeconds: grace,
            revokeAt: revokeOldAt.toISOString(),
          },
        },
      });
    } catch (err) {
      if (err instanceof DbError && err.code === 'CONFLICT') {
        throw new ApiKeyConflictException(`Cannot rotate: ${err.message}`);
      }
      throw err;
    }
    if (!rotated) throw new ApiKeyNotFoundException();
    // Replicas hold the old key without its new revocation time.
    await this.cache.invalidateKey(tenantId, keyId);
    return { apiKey: toApiKeyModel(rotated.created, now), secret: generated.secret };
  }

  async list(tenantId: string, args: ListApiKeysArgs): Promise<ApiKeyConnection> {
    const first = validatePageSize(args.first);
    const after = args.after ? decodeCursor(args.after) : null;
    const now = new Date();
    const page = await this.db.apiKeys.listPage(tenantId, {
      first,
      after,
      includeRevoked: args.includeRevoked ?? false,
      now,
    });
    const edges = page.items.map((key) => ({
      cursor: encodeCursor({ createdAt: key.createdAt, id: key.id }),
      node: toApiKeyModel(key, now),
    }));
    return {
      edges,
      nodes: edges.map((e) => e.node),
      pageInfo: {
        hasNextPage: page.hasNextPage,
        hasPreviousPage: false,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
    };
  }

  /** Users pass (their role was checked); an API key may grant only scopes it holds. */
  private assertMayGrant(principal: Principal, scopes: readonly string[]): void {
    if (principal.kind !== 'API_KEY') return;
    const missing = scopesNotHeld(principal.scopes, scopes);
    if (missing.length > 0) throw new ScopeNotHeldException(missing);
  }
}
