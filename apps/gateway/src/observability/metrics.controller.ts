import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/public.decorator';
import { GatewayMetrics } from './metrics';

/**
 * Prometheus scrape endpoint. Public like the health probes (it shows counts, never tenants'
 * data or ids); in production expose it only to the cluster, not through the ingress.
 */
@Public()
@Controller()
export class MetricsController {
  constructor(private readonly metrics: GatewayMetrics) {}

  @Get('metrics')
  async scrape(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    const { contentType, body } = await this.metrics.exposition();
    void reply.header('content-type', contentType).header('cache-control', 'no-store');
    return body;
  }
}
