import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { Worker, type Job } from 'bullmq';
import { JobName, QueueName, parseJobPayload } from '@likeness/contracts';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { WebhookDeliverer, type DeliveryOutcome } from './webhook-deliverer';

/**
 * The BullMQ consumer of the `webhook` queue, inside the gateway process (webhook delivery is
 * I/O, not GPU work). Off with WEBHOOK_WORKER=false (e.g. replicas that only serve requests).
 * It connects in the background, so a gateway boots while Redis is down.
 */
@Injectable()
export class WebhookWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WebhookWorker.name);
  private worker: Worker | undefined;
  private connected = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly deliverer: WebhookDeliverer,
  ) {}

  onApplicationBootstrap(): void {
    const { worker } = this.config.webhooks;
    if (!worker.enabled) return;
    this.worker = new Worker(QueueName.Webhook, (job: Job) => this.process(job), {
      connection: { url: this.config.redisUrl, maxRetriesPerRequest: null },
      prefix: this.config.redisPrefix,
      concurrency: worker.concurrency,
    });
    this.worker.on('failed', (job, error) =>
      this.logger.error(
        `webhook job ${job?.id ?? '?'} failed (attempt ${job?.attemptsMade ?? '?'}): ${error.message}`,
      ),
    );
    this.worker.on('error', (error) => this.logger.warn(`webhook worker: ${error.message}`));
    this.worker.on('ready', () => {
      this.connected = true;
    });
  }

  /** Resolves once the worker is connected and taking jobs (tests wait for it). */
  async ready(): Promise<void> {
    await this.worker?.waitUntilReady();
  }

  private async process(job: Job): Promise<DeliveryOutcome> {
    if (job.name !== JobName.WebhookDeliver) {
      throw new Error(`no handler for job ${job.name} on queue ${QueueName.Webhook}`);
    }
    const payload = parseJobPayload(JobName.WebhookDeliver, job.data);
    return this.deliverer.deliver(payload.tenantId, payload.deliveryId);
  }

  /**
   * Stops taking jobs and lets running attempts finish (and record) before the pools close.
   * A worker that never reached Redis is closed at once: BullMQ's graceful close would wait
   * for the connection forever.
   */
  async onModuleDestroy(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    if (!this.connected) {
      await worker.close(true);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      worker.close().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), this.config.webhooks.timeoutMs + 5000);
      }),
    ]);
    clearTimeout(timer);
    if (!closed) this.logger.warn('webhook worker did not stop in time');
  }
}
