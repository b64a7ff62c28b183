import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Db, Render as RenderRow, RenderChange } from '@likeness/db';
import { DB } from '../infra/infra.module';
import { RenderMetrics } from '../observability/render-metrics';
import { WebhooksService, type WebhookEmission } from '../webhooks';
import { RenderRealtime } from './render.realtime';
import { webhookFor } from './render-transitions';
import { isFinished, renderWebhookData } from './render-view';

/**
 * Asks the admitter for a pass soon (a slot was freed, a render was queued). The admitter
 * listens; anything may kick. Kept apart so both can depend on it without a cycle.
 */
@Injectable()
export class DispatchTrigger {
  private readonly listeners: (() => void)[] = [];

  onKick(listener: () => void): void {
    this.listeners.push(listener);
  }

  kick(): void {
    for (const listener of this.listeners) listener();
  }
}

/**
 * Writes one change of a render the one way every change is written: under the render's row
 * lock (RenderRepository.change), with its RenderEvent row and, in the same transaction, the
 * webhook outbox rows (render.succeeded / failed / canceled, render.updated on status changes);
 * after the commit it asks the admitter for a pass when a slot was freed or a render queued,
 * then enqueues the webhooks and publishes the event to subscribers on every replica.
 */
@Injectable()
export class RenderChanges {
  private readonly logger = new Logger(RenderChanges.name);

  constructor(
    @Inject(DB) private readonly db: Db,
    private readonly webhooks: WebhooksService,
    private readonly realtime: RenderRealtime,
    private readonly trigger: DispatchTrigger,
    private readonly metrics: RenderMetrics,
  ) {}

  /** The changed render, or null when `decide` left it as it was (or it does not exist). */
  async apply(
    tenantId: string,
    renderId: string,
    decide: (current: RenderRow) => RenderChange | null,
  ): Promise<RenderRow | null> {
    const result = await this.db.renders.change(
      tenantId,
      renderId,
      decide,
      async (tx, render, event): Promise<WebhookEmission | null> => {
        const type = webhookFor(event.type);
        return type ? this.webhooks.emit(tx, tenantId, type, renderWebhookData(render)) : null;
      },
    );
    if (!result) return null;
    await this.afterCommit(result.render, result.event, result.after ?? null);
    return result.render;
  }

  /** What follows every committed change (also used by createRender's first event). */
  async afterCommit(
    render: RenderRow,
    event: Parameters<RenderRealtime['publish']>[0],
    emission: WebhookEmission | null,
  ): Promise<void> {
    if (isFinished(render.status)) this.metrics.finished(render);
    // First: the admission pass (a freed slot, a queued render) need not wait for Redis.
    if (
      isFinished(render.status) ||
      event.type === 'render.requeued' ||
      (event.type === 'render.queued' && render.admittedAt === null)
    ) {
      this.trigger.kick();
    }
    if (emission) await emission.enqueue();
    await this.realtime.publish(event);
    this.logger.debug?.(`render ${render.id}: ${event.type} (#${event.sequence})`);
  }
}
