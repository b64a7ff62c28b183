import { Module } from '@nestjs/common';
import { GraphQLMetricsPlugin } from './graphql-metrics.plugin';
import { GatewayMetrics } from './metrics';
import { MetricsController } from './metrics.controller';

/**
 * Prometheus metrics (GET /metrics, GraphQL plugin). The access log and HTTP metrics hooks and
 * the pino logger itself are set up by createGateway (bootstrap.ts).
 */
@Module({
  providers: [GatewayMetrics, GraphQLMetricsPlugin],
  controllers: [MetricsController],
  exports: [GatewayMetrics],
})
export class ObservabilityModule {}
