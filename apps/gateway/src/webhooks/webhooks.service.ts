import { Inject, Injectable } from '@nestjs/common';
import { isWebhookEventType, type WebhookEventType } from '@likeness/contracts';
import { insertWebhookEvent, type Db, type JsonValue, type TenantTx } from '@likeness/db';
import { DB } from '../infra/infra.module';
import { WebhookQueue } from './webhook.queue';

/** What `emit` wrote: one delivery per subscribed, enabled endpoint of the tenant. */
export interface WebhookEmission {
  /** The event's id (`id` of the body every endpoint receives). */
  eventId: string;
  deliveryIds: string[];
  /**
   * Enqueues the deliveries. Call it after your transaction committed (never inside it: a job
   * could run before the rows are visible). Never throws. Without it, the sweeper delivers them
   * after WEBHOOK_SWEEP_GRACE_MS.
   */
  enqueue(): Promise<void>;
}

/**
 * The webhook API for other modules: `emit` records an event for every endpoint of the tenant
 * subscribed to it (outbox rows), in the caller's transaction when given, so the event exists
 * if and only if the change it reports committed.
 *
 * ```ts
 * const emission = await db.withTenant(tenantId, async (tx) => {
 *   // … the state change, through tx …
 *   return webhooks.emit(tx, tenantId, WebhookEventType.RenderSucceeded, { render: { id } });
 * });
 * await emission.enqueue(); // after the commit
 * ```
 */
@Injectable()
export class WebhooksService {
  constructor(
    @Inject(DB) private readonly db: Db,
    private readonly queue: WebhookQueue,
  ) {}

  /**
   * With `tx` (a `db.withTenant` transaction of the same tenant), the rows commit with it and
   * the caller calls `enqueue()` after the commit; without one, `emit` uses its own transaction
   * and has enqueued by the time it resolves. `data` becomes the body's `data`.
   */
  async emit(
    tx: TenantTx | null | undefined,
    tenantId: string,
    eventType: WebhookEventType,
    data: JsonValue,
  ): Promise<WebhookEmission> {
    // A programming error, not the caller's input: the type system already restricts it.
    if (!isWebhookEventType(eventType)) throw new Error(`unknown webhook event type ${eventType}`);
    const event = { eventType, data };
    const emitted = tx
      ? await insertWebhookEvent(tx, tenantId, event)
      : await this.db.webhooks.emit(tenantId, event);
    let enqueued: Promise<void> | undefined;
    const emission: WebhookEmission = {
      eventId: emitted.eventId,
      deliveryIds: emitted.deliveries.map((d) => d.id),
      enqueue: () =>
        (enqueued ??= this.queue
          .enqueue(emitted.deliveries.map((d) => ({ tenantId, deliveryId: d.id, attempts: 0 })))
          .then(() => undefined)),
    };
    if (!tx) await emission.enqueue();
    return emission;
  }
}
