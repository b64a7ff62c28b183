import type { QueueName } from '@likeness/contracts';
import { Queue } from 'bullmq';

export interface LazyQueueOptions {
  redisUrl: string;
  /** BullMQ key prefix (the gateway's REDIS_PREFIX). */
  prefix: string;
  logger: { warn(message: string): void };
}

/**
 * A BullMQ queue the gateway adds jobs to, opened on first use (tools and tests that never
 * enqueue never connect), failing fast (one retry per command) and logging connection errors
 * instead of throwing them. `close()` on module shutdown.
 */
export class LazyQueue {
  private queue: Queue | undefined;

  constructor(
    private readonly name: QueueName,
    private readonly options: LazyQueueOptions,
  ) {}

  get(): Queue {
    if (!this.queue) {
      const queue = new Queue(this.name, {
        connection: { url: this.options.redisUrl, maxRetriesPerRequest: 1 },
        prefix: this.options.prefix,
      });
      queue.on('error', (error) =>
        this.options.logger.warn(`${this.name} queue: ${error.message}`),
      );
      this.queue = queue;
    }
    return this.queue;
  }

  async close(): Promise<void> {
    await this.queue?.close();
  }
}
