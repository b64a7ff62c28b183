import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal';
import { pathOf, type GatewayLogger } from './logger';
import type { GatewayMetrics } from './metrics';
import { principalLogFields, requestOperationOf } from './request-log';

/** Probes and scrapes: counted, but logged at debug only (they come every few seconds). */
const QUIET_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * One access-log line per request ("request completed": request id, method, path, route,
 * status, duration, client address, GraphQL operation, and tenantId + apiKeyId or userId once
 * authenticated) and the HTTP metrics. Fastify's own request logging is off (createGateway).
 */
export function registerHttpObservability(fastify: FastifyInstance, metrics: GatewayMetrics): void {
  // The root logger, with the request id as the line's first field: the same line as through
  // request.log, without making that per-request child (see lazyChildLogger).
  const log = fastify.log as GatewayLogger;

  fastify.addHook('onResponse', (request, reply, done) => {
    observe(request, reply);
    done();
  });

  function observe(request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    metrics.observeHttp(request.method, route, status, ms / 1000);

    const level = status >= 500 ? 'error' : QUIET_ROUTES.has(route) ? 'debug' : 'info';
    if (!log.isLevelEnabled(level)) return;
    const principal = (request as FastifyRequest & { principal?: Principal }).principal;
    const operation = requestOperationOf(request);
    log[level](
      {
        requestId: request.id,
        method: request.method,
        path: pathOf(request.url),
        route,
        statusCode: status,
        durationMs: Math.round(ms * 100) / 100,
        ip: request.ip,
        ...(operation ? { operation } : {}),
        ...principalLogFields(principal),
      },
      'request completed',
    );
  }
}

// The Fastify that @nestjs/platform-fastify runs (it may carry its own copy): its options check
// `logController instanceof LogController` against its own class.
const { LogController } = createRequire(require.resolve('@nestjs/platform-fastify'))(
  'fastify',
) as typeof import('fastify');

/**
 * Fastify's log controller for the gateway: the request id logged as `requestId`, and no
 * "incoming request" / "request completed" lines of Fastify's own, since
 * registerHttpObservability writes one richer line per request. Fastify's error lines stay.
 */
export class GatewayLogController extends LogController {
  constructor() {
    super({ requestIdLogLabel: 'requestId' });
  }

  override incomingRequest(): void {
    // One line per request, at its end (registerHttpObservability).
  }

  override requestCompleted(): void {
    // Written by registerHttpObservability, with the principal and the GraphQL operation.
  }
}
