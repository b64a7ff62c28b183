export { WebhooksModule } from './webhooks.module';
export { WebhooksService, type WebhookEmission } from './webhooks.service';
