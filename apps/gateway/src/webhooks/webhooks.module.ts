import { Global, Module } from '@nestjs/common';
import { WebhookReadScopeGuard } from './webhook-access';
import { WebhookDeliverer } from './webhook-deliverer';
import { WebhookEndpointsService } from './webhook-endpoints.service';
import { WebhookSecretBox } from './webhook-secrets';
import { WebhookQueue } from './webhook.queue';
import { WebhookSweeper } from './webhook.sweeper';
import { WebhookWorker } from './webhook.worker';
import { WebhooksResolver } from './webhooks.resolver';
import { WebhooksService } from './webhooks.service';

/**
 * Webhooks: endpoint management (GraphQL), `WebhooksService.emit` for the modules that report
 * events (outbox rows in their transaction), the delivery worker on the `webhook` queue and
 * the sweeper that re-enqueues lost deliveries. Global so any module can inject WebhooksService.
 */
@Global()
@Module({
  providers: [
    WebhookSecretBox,
    WebhookQueue,
    WebhookDeliverer,
    WebhookWorker,
    WebhookSweeper,
    WebhookEndpointsService,
    WebhookReadScopeGuard,
    WebhooksService,
    WebhooksResolver,
  ],
  exports: [WebhooksService],
})
export class WebhooksModule {}
