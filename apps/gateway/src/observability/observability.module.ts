import { Module } from '@nestjs/common';
import { GraphQLMetricsPlugin } from './graphql-metrics.plugin';
import { GatewayMetrics } from './metrics';
import { MetricsController } from './metrics.controller';
import { RenderMetrics } from './render-metrics';

/**
 * Prometheus metrics (GET /metrics, GraphQL plugin, render queue and workers). The access log
 * and HTTP metrics hooks and the pino logger itself are set up by createGateway (bootstrap.ts).
 */
@Module({
  providers: [GatewayMetrics, GraphQLMetricsPlugin, RenderMetrics],
  controllers: [MetricsController],
  exports: [GatewayMetrics, RenderMetrics],
})
export class ObservabilityModule {}
