import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { createDb, type Db } from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';

export const DB = Symbol('DB');
export const REDIS = Symbol('REDIS');

/** Closes the shared clients when Nest shuts down (SIGTERM, tests). */
@Injectable()
class InfraLifecycle implements OnApplicationShutdown {
  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.db.close(), this.redis.quit()]);
  }
}

/**
 * The gateway's adapters to Postgres (through libs/db) and Redis. Both connect lazily, so the
 * process boots and answers /healthz while a dependency is down; /readyz tells the truth.
 */
@Global()
@Module({
  providers: [
    { provide: DB, inject: [APP_CONFIG], useFactory: (c: AppConfig): Db => createDb(c.database) },
    {
      provide: REDIS,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig): Redis =>
        new Redis(c.redisUrl, {
          lazyConnect: true,
          maxRetriesPerRequest: 1,
          enableOfflineQueue: true,
          // Rate-limit and cache commands of concurrent requests share round trips
          // (measured +18% gateway throughput in bench/gateway).
          enableAutoPipelining: true,
        }),
    },
    InfraLifecycle,
  ],
  exports: [DB, REDIS],
})
export class InfraModule {}
