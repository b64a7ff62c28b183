import { Inject, Injectable } from '@nestjs/common';
import { hashApiKeySecret, isApiKeySecretFormat, type Db } from '@likeness/db';
import { DB } from '../infra/infra.module';
import { ForbiddenException, UnauthenticatedException } from '../errors/likeness.exception';
import { ApiKeyCache } from '../api-keys/api-key-cache';
import { ApiKeyUsageRecorder } from '../api-keys/api-key-usage.recorder';
import type { ApiKeyPrincipal } from './principal';

/**
 * Turns a bearer API key into a principal. Only the sha256 of the secret is used: looked up in
 * the in-process ApiKeyCache (invalidated across replicas through Redis), else in the database
 * through a SECURITY DEFINER function (the tenant is not known yet). Revocation (also a future,
 * scheduled one), expiry and tenant status are judged on every request, cached or not.
 * lastUsedAt is recorded in batches (ApiKeyUsageRecorder), never by a write per request.
 */
@Injectable()
export class ApiKeyAuthService {
  constructor(
    @Inject(DB) private readonly db: Db,
    private readonly cache: ApiKeyCache,
    private readonly usage: ApiKeyUsageRecorder,
  ) {}

  static looksLikeApiKey(token: string): boolean {
    return token.startsWith('lk_');
  }

  async authenticate(secret: string, now = new Date()): Promise<ApiKeyPrincipal> {
    if (!isApiKeySecretFormat(secret)) throw new UnauthenticatedException('Malformed API key');
    const key = await this.cache.lookup(hashApiKeySecret(secret), (hash) =>
      this.db.apiKeys.authenticate(hash),
    );
    if (!key) throw new UnauthenticatedException('Unknown API key');
    if (key.revokedAt && key.revokedAt <= now)
      throw new UnauthenticatedException('API key revoked');
    if (key.expiresAt && key.expiresAt <= now)
      throw new UnauthenticatedException('API key expired');
    if (key.tenant.status !== 'ACTIVE') {
      throw new ForbiddenException('Tenant is suspended', 'TENANT_SUSPENDED');
    }
    this.usage.record(key.tenantId, key.apiKeyId, now);
    return {
      kind: 'API_KEY',
      apiKeyId: key.apiKeyId,
      apiKeyName: key.name,
      apiKeyPrefix: key.prefix,
      scopes: key.scopes,
      tenant: {
        id: key.tenant.id,
        name: key.tenant.name,
        plan: key.tenant.plan,
        status: key.tenant.status,
      },
    };
  }
}
