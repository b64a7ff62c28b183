import { Args, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Access, TENANT_WRITERS } from '../auth/access';
import { CurrentPrincipal, CurrentTenant } from '../auth/current.decorators';
import type { Principal } from '../auth/principal';
import { WebhookReaders } from './webhook-access';
import { WebhookEndpointsService } from './webhook-endpoints.service';
import {
  CreatedWebhookEndpoint,
  CreateWebhookEndpointInput,
  UpdateWebhookEndpointInput,
  WebhookDelivery,
  WebhookDeliveryConnection,
  WebhookDeliveryStatus,
  WebhookEndpoint,
} from './webhook.model';

const WRITERS = { roles: TENANT_WRITERS, scopes: ['webhooks:write'] } as const;

@Resolver(() => WebhookEndpoint)
export class WebhooksResolver {
  constructor(private readonly service: WebhookEndpointsService) {}

  @Mutation(() => CreatedWebhookEndpoint, {
    description:
      'Registers a webhook endpoint; its signing secret is in the answer and never shown again.',
  })
  @Access(WRITERS)
  createWebhookEndpoint(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('input') input: CreateWebhookEndpointInput,
  ): Promise<CreatedWebhookEndpoint> {
    return this.service.create(principal, tenantId, input);
  }

  @Mutation(() => WebhookEndpoint, {
    description: "Changes an endpoint's URL, event types, description, or enables/disables it.",
  })
  @Access(WRITERS)
  updateWebhookEndpoint(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
    @Args('input') input: UpdateWebhookEndpointInput,
  ): Promise<WebhookEndpoint> {
    return this.service.update(principal, tenantId, id, input);
  }

  @Mutation(() => Boolean, { description: 'Deletes an endpoint with its delivery log.' })
  @Access(WRITERS)
  deleteWebhookEndpoint(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
  ): Promise<boolean> {
    return this.service.delete(principal, tenantId, id);
  }

  @Mutation(() => CreatedWebhookEndpoint, {
    description:
      'Replaces the signing secret. Until the grace period ends (default 24 h, at most 7 days, 0 = none) every webhook carries two v1= signatures, by the new and the old secret.',
  })
  @Access(WRITERS)
  rotateWebhookSecret(
    @CurrentPrincipal() principal: Principal,
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
    @Args('gracePeriodSeconds', { type: () => Int, nullable: true })
    gracePeriodSeconds: number | null,
  ): Promise<CreatedWebhookEndpoint> {
    return this.service.rotateSecret(principal, tenantId, id, gracePeriodSeconds);
  }

  @Mutation(() => WebhookDelivery, {
    description:
      "Delivers a delivery's event again (same event id and body, new delivery id) to its endpoint.",
  })
  @Access(WRITERS)
  redeliverWebhook(
    @CurrentTenant() tenantId: string,
    @Args('deliveryId', { type: () => ID }) deliveryId: string,
  ): Promise<WebhookDelivery> {
    return this.service.redeliver(tenantId, deliveryId);
  }

  @Mutation(() => WebhookDelivery, {
    description: 'Sends a test.ping event to the endpoint, whatever event types it subscribes to.',
  })
  @Access(WRITERS)
  sendTestWebhook(
    @CurrentTenant() tenantId: string,
    @Args('endpointId', { type: () => ID }) endpointId: string,
  ): Promise<WebhookDelivery> {
    return this.service.sendTest(tenantId, endpointId);
  }

  @Query(() => [WebhookEndpoint], { description: "The tenant's webhook endpoints, newest first." })
  @WebhookReaders()
  webhookEndpoints(@CurrentTenant() tenantId: string): Promise<WebhookEndpoint[]> {
    return this.service.list(tenantId);
  }

  @Query(() => WebhookEndpoint, { nullable: true })
  @WebhookReaders()
  webhookEndpoint(
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
  ): Promise<WebhookEndpoint | null> {
    return this.service.get(tenantId, id);
  }

  @Query(() => WebhookDeliveryConnection, {
    description: 'Deliveries (with every attempt), newest first; of one endpoint or of all.',
  })
  @WebhookReaders()
  webhookDeliveries(
    @CurrentTenant() tenantId: string,
    @Args('endpointId', { type: () => ID, nullable: true }) endpointId: string | null,
    @Args('first', { type: () => Int, nullable: true, description: '1–100, default 20.' })
    first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
    @Args('status', { type: () => WebhookDeliveryStatus, nullable: true })
    status: WebhookDeliveryStatus | null,
  ): Promise<WebhookDeliveryConnection> {
    return this.service.deliveries(tenantId, { endpointId, first, after, status });
  }

  @Query(() => WebhookDelivery, { nullable: true })
  @WebhookReaders()
  webhookDelivery(
    @CurrentTenant() tenantId: string,
    @Args('id', { type: () => ID }) id: string,
  ): Promise<WebhookDelivery | null> {
    return this.service.delivery(tenantId, id);
  }
}
