import { Resolver, Subscription } from '@nestjs/graphql';
import { CurrentTenant } from '../auth/current.decorators';
import { Tenant } from '../viewer/viewer.model';
import { EventBus } from './event-bus';
import { tenantUpdatedTopic } from './tenant-events';

@Resolver()
export class TenantUpdatedResolver {
  constructor(private readonly bus: EventBus) {}

  @Subscription(() => Tenant, {
    description:
      "The caller's tenant after each change of its name, plan or status (e.g. suspension).",
  })
  tenantUpdated(@CurrentTenant() tenantId: string): AsyncIterableIterator<unknown> {
    return this.bus.listen(tenantUpdatedTopic(tenantId));
  }
}
