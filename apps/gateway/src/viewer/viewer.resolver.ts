import { Query, Resolver } from '@nestjs/graphql';
import { CurrentPrincipal } from '../auth/current.decorators';
import type { Principal } from '../auth/principal';
import { TenantStatus, Viewer, ViewerKind } from './viewer.model';

@Resolver(() => Viewer)
export class ViewerResolver {
  @Query(() => Viewer, { description: 'Who am I: user or API key, tenant, plan.' })
  viewer(@CurrentPrincipal() principal: Principal): Viewer {
    switch (principal.kind) {
      case 'API_KEY':
        return {
          kind: ViewerKind.API_KEY,
          tenant: {
            id: principal.tenant.id,
            name: principal.tenant.name,
            plan: principal.tenant.plan,
            status:
              principal.tenant.status === 'ACTIVE' ? TenantStatus.ACTIVE : TenantStatus.SUSPENDED,
          },
          apiKey: {
            id: principal.apiKeyId,
            name: principal.apiKeyName,
            prefix: principal.apiKeyPrefix,
            scopes: [...principal.scopes],
          },
        };
    }
  }
}
