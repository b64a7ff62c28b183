import { randomUUID } from 'node:crypto';
import type { DbContext, TenantTx } from '../db';
import { DbError, isUuid } from '../errors';
import type { Prisma } from '../prisma';
import type {
  JsonObject,
  JsonValue,
  WebhookDelivery,
  WebhookDeliveryAttempt,
  WebhookDeliveryStatus,
  WebhookDeliveryWithAttempts,
  WebhookEndpoint,
} from '../types';
import { writeAuditEntry } from './audit-log.repository';
import { jsonInput, jsonObject } from './mappers';

type EndpointRow = Prisma.WebhookEndpointGetPayload<object>;
type DeliveryRow = Prisma.WebhookDeliveryGetPayload<object>;
type AttemptRow = Prisma.WebhookDeliveryAttemptGetPayload<object>;

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    tenantId: row.tenantId,
    url: row.url,
    description: row.description,
    eventTypes: row.eventTypes,
    secret: row.secret,
    previousSecret: row.previousSecret,
    previousSecretExpiresAt: row.previousSecretExpiresAt,
    disabledAt: row.disabledAt,
    disabledReason: row.disabledReason,
    failureCount: row.failureCount,
    failingSince: row.failingSince,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    tenantId: row.tenantId,
    endpointId: row.endpointId,
    eventId: row.eventId,
    eventType: row.eventType,
    payload: jsonObject(row.payload),
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.nextAttemptAt,
    responseStatus: row.responseStatus,
    lastError: row.lastError,
    deliveredAt: row.deliveredAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function toAttempt(row: AttemptRow): WebhookDeliveryAttempt {
  return {
    id: row.id,
    deliveryId: row.deliveryId,
    attempt: row.attempt,
    startedAt: row.startedAt,
    durationMs: row.durationMs,
    responseStatus: row.responseStatus,
    error: row.error,
    nextAttemptAt: row.nextAttemptAt,
    createdAt: row.createdAt,
  };
}

function toDeliveryWithAttempts(
  row: DeliveryRow & { attemptLog: AttemptRow[] },
): WebhookDeliveryWithAttempts {
  return { ...toDelivery(row), attemptLog: row.attemptLog.map(toAttempt) };
}

const WITH_ATTEMPTS = { attemptLog: { orderBy: { attempt: 'asc' } } } as const;

/** Audit entries of endpoint changes; the repository sets `action` and `target`. */
export interface WebhookAuditInput {
  /** `user:<id>`, `api_key:<id>`, `system`. */
  actor: string;
  data?: JsonObject;
}

export interface CreateWebhookEndpointInput {
  /** Chosen by the caller, so it can bind the encrypted secret to the endpoint. */
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  secret: string;
}

/** Absent fields stay as they are; `enabled: true` also clears the failure count. */
export interface UpdateWebhookEndpointInput {
  url?: string;
  description?: string | null;
  eventTypes?: string[];
  enabled?: boolean;
}

export interface WebhookEventInput {
  eventType: string;
  data: JsonValue;
  /**
   * Only these endpoints, whatever they subscribe to (test pings); default: every enabled
   * endpoint of the tenant subscribed to `eventType`. Disabled endpoints never get a delivery.
   */
  endpointIds?: readonly string[];
  /** Default: a new event id (a redelivery reuses the event's). */
  eventId?: string;
  now?: Date;
}

export interface EmittedWebhookEvent {
  eventId: string;
  /** One per endpoint, PENDING and due now; empty when no endpoint subscribes. */
  deliveries: { id: string; endpointId: string }[];
}

/** Keyset position in the newest-first delivery listing. */
export interface WebhookDeliveryCursor {
  createdAt: Date;
  id: string;
}

export interface ListWebhookDeliveriesOptions {
  /** Page size, 1..500. */
  first: number;
  endpointId?: string | null;
  status?: WebhookDeliveryStatus | null;
  after?: WebhookDeliveryCursor | null;
}

export interface WebhookDeliveryPage {
  items: WebhookDeliveryWithAttempts[];
  hasNextPage: boolean;
}

/** What the worker needs to make one attempt. */
export interface ClaimedWebhookDelivery {
  kind: 'claimed';
  /** After the claim: `attempts` counts this attempt, `nextAttemptAt` is the lease's end. */
  delivery: WebhookDelivery;
  endpoint: WebhookEndpoint;
}

export type WebhookClaim =
  | ClaimedWebhookDelivery
  /** Unknown, already final, or not due (another claim holds it): nothing to do. */
  | { kind: 'skipped'; reason: 'NOT_FOUND' | 'NOT_PENDING' | 'NOT_DUE' }
  /** The endpoint is disabled: the delivery was marked FAILED. */
  | { kind: 'endpoint_disabled' };

export interface RecordWebhookAttemptInput {
  /** The attempt number the claim gave (delivery.attempts after the claim). */
  attempt: number;
  startedAt: Date;
  durationMs: number;
  responseStatus: number | null;
  error: string | null;
  outcome: 'SUCCEEDED' | 'RETRY' | 'FAILED';
  /** Set when outcome is RETRY. */
  nextAttemptAt: Date | null;
  /** False for failures that are ours (e.g. an unreadable secret), not the endpoint's. */
  countsAgainstEndpoint: boolean;
}

export interface RecordedWebhookAttempt {
  delivery: WebhookDelivery;
  /** The endpoint's failure run after this attempt. */
  endpoint: { id: string; failureCount: number; failingSince: Date | null; disabled: boolean };
}

export interface DisableFailingEndpointInput {
  /** Disable only if at least this many consecutive failures … */
  minFailures: number;
  /** … and the run of failures began at or before this time. */
  failingSinceAtOrBefore: Date;
  /** The event announcing it, delivered to the tenant's other subscribed endpoints. */
  event: { eventType: string; data: JsonValue };
  now?: Date;
}

export interface DueWebhookDelivery {
  deliveryId: string;
  tenantId: string;
  attempts: number;
}

const DISABLED_ERROR = 'endpoint disabled';

/**
 * Writes one event's deliveries inside the caller's transaction (the outbox: they commit or
 * roll back with the change they report). The caller enqueues them after the commit; the
 * sweeper (`dueDeliveries`) finds any it did not.
 */
export async function insertWebhookEvent(
  tx: TenantTx,
  tenantId: string,
  input: WebhookEventInput,
): Promise<EmittedWebhookEvent> {
  const now = input.now ?? new Date();
  const eventId = input.eventId ?? randomUUID();
  const ids = input.endpointIds?.filter(isUuid);
  const endpoints = await tx.webhookEndpoint.findMany({
    where: {
      tenantId,
      disabledAt: null,
      ...(ids ? { id: { in: ids } } : { eventTypes: { has: input.eventType } }),
    },
    select: { id: true },
    orderBy: { createdAt: 'asc' },
  });
  if (endpoints.length === 0) return { eventId, deliveries: [] };
  const payload: JsonObject = {
    id: eventId,
    type: input.eventType,
    createdAt: now.toISOString(),
    data: input.data,
  };
  const rows = await tx.webhookDelivery.createManyAndReturn({
    data: endpoints.map((e) => ({
      tenantId,
      endpointId: e.id,
      eventId,
      eventType: input.eventType,
      payload: jsonInput(payload),
      nextAttemptAt: now,
    })),
    select: { id: true, endpointId: true },
  });
  return { eventId, deliveries: rows };
}

/** Marks an endpoint's PENDING deliveries FAILED (it was disabled). */
async function failPendingDeliveries(tx: TenantTx, tenantId: string, endpointId: string) {
  await tx.webhookDelivery.updateMany({
    where: { tenantId, endpointId, status: 'PENDING' },
    data: { status: 'FAILED', nextAttemptAt: null, lastError: DISABLED_ERROR },
  });
}

/**
 * Webhook endpoints and their deliveries (one aggregate). Every method takes the tenant id
 * first, except `dueDeliveries`, the sweeper's cross-tenant scan (a SECURITY DEFINER function).
 */
export class WebhookRepository {
  constructor(private readonly ctx: DbContext) {}

  /**
   * With `audit`, `webhook_endpoint.create` is logged in the same transaction. DbError CONFLICT
   * when the tenant already has `maxEndpoints` endpoints (checked under a per-tenant lock).
   */
  async createEndpoint(
    tenantId: string,
    input: CreateWebhookEndpointInput,
    options: { maxEndpoints: number; audit?: WebhookAuditInput },
  ): Promise<WebhookEndpoint> {
    const row = await this.ctx.withTenant(
      tenantId,
      async (tx) => {
        const count = await tx.webhookEndpoint.count({ where: { tenantId } });
        if (count >= options.maxEndpoints) {
          throw new DbError(
            'CONFLICT',
            `a tenant may have at most ${options.maxEndpoints} webhook endpoints`,
          );
        }
        const created = await tx.webhookEndpoint.create({
          data: {
            id: input.id,
            tenantId,
            url: input.url,
            description: input.description,
            eventTypes: input.eventTypes,
            secret: input.secret,
          },
        });
        if (options.audit) {
          await writeAuditEntry(tx, tenantId, {
            ...options.audit,
            action: 'webhook_endpoint.create',
            target: created.id,
          });
        }
        return created;
      },
      { lock: `webhook_endpoints:${tenantId}` },
    );
    return toEndpoint(row);
  }

  async findEndpoint(tenantId: string, id: string): Promise<WebhookEndpoint | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.webhookEndpoint.findFirst({ where: { id, tenantId } }),
    );
    return row ? toEndpoint(row) : null;
  }

  /** Newest first. */
  async listEndpoints(tenantId: string): Promise<WebhookEndpoint[]> {
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.webhookEndpoint.findMany({
        where: { tenantId },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      }),
    );
    return rows.map(toEndpoint);
  }

  /**
   * Applies the change; disabling fails the endpoint's PENDING deliveries, enabling clears its
   * failure run. `webhook_endpoint.update` is audited with `audit`. Null when not found.
   */
  async updateEndpoint(
    tenantId: string,
    id: string,
    patch: UpdateWebhookEndpointInput,
    options: { audit?: WebhookAuditInput; now?: Date } = {},
  ): Promise<WebhookEndpoint | null> {
    if (!isUuid(id)) return null;
    const now = options.now ?? new Date();
    const row = await this.ctx.withTenant(tenantId, async (tx) => {
      const current = await tx.webhookEndpoint.findFirst({ where: { id, tenantId } });
      if (!current) return null;
      const data: Prisma.WebhookEndpointUpdateInput = {};
      if (patch.url !== undefined) data.url = patch.url;
      if (patch.description !== undefined) data.description = patch.description;
      if (patch.eventTypes !== undefined) data.eventTypes = patch.eventTypes;
      if (patch.enabled === true && current.disabledAt) {
        Object.assign(data, {
          disabledAt: null,
          disabledReason: null,
          failureCount: 0,
          failingSince: null,
        });
      }
      if (patch.enabled === false && !current.disabledAt) {
        Object.assign(data, { disabledAt: now, disabledReason: 'USER' });
        await failPendingDeliveries(tx, tenantId, id);
      }
      const updated = await tx.webhookEndpoint.update({ where: { id }, data });
      if (options.audit) {
        await writeAuditEntry(tx, tenantId, {
          ...options.audit,
          action: 'webhook_endpoint.update',
          target: id,
        });
      }
      return updated;
    });
    return row ? toEndpoint(row) : null;
  }

  /** Deletes the endpoint with its deliveries and their attempts. False when not found. */
  async deleteEndpoint(
    tenantId: string,
    id: string,
    options: { audit?: WebhookAuditInput } = {},
  ): Promise<boolean> {
    if (!isUuid(id)) return false;
    return this.ctx.withTenant(tenantId, async (tx) => {
      const { count } = await tx.webhookEndpoint.deleteMany({ where: { id, tenantId } });
      if (count > 0 && options.audit) {
        await writeAuditEntry(tx, tenantId, {
          ...options.audit,
          action: 'webhook_endpoint.delete',
          target: id,
        });
      }
      return count > 0;
    });
  }

  /**
   * Replaces the secret. The old one is kept as `previousSecret` until `previousSecretExpiresAt`
   * (null = dropped at once); a previous secret of an earlier rotation is dropped either way.
   */
  async rotateSecret(
    tenantId: string,
    id: string,
    input: { secret: string; previousSecretExpiresAt: Date | null },
    options: { audit?: WebhookAuditInput } = {},
  ): Promise<WebhookEndpoint | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.withTenant(tenantId, async (tx) => {
      const locked = await tx.$queryRaw<{ secret: string }[]>`
        SELECT secret FROM webhook_endpoints
        WHERE id = ${id}::uuid AND tenant_id = ${tenantId}::uuid FOR UPDATE`;
      const current = locked[0];
      if (!current) return null;
      const keep = input.previousSecretExpiresAt !== null;
      const updated = await tx.webhookEndpoint.update({
        where: { id },
        data: {
          secret: input.secret,
          previousSecret: keep ? current.secret : null,
          previousSecretExpiresAt: input.previousSecretExpiresAt,
        },
      });
      if (options.audit) {
        await writeAuditEntry(tx, tenantId, {
          ...options.audit,
          action: 'webhook_endpoint.rotate_secret',
          target: id,
        });
      }
      return updated;
    });
    return row ? toEndpoint(row) : null;
  }

  /** An event in its own transaction (callers with a transaction use insertWebhookEvent). */
  emit(tenantId: string, input: WebhookEventInput): Promise<EmittedWebhookEvent> {
    return this.ctx.withTenant(tenantId, (tx) => insertWebhookEvent(tx, tenantId, input));
  }

  /**
   * A new delivery of an existing delivery's event (same event id, type and body) to the same
   * endpoint. Null when not found; DbError CONFLICT when the endpoint is disabled.
   */
  async redeliver(
    tenantId: string,
    deliveryId: string,
    now = new Date(),
  ): Promise<WebhookDelivery | null> {
    if (!isUuid(deliveryId)) return null;
    const row = await this.ctx.withTenant(tenantId, async (tx) => {
      const original = await tx.webhookDelivery.findFirst({
        where: { id: deliveryId, tenantId },
        include: { endpoint: { select: { disabledAt: true } } },
      });
      if (!original) return null;
      if (original.endpoint.disabledAt) {
        throw new DbError('CONFLICT', 'the webhook endpoint is disabled');
      }
      return tx.webhookDelivery.create({
        data: {
          tenantId,
          endpointId: original.endpointId,
          eventId: original.eventId,
          eventType: original.eventType,
          payload: jsonInput(jsonObject(original.payload)),
          nextAttemptAt: now,
        },
      });
    });
    return row ? toDelivery(row) : null;
  }

  /**
   * One event to one endpoint whatever it subscribes to (test pings). Null when the endpoint is
   * not found; DbError CONFLICT when it is disabled.
   */
  async emitToEndpoint(
    tenantId: string,
    endpointId: string,
    input: Omit<WebhookEventInput, 'endpointIds'>,
  ): Promise<WebhookDelivery | null> {
    if (!isUuid(endpointId)) return null;
    const row = await this.ctx.withTenant(tenantId, async (tx) => {
      const endpoint = await tx.webhookEndpoint.findFirst({ where: { id: endpointId, tenantId } });
      if (!endpoint) return null;
      if (endpoint.disabledAt) throw new DbError('CONFLICT', 'the webhook endpoint is disabled');
      const emitted = await insertWebhookEvent(tx, tenantId, {
        ...input,
        endpointIds: [endpointId],
      });
      const created = emitted.deliveries[0];
      return created ? tx.webhookDelivery.findFirstOrThrow({ where: { id: created.id } }) : null;
    });
    return row ? toDelivery(row) : null;
  }

  async findDelivery(tenantId: string, id: string): Promise<WebhookDeliveryWithAttempts | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.webhookDelivery.findFirst({ where: { id, tenantId }, include: WITH_ATTEMPTS }),
    );
    return row ? toDeliveryWithAttempts(row) : null;
  }

  /** Newest first (createdAt, then id), each with its attempts, after the keyset cursor. */
  async listDeliveries(
    tenantId: string,
    options: ListWebhookDeliveriesOptions,
  ): Promise<WebhookDeliveryPage> {
    const first = Math.max(1, Math.min(500, Math.trunc(options.first)));
    const { after, endpointId } = options;
    if ((after && !isUuid(after.id)) || (endpointId && !isUuid(endpointId))) {
      return { items: [], hasNextPage: false };
    }
    const where: Prisma.WebhookDeliveryWhereInput = {
      tenantId,
      ...(endpointId ? { endpointId } : {}),
      ...(options.status ? { status: options.status } : {}),
      ...(after
        ? {
            OR: [
              { createdAt: { lt: after.createdAt } },
              { createdAt: after.createdAt, id: { lt: after.id } },
            ],
          }
        : {}),
    };
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.webhookDelivery.findMany({
        where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: first + 1,
        include: WITH_ATTEMPTS,
      }),
    );
    return {
      items: rows.slice(0, first).map(toDeliveryWithAttempts),
      hasNextPage: rows.length > first,
    };
  }

  /**
   * Claims the next attempt of a PENDING delivery that is due (within `skewMs`): counts the
   * attempt and moves `nextAttemptAt` to the end of a lease, so a duplicate job finds it not
   * due and the sweeper leaves it alone until the lease ends (a crashed attempt).
   */
  async claimDelivery(
    tenantId: string,
    deliveryId: string,
    options: { leaseMs: number; skewMs?: number; now?: Date },
  ): Promise<WebhookClaim> {
    if (!isUuid(deliveryId)) return { kind: 'skipped', reason: 'NOT_FOUND' };
    const now = options.now ?? new Date();
    return this.ctx.withTenant(tenantId, async (tx): Promise<WebhookClaim> => {
      const locked = await tx.$queryRaw<{ id: string }[]>`
        SELECT id FROM webhook_deliveries
        WHERE id = ${deliveryId}::uuid AND tenant_id = ${tenantId}::uuid FOR UPDATE`;
      if (locked.length === 0) return { kind: 'skipped', reason: 'NOT_FOUND' };
      const current = await tx.webhookDelivery.findFirstOrThrow({
        where: { id: deliveryId },
        include: { endpoint: true },
      });
      if (current.status !== 'PENDING') return { kind: 'skipped', reason: 'NOT_PENDING' };
      const dueBy = now.getTime() + (options.skewMs ?? 1000);
      if (current.nextAttemptAt && current.nextAttemptAt.getTime() > dueBy) {
        return { kind: 'skipped', reason: 'NOT_DUE' };
      }
      if (current.endpoint.disabledAt) {
        await tx.webhookDelivery.update({
          where: { id: deliveryId },
          data: { status: 'FAILED', nextAttemptAt: null, lastError: DISABLED_ERROR },
        });
        return { kind: 'endpoint_disabled' };
      }
      const claimed = await tx.webhookDelivery.update({
        where: { id: deliveryId },
        data: {
          attempts: { increment: 1 },
          nextAttemptAt: new Date(now.getTime() + options.leaseMs),
        },
      });
      return {
        kind: 'claimed',
        delivery: toDelivery(claimed),
        endpoint: toEndpoint(current.endpoint),
      };
    });
  }

  /**
   * Logs one attempt and applies its outcome to the delivery (only while the claim is still
   * the latest: same attempt number, still PENDING) and to the endpoint's failure run.
   */
  async recordAttempt(
    tenantId: string,
    deliveryId: string,
    input: RecordWebhookAttemptInput,
  ): Promise<RecordedWebhookAttempt | null> {
    if (!isUuid(deliveryId)) return null;
    return this.ctx.withTenant(tenantId, async (tx) => {
      const delivery = await tx.webhookDelivery.findFirst({ where: { id: deliveryId, tenantId } });
      if (!delivery) return null;
      await tx.webhookDeliveryAttempt.createMany({
        data: [
          {
            tenantId,
            deliveryId,
            attempt: input.attempt,
            startedAt: input.startedAt,
            durationMs: Math.max(0, Math.round(input.durationMs)),
            responseStatus: input.responseStatus,
            error: input.error,
            nextAttemptAt: input.outcome === 'RETRY' ? input.nextAttemptAt : null,
          },
        ],
        skipDuplicates: true,
      });
      const finishedAt = new Date(input.startedAt.getTime() + input.durationMs);
      await tx.webhookDelivery.updateMany({
        where: { id: deliveryId, status: 'PENDING', attempts: input.attempt },
        data: {
          status: input.outcome === 'RETRY' ? 'PENDING' : input.outcome,
          nextAttemptAt: input.outcome === 'RETRY' ? input.nextAttemptAt : null,
          responseStatus: input.responseStatus,
          lastError: input.error,
          ...(input.outcome === 'SUCCEEDED' ? { deliveredAt: finishedAt } : {}),
        },
      });
      const updated = await tx.webhookDelivery.findFirstOrThrow({ where: { id: deliveryId } });
      let run: { failure_count: number; failing_since: Date | null; disabled_at: Date | null }[];
      if (input.outcome === 'SUCCEEDED') {
        run = await tx.$queryRaw`
          UPDATE webhook_endpoints SET failure_count = 0, failing_since = NULL
          WHERE id = ${delivery.endpointId}::uuid AND tenant_id = ${tenantId}::uuid
          RETURNING failure_count, failing_since, disabled_at`;
      } else if (input.countsAgainstEndpoint) {
        run = await tx.$queryRaw`
          UPDATE webhook_endpoints
          SET failure_count = failure_count + 1,
              failing_since = coalesce(failing_since, ${input.startedAt}::timestamptz)
          WHERE id = ${delivery.endpointId}::uuid AND tenant_id = ${tenantId}::uuid
          RETURNING failure_count, failing_since, disabled_at`;
      } else {
        run = await tx.$queryRaw`
          SELECT failure_count, failing_since, disabled_at FROM webhook_endpoints
          WHERE id = ${delivery.endpointId}::uuid AND tenant_id = ${tenantId}::uuid`;
      }
      const endpoint = run[0];
      return {
        delivery: toDelivery(updated),
        endpoint: {
          id: delivery.endpointId,
          failureCount: endpoint?.failure_count ?? 0,
          failingSince: endpoint?.failing_since ?? null,
          disabled: endpoint ? endpoint.disabled_at !== null : true,
        },
      };
    });
  }

  /**
   * Disables an endpoint whose failure run meets both thresholds (re-checked under the row's
   * lock, so a success in between wins): its PENDING deliveries fail, `webhook_endpoint.disable`
   * is audited (actor `system`) and `input.event` goes to the tenant's other subscribed enabled
   * endpoints, all in one transaction. Null when it did not (or no longer does) qualify.
   */
  async disableFailingEndpoint(
    tenantId: string,
    endpointId: string,
    input: DisableFailingEndpointInput,
  ): Promise<{ endpoint: WebhookEndpoint; emitted: EmittedWebhookEvent } | null> {
    if (!isUuid(endpointId)) return null;
    const now = input.now ?? new Date();
    return this.ctx.withTenant(tenantId, async (tx) => {
      const { count } = await tx.webhookEndpoint.updateMany({
        where: {
          id: endpointId,
          tenantId,
          disabledAt: null,
          failureCount: { gte: input.minFailures },
          failingSince: { lte: input.failingSinceAtOrBefore },
        },
        data: { disabledAt: now, disabledReason: 'FAILING' },
      });
      if (count === 0) return null;
      const endpoint = await tx.webhookEndpoint.findFirstOrThrow({ where: { id: endpointId } });
      await failPendingDeliveries(tx, tenantId, endpointId);
      await writeAuditEntry(tx, tenantId, {
        actor: 'system',
        action: 'webhook_endpoint.disable',
        target: endpointId,
        data: {
          reason: 'FAILING',
          failureCount: endpoint.failureCount,
          failingSince: endpoint.failingSince?.toISOString() ?? null,
        },
      });
      const emitted = await insertWebhookEvent(tx, tenantId, { ...input.event, now });
      return { endpoint: toEndpoint(endpoint), emitted };
    });
  }

  /**
   * Across tenants (the sweeper): PENDING deliveries due at or before `cutoff`, oldest first,
   * at most `limit` (≤ 1000), through the SECURITY DEFINER function of migration 0004.
   */
  async dueDeliveries(cutoff: Date, limit: number): Promise<DueWebhookDelivery[]> {
    const rows = await this.ctx.app().$queryRaw<
      { delivery_id: string; tenant_id: string; attempts: number }[]
    >`SELECT * FROM likeness_due_webhook_deliveries(${cutoff}::timestamptz, ${Math.trunc(limit)}::int)`;
    return rows.map((r) => ({
      deliveryId: r.delivery_id,
      tenantId: r.tenant_id,
      attempts: r.attempts,
    }));
  }

  /**
   * Retention, across tenants (SECURITY DEFINER `likeness_purge_webhook_deliveries`, migration
   * 0007): deletes at most `limit` (≤ 10 000) finished deliveries — SUCCEEDED or FAILED, never
   * PENDING — created before `cutoff`, oldest first, with their attempt log; rows locked by a
   * concurrent purge are skipped. Resolves with the number deleted.
   */
  async purgeFinishedDeliveries(cutoff: Date, limit: number): Promise<number> {
    const rows = await this.ctx.app().$queryRaw<{ purged: number }[]>`
      SELECT likeness_purge_webhook_deliveries(${cutoff}::timestamptz, ${Math.trunc(limit)}::int) AS purged`;
    return rows[0]?.purged ?? 0;
  }
}
