import { Inject, Injectable } from '@nestjs/common';
import { hashApiKeySecret, isApiKeySecretFormat, type Db } from '@likeness/db';
import { DB } from '../infra/infra.module';
import { ForbiddenException, UnauthenticatedException } from '../errors/likeness.exception';
import type { ApiKeyPrincipal } from './principal';

/**
 * Turns a bearer API key into a principal. Only the sha256 of the secret reaches the database
 * (a SECURITY DEFINER lookup, since the tenant is not known yet). The per-request cache and
 * revocation push through Redis come with the gateway-core issue.
 */
@Injectable()
export class ApiKeyAuthService {
  constructor(@Inject(DB) private readonly db: Db) {}

  static looksLikeApiKey(token: string): boolean {
    return token.startsWith('lk_');
  }

  async authenticate(secret: string, now = new Date()): Promise<ApiKeyPrincipal> {
    if (!isApiKeySecretFormat(secret)) throw new UnauthenticatedException('Malformed API key');
    const key = await this.db.apiKeys.authenticate(hashApiKeySecret(secret));
    if (!key) throw new UnauthenticatedException('Unknown API key');
    if (key.revokedAt && key.revokedAt <= now)
      throw new UnauthenticatedException('API key revoked');
    if (key.expiresAt && key.expiresAt <= now)
      throw new UnauthenticatedException('API key expired');
    if (key.tenant.status !== 'ACTIVE') {
      throw new ForbiddenException('Tenant is suspended', 'TENANT_SUSPENDED');
    }
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
