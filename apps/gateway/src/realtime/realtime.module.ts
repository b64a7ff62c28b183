import { Global, Module } from '@nestjs/common';
import { type PubSubRedisOptions, RedisPubSub } from 'graphql-redis-subscriptions';
import { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { EventBus } from './event-bus';
import { TenantEvents } from './tenant-events';
import { TenantUpdatedResolver } from './tenant-updated.resolver';
import { PUB_SUB } from './tokens';

type RedisClient = NonNullable<PubSubRedisOptions['publisher']>;

/**
 * GraphQL subscriptions across replicas: Redis pub/sub through graphql-redis-subscriptions, on
 * two dedicated connections (a subscribed connection can do nothing else).
 */
@Global()
@Module({
  providers: [
    {
      provide: PUB_SUB,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): RedisPubSub => {
        // The library is typed against its own (nested) ioredis 5; it only calls publish,
        // subscribe, unsubscribe and on('message'), which ioredis 6 keeps as they were.
        const connect = (): RedisClient =>
          new Redis(config.redisUrl, { maxRetriesPerRequest: 1 }) as unknown as RedisClient;
        return new RedisPubSub({ publisher: connect(), subscriber: connect() });
      },
    },
    EventBus,
    TenantEvents,
    TenantUpdatedResolver,
  ],
  exports: [EventBus, TenantEvents],
})
export class RealtimeModule {}
