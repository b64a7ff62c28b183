import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { RedisPubSub } from 'graphql-redis-subscriptions';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { PUB_SUB } from './tokens';

/**
 * Cross-replica events for GraphQL subscriptions. Every channel is `<REDIS_PREFIX>:<topic>`, so
 * test runs and deployments sharing a Redis stay apart. (graphql-redis-subscriptions applies
 * its `triggerTransform` to subscribe but not to publish, so the prefix is added here, once,
 * for both.)
 */
@Injectable()
export class EventBus implements OnApplicationShutdown {
  constructor(
    @Inject(PUB_SUB) private readonly pubSub: RedisPubSub,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  publish<T>(topic: string, payload: T): Promise<void> {
    return this.pubSub.publish(this.channel(topic), payload);
  }

  /** What a @Subscription resolver returns: the events of one topic, from every replica. */
  listen<T>(topic: string): AsyncIterableIterator<T> {
    return this.pubSub.asyncIterableIterator(this.channel(topic)) as AsyncIterableIterator<T>;
  }

  /**
   * Calls `onMessage` for every event of one topic from now on: resolves once Redis confirmed
   * the subscription (so nothing published afterwards is missed), with the function that ends it.
   * For subscriptions that replay stored events before going live (renders).
   */
  async subscribe<T>(topic: string, onMessage: (payload: T) => void): Promise<() => void> {
    const id = await this.pubSub.subscribe<T>(this.channel(topic), onMessage);
    return () => this.pubSub.unsubscribe(id);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pubSub.close().catch(() => undefined);
  }

  private channel(topic: string): string {
    return `${this.config.redisPrefix}:${topic}`;
  }
}
