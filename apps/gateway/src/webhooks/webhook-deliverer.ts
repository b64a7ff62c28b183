import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import {
  WebhookEventType,
  WebhookHeader,
  webhookSignatureHeader,
  type WebhookEvent,
} from '@likeness/contracts';
import type { ClaimedWebhookDelivery, Db, JsonObject } from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { DB } from '../infra/infra.module';
import { nextAttemptAt, shouldDisable } from './retry-policy';
import { SecretUnreadableError, WebhookSecretBox } from './webhook-secrets';
import { WebhookSender, type SendResult } from './webhook-sender';
import { WebhookQueue } from './webhook.queue';

export type DeliveryOutcome =
  'DELIVERED' | 'RETRY_SCHEDULED' | 'FAILED' | 'ENDPOINT_DISABLED' | 'SKIPPED';

export const USER_AGENT = 'Likeness-Webhooks/1.0';

/**
 * One attempt of one delivery (a `webhook.deliver` job): claim it in Postgres, POST the signed
 * body, log the attempt, schedule the next one or finish, and disable the endpoint when its
 * failures meet the rule. Failures of the endpoint are outcomes, not exceptions; only our own
 * (database unreachable) throw, so BullMQ retries the job.
 */
@Injectable()
export class WebhookDeliverer implements OnModuleDestroy {
  private readonly logger = new Logger(WebhookDeliverer.name);
  private readonly sender: WebhookSender;

  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly secrets: WebhookSecretBox,
    private readonly queue: WebhookQueue,
  ) {
    this.sender = new WebhookSender(config.webhooks, config.webhooks.timeoutMs);
  }

  async deliver(tenantId: string, deliveryId: string): Promise<DeliveryOutcome> {
    const { timeoutMs } = this.config.webhooks;
    const claim = await this.db.webhooks.claimDelivery(tenantId, deliveryId, {
      // Longer than any attempt, so a running attempt is never re-enqueued by the sweeper.
      leaseMs: timeoutMs + 30_000,
    });
    if (claim.kind === 'skipped') return 'SKIPPED';
    if (claim.kind === 'endpoint_disabled') return 'ENDPOINT_DISABLED';

    const result = await this.attempt(claim);
    const { delivery } = claim;
    const now = new Date(result.startedAt.getTime() + result.durationMs);
    const succeeded = result.error === null;
    const retryAt = succeeded
      ? null
      : nextAttemptAt(delivery.createdAt, delivery.attempts, now, this.config.webhooks.retry);
    const recorded = await this.db.webhooks.recordAttempt(tenantId, deliveryId, {
      attempt: delivery.attempts,
      startedAt: result.startedAt,
      durationMs: result.durationMs,
      responseStatus: result.status,
      error: result.error,
      outcome: succeeded ? 'SUCCEEDED' : retryAt ? 'RETRY' : 'FAILED',
      nextAttemptAt: retryAt,
      countsAgainstEndpoint: !result.ours,
    });
    if (!recorded) return 'SKIPPED'; // deleted meanwhile (with its endpoint)

    if (!succeeded && !recorded.endpoint.disabled) {
      await this.disableIfFailing(tenantId, claim, recorded.endpoint, now);
    }
    if (recorded.delivery.status === 'PENDING' && retryAt) {
      await this.queue.enqueue([
        {
          tenantId,
          deliveryId,
          attempts: recorded.delivery.attempts,
          delayMs: retryAt.getTime() - Date.now(),
        },
      ]);
      return 'RETRY_SCHEDULED';
    }
    return recorded.delivery.status === 'SUCCEEDED' ? 'DELIVERED' : 'FAILED';
  }

  /** The POST itself; `ours` marks failures that are not the endpoint's fault. */
  private async attempt(claim: ClaimedWebhookDelivery): Promise<SendResult & { ours: boolean }> {
    const { delivery, endpoint } = claim;
    const body = JSON.stringify(eventBody(delivery.payload));
    let secrets: string[];
    try {
      secrets = [await this.secrets.open(endpoint.tenantId, endpoint.id, endpoint.secret)];
      const previous = endpoint.previousSecret;
      const expires = endpoint.previousSecretExpiresAt;
      if (previous && expires && expires.getTime() > Date.now()) {
        secrets.push(await this.secrets.open(endpoint.tenantId, endpoint.id, previous));
      }
    } catch (error) {
      if (!(error instanceof SecretUnreadableError)) throw error;
      this.logger.error(`webhook endpoint ${endpoint.id}: ${error.message}`);
      return {
        startedAt: new Date(),
        durationMs: 0,
        status: null,
        error: error.message,
        ours: true,
      };
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const result = await this.sender.post(
      endpoint.url,
      {
        'content-type': 'application/json',
        'user-agent': USER_AGENT,
        [WebhookHeader.Signature.toLowerCase()]: webhookSignatureHeader(secrets, timestamp, body),
        [WebhookHeader.Event.toLowerCase()]: delivery.eventType,
        [WebhookHeader.Delivery.toLowerCase()]: delivery.id,
        [WebhookHeader.Attempt.toLowerCase()]: String(delivery.attempts),
      },
      body,
    );
    return { ...result, ours: false };
  }

  private async disableIfFailing(
    tenantId: string,
    claim: ClaimedWebhookDelivery,
    run: { failureCount: number; failingSince: Date | null },
    now: Date,
  ): Promise<void> {
    const rule = this.config.webhooks.disable;
    if (!shouldDisable(run, rule, now)) return;
    const { endpoint } = claim;
    const disabled = await this.db.webhooks.disableFailingEndpoint(tenantId, endpoint.id, {
      minFailures: rule.afterFailures,
      failingSinceAtOrBefore: new Date(now.getTime() - rule.afterSeconds * 1000),
      now,
      event: {
        eventType: WebhookEventType.WebhookEndpointDisabled,
        data: {
          endpoint: { id: endpoint.id, url: endpoint.url, disabledAt: now.toISOString() },
          reason: 'FAILING',
          consecutiveFailures: run.failureCount,
          failingSince: run.failingSince?.toISOString() ?? null,
        },
      },
    });
    if (!disabled) return;
    this.logger.warn(
      `webhook endpoint ${endpoint.id} of tenant ${tenantId} disabled after ${run.failureCount} consecutive failures`,
    );
    await this.queue.enqueue(
      disabled.emitted.deliveries.map((d) => ({ tenantId, deliveryId: d.id, attempts: 0 })),
    );
  }

  onModuleDestroy(): void {
    this.sender.close();
  }
}

/** The body as sent, with its keys in the documented order (jsonb does not keep order). */
export function eventBody(payload: JsonObject): WebhookEvent {
  return {
    id: String(payload['id']),
    type: String(payload['type']),
    createdAt: String(payload['createdAt']),
    data: payload['data'] ?? null,
  };
}
