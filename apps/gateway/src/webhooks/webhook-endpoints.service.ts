import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { WebhookEventType } from '@likeness/contracts';
import {
  DbError,
  type Db,
  type WebhookDelivery as DbDelivery,
  type WebhookDeliveryAttempt as DbAttempt,
  type WebhookEndpoint as DbEndpoint,
} from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DB } from '../infra/infra.module';
import type { Principal } from '../auth/principal';
import { eventBody } from './webhook-deliverer';
import {
  WebhookConflictException,
  WebhookDeliveryNotFoundException,
  WebhookEndpointNotFoundException,
} from './webhook.errors';
import {
  CreatedWebhookEndpoint,
  WebhookDelivery,
  WebhookDeliveryAttempt,
  WebhookDeliveryConnection,
  WebhookDeliveryStatus,
  WebhookEndpoint,
  WebhookEndpointDisabledReason,
  type CreateWebhookEndpointInput,
  type UpdateWebhookEndpointInput,
} from './webhook.model';
import { generateWebhookSecret, WebhookSecretBox } from './webhook-secrets';
import {
  decodeCursor,
  encodeCursor,
  MAX_ENDPOINTS_PER_TENANT,
  validateDescription,
  validateEventTypes,
  validateGracePeriod,
  validateId,
  validatePageSize,
  validateWebhookUrl,
} from './webhook.validation';
import { WebhookQueue } from './webhook.queue';

/** `user:<id>` or `api_key:<id>`, as the audit log records actors. */
function actorOf(principal: Principal): string {
  return principal.kind === 'USER' ? `user:${principal.userId}` : `api_key:${principal.apiKeyId}`;
}

export function toEndpointModel(endpoint: DbEndpoint, now = new Date()): WebhookEndpoint {
  const grace = endpoint.previousSecretExpiresAt;
  return {
    id: endpoint.id,
    url: endpoint.url,
    description: endpoint.description,
    eventTypes: endpoint.eventTypes,
    enabled: endpoint.disabledAt === null,
    disabledAt: endpoint.disabledAt,
    disabledReason:
      endpoint.disabledAt === null
        ? null
        : endpoint.disabledReason === 'FAILING'
          ? WebhookEndpointDisabledReason.FAILING
          : WebhookEndpointDisabledReason.USER,
    consecutiveFailures: endpoint.failureCount,
    failingSince: endpoint.failingSince,
    previousSecretExpiresAt: endpoint.previousSecret && grace && grace > now ? grace : null,
    createdAt: endpoint.createdAt,
    updatedAt: endpoint.updatedAt,
  };
}

function toAttemptModel(attempt: DbAttempt): WebhookDeliveryAttempt {
  return {
    attempt: attempt.attempt,
    startedAt: attempt.startedAt,
    durationMs: attempt.durationMs,
    responseStatus: attempt.responseStatus,
    error: attempt.error,
    nextAttemptAt: attempt.nextAttemptAt,
  };
}

export function toDeliveryModel(
  delivery: DbDelivery,
  attempts: readonly DbAttempt[] = [],
): WebhookDelivery {
  return {
    id: delivery.id,
    endpointId: delivery.endpointId,
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    status: WebhookDeliveryStatus[delivery.status],
    attempts: delivery.attempts,
    nextAttemptAt: delivery.status === 'PENDING' ? delivery.nextAttemptAt : null,
    responseStatus: delivery.responseStatus,
    lastError: delivery.lastError,
    deliveredAt: delivery.deliveredAt,
    createdAt: delivery.createdAt,
    payload: JSON.stringify(eventBody(delivery.payload)),
    attemptLog: attempts.map(toAttemptModel),
  };
}

export interface ListDeliveriesArgs {
  endpointId?: string | null;
  first?: number | null;
  after?: string | null;
  status?: WebhookDeliveryStatus | null;
}

/**
 * Webhook endpoint management for the caller's tenant (the GraphQL operations). Secrets are
 * generated here, returned once and stored encrypted; endpoint changes are audit-logged in
 * their transaction; test pings and redeliveries are enqueued after their commit.
 */
@Injectable()
export class WebhookEndpointsService {
  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly secrets: WebhookSecretBox,
    private readonly queue: WebhookQueue,
  ) {}

  async create(
    principal: Principal,
    tenantId: string,
    input: CreateWebhookEndpointInput,
  ): Promise<CreatedWebhookEndpoint> {
    const url = validateWebhookUrl(input.url, this.config.webhooks);
    const eventTypes = validateEventTypes(input.eventTypes);
    const description = validateDescription(input.description);
    const id = randomUUID();
    const secret = generateWebhookSecret();
    try {
      const endpoint = await this.db.webhooks.createEndpoint(
        tenantId,
        { id, url, description, eventTypes, secret: await this.secrets.seal(tenantId, id, secret) },
        {
          maxEndpoints: MAX_ENDPOINTS_PER_TENANT,
          audit: { actor: actorOf(principal), data: { url, eventTypes } },
        },
      );
      return { endpoint: toEndpointModel(endpoint), secret };
    } catch (error) {
      if (error instanceof DbError && error.code === 'CONFLICT') {
        throw new WebhookConflictException(`${error.message}; delete one first`);
      }
      throw error;
    }
  }

  async list(tenantId: string): Promise<WebhookEndpoint[]> {
    const now = new Date();
    return (await this.db.webhooks.listEndpoints(tenantId)).map((e) => toEndpointModel(e, now));
  }

  async get(tenantId: string, id: string): Promise<WebhookEndpoint | null> {
    const endpoint = await this.db.webhooks.findEndpoint(tenantId, validateId(id, 'id'));
    return endpoint ? toEndpointModel(endpoint) : null;
  }

  async update(
    principal: Principal,
    tenantId: string,
    id: string,
    input: UpdateWebhookEndpointInput,
  ): Promise<WebhookEndpoint> {
    const endpointId = validateId(id, 'id');
    const patch: Parameters<Db['webhooks']['updateEndpoint']>[2] = {};
    if (input.url !== undefined && input.url !== null) {
      patch.url = validateWebhookUrl(input.url, this.config.webhooks, 'url');
    }
    if (input.eventTypes !== undefined && input.eventTypes !== null) {
      patch.eventTypes = validateEventTypes(input.eventTypes);
    }
    if (input.description !== undefined) patch.description = validateDescription(input.description);
    if (input.enabled !== undefined && input.enabled !== null) patch.enabled = input.enabled;
    const endpoint = await this.db.webhooks.updateEndpoint(tenantId, endpointId, patch, {
      audit: {
        actor: actorOf(principal),
        data: {
          ...(patch.url !== undefined ? { url: patch.url } : {}),
          ...(patch.eventTypes !== undefined ? { eventTypes: patch.eventTypes } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
        },
      },
    });
    if (!endpoint) throw new WebhookEndpointNotFoundException();
    return toEndpointModel(endpoint);
  }

  async delete(principal: Principal, tenantId: string, id: string): Promise<boolean> {
    const deleted = await this.db.webhooks.deleteEndpoint(tenantId, validateId(id, 'id'), {
      audit: { actor: actorOf(principal) },
    });
    if (!deleted) throw new WebhookEndpointNotFoundException();
    return true;
  }

  /** A new secret; the old one keeps signing (a second v1=) for the grace period. */
  async rotateSecret(
    principal: Principal,
    tenantId: string,
    id: string,
    gracePeriodSeconds: number | null | undefined,
  ): Promise<CreatedWebhookEndpoint> {
    const endpointId = validateId(id, 'id');
    const grace = validateGracePeriod(gracePeriodSeconds);
    const now = new Date();
    const secret = generateWebhookSecret();
    const endpoint = await this.db.webhooks.rotateSecret(
      tenantId,
      endpointId,
      {
        secret: await this.secrets.seal(tenantId, endpointId, secret),
        previousSecretExpiresAt: grace > 0 ? new Date(now.getTime() + grace * 1000) : null,
      },
      { audit: { actor: actorOf(principal), data: { gracePeriodSeconds: grace } } },
    );
    if (!endpoint) throw new WebhookEndpointNotFoundException();
    return { endpoint: toEndpointModel(endpoint, now), secret };
  }

  async deliveries(tenantId: string, args: ListDeliveriesArgs): Promise<WebhookDeliveryConnection> {
    const first = validatePageSize(args.first);
    const after = args.after ? decodeCursor(args.after) : null;
    const endpointId = args.endpointId ? validateId(args.endpointId, 'endpointId') : null;
    if (endpointId && !(await this.db.webhooks.findEndpoint(tenantId, endpointId))) {
      throw new WebhookEndpointNotFoundException('endpointId');
    }
    const page = await this.db.webhooks.listDeliveries(tenantId, {
      first,
      after,
      endpointId,
      status: args.status ?? null,
    });
    const edges = page.items.map((d) => ({
      cursor: encodeCursor({ createdAt: d.createdAt, id: d.id }),
      node: toDeliveryModel(d, d.attemptLog),
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

  async delivery(tenantId: string, id: string): Promise<WebhookDelivery | null> {
    const found = await this.db.webhooks.findDelivery(tenantId, validateId(id, 'id'));
    return found ? toDeliveryModel(found, found.attemptLog) : null;
  }

  /** A new delivery of the same event (same event id and body) to the same endpoint. */
  async redeliver(tenantId: string, deliveryId: string): Promise<WebhookDelivery> {
    const id = validateId(deliveryId, 'deliveryId');
    const created = await this.conflictsAsErrors(() => this.db.webhooks.redeliver(tenantId, id));
    if (!created) throw new WebhookDeliveryNotFoundException();
    await this.queue.enqueue([{ tenantId, deliveryId: created.id, attempts: 0 }]);
    return toDeliveryModel(created);
  }

  /** A `test.ping` event to one endpoint, whatever it subscribes to. */
  async sendTest(tenantId: string, endpointId: string): Promise<WebhookDelivery> {
    const id = validateId(endpointId, 'endpointId');
    const created = await this.conflictsAsErrors(() =>
      this.db.webhooks.emitToEndpoint(tenantId, id, {
        eventType: WebhookEventType.TestPing,
        data: { endpointId: id, message: 'A test event from Likeness.' },
      }),
    );
    if (!created) throw new WebhookEndpointNotFoundException('endpointId');
    await this.queue.enqueue([{ tenantId, deliveryId: created.id, attempts: 0 }]);
    return toDeliveryModel(created);
  }

  private async conflictsAsErrors<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof DbError && error.code === 'CONFLICT') {
        throw new WebhookConflictException(`${error.message}; enable it first`);
      }
      throw error;
    }
  }
}
