import { Query, Resolver } from '@nestjs/graphql';
import { CurrentPrincipal } from '../auth/current.decorators';
import type { Principal, TenantSummary } from '../auth/principal';
import { type Tenant, TenantStatus, Viewer, ViewerKind } from './viewer.model';

function tenantOf(tenant: TenantSummary): Tenant {
  return {
    id: tenant.id,
    name: tenant.name,
    plan: tenant.plan,
    status: tenant.status === 'ACTIVE' ? TenantStatus.ACTIVE : TenantStatus.SUSPENDED,
  };
}

@Resolver(() => Viewer)
export class ViewerResolver {
  @Query(() => Viewer, { description: 'Who am I: user or API key, tenant, plan.' })
  viewer(@CurrentPrincipal() principal: Principal): Viewer {
    switch (principal.kind) {
      case 'API_KEY':
        return {
          kind: ViewerKind.API_KEY,
          tenant: tenantOf(principal.tenant),
          user: null,
          apiKey: {
            id: principal.apiKeyId,
            name: principal.apiKeyName,
            prefix: principal.apiKeyPrefix,
            scopes: [...principal.scopes],
          },
        };
      case 'USER':
        return {
          kind: ViewerKind.USER,
          tenant: principal.tenant ? tenantOf(principal.tenant) : null,
          apiKey: null,
          user: { id: principal.userId, email: principal.email, role: principal.role },
        };
    }
  }
}
