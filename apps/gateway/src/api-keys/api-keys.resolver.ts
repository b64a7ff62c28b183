import { Args, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Access, TENANT_READERS, TENANT_WRITERS } from '../auth/access';
import { CurrentPrincipal, CurrentTenant } from '../auth/current.decorators';
import type { Principal } from '../auth/principal';
import { ApiKey, ApiKeyConnection, CreateApiKeyInput, CreatedApiKey } from './api-key.model';
import { ApiKeysService } from './api-keys.service';

@Resolver(() => ApiKey)
export class ApiKeysResolver {
  constructor(private readonly service: ApiKeysService) {}

  @Mutation(() => CreatedApiKey, {
    description: 'Creates an API key; its secret is in the answer and never shown again.',
  })
  @Access({ roles: TENANT_WRITERS, scopes: ['keys:write'] })
  createApiKey(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('input') input: CreateApiKeyInput,
  ): Promise<CreatedApiKey> {
    return this.service.create(principal, tenantId, input);
  }

  @Mutation(() => ApiKey, {
    description: 'Revokes an API key at once, on every gateway replica. Idempotent.',
  })
  @Access({ roles: TENANT_WRITERS, scopes: ['keys:write'] })
  revokeApiKey(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
  ): Promise<ApiKey> {
    return this.service.revoke(principal, tenantId, id);
  }

  @Mutation(() => CreatedApiKey, {
    description:
      'Replaces an API key with a new one (same name, scopes, expiry, spend cap); the old key keeps working for the grace period (default 24 h, at most 7 days, 0 = revoke now).',
  })
  @Access({ roles: TENANT_WRITERS, scopes: ['keys:write'] })
  rotateApiKey(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
    @Args('gracePeriodSeconds', { type: () => Int, nullable: true })
    gracePeriodSeconds: number | null,
  ): Promise<CreatedApiKey> {
    return this.service.rotate(principal, tenantId, id, gracePeriodSeconds);
  }

  @Query(() => ApiKeyConnection, {
    description: "The tenant's API keys, newest first (never their secrets).",
  })
  @Access({ roles: TENANT_READERS, scopes: ['keys:read'] })
  apiKeys(
    @CurrentTenant() tenantId: string,
    @Args('first', { type: () => Int, nullable: true, description: '1–100, default 20.' })
    first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
    @Args('includeRevoked', {
      type: () => Boolean,
      nullable: true,
      defaultValue: false,
      description: 'Also list keys whose revocation has taken effect.',
    })
    includeRevoked: boolean,
  ): Promise<ApiKeyConnection> {
    return this.service.list(tenantId, { first, after, includeRevoked });
  }
}
