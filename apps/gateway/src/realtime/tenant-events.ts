import { Injectable } from '@nestjs/common';
import type { TenantSummary } from '../auth/principal';
import { EventBus } from './event-bus';

export const tenantUpdatedTopic = (tenantId: string): string => `tenant:${tenantId}:updated`;

/** Publishes tenant changes (name, plan, status) to every gateway replica's subscribers. */
@Injectable()
export class TenantEvents {
  constructor(private readonly bus: EventBus) {}

  tenantUpdated(tenant: TenantSummary): Promise<void> {
    return this.bus.publish(tenantUpdatedTopic(tenant.id), { tenantUpdated: tenant });
  }
}
