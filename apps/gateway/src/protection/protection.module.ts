import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { GraphQLLimitsPlugin } from './graphql-limits.plugin';
import { RateLimitGuard } from './rate-limit.guard';
import { RateLimitedFilter } from './rate-limited.filter';
import { RateLimitService } from './rate-limits';

/**
 * Rate limits, GraphQL limits. Import after AuthModule: global guards run in registration
 * order, and the RateLimitGuard needs the principal the AuthGuard sets. The Fastify side
 * (hooks, helmet, CORS) is registered by createGateway (bootstrap.ts).
 */
@Module({
  providers: [
    RateLimitService,
    GraphQLLimitsPlugin,
    { provide: APP_GUARD, useClass: RateLimitGuard },
    { provide: APP_FILTER, useClass: RateLimitedFilter },
  ],
  exports: [RateLimitService],
})
export class ProtectionModule {}
