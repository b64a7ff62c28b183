import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import fastifyCors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import type { AppConfig } from './config/config';
import { AppModule } from './app.module';
import {
  corsOptions,
  helmetOptions,
  registerSecurityHeaders,
  isGraphQLRequest,
  RateLimitService,
  registerHttpProtection,
} from './protection';
import {
  createLogger,
  GatewayLogController,
  GatewayMetrics,
  lazyChildLogger,
  PinoNestLogger,
  registerHttpObservability,
} from './observability';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** JSON bodies (GraphQL, REST); uploads on /v1/assets stream with their own per-route limit. */
export const JSON_BODY_LIMIT_BYTES = 1024 * 1024;

export interface GatewayOptions {
  /** Where the JSON log lines go (default stdout); tests pass a stream to read them. */
  logDestination?: DestinationStream;
}

/**
 * TRUST_PROXY for Fastify. Since 5.12 Fastify refuses a bare hop count (it then trusts no proxy
 * at all); the same rule as a function keeps TRUST_PROXY=<n> meaning "the last n hops are our
 * proxies". Only sound when clients cannot reach the gateway around those proxies.
 */
function fastifyTrustProxy(
  trust: AppConfig['trustProxy'],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof trust === 'number' ? (_address, hop) => hop < trust : trust;
}

/** Creates the gateway application (not yet listening): used by main.ts and by tests. */
export async function createGateway(
  config: AppConfig,
  options: GatewayOptions = {},
): Promise<NestFastifyApplication> {
  const logger = createLogger(config.logLevel, options.logDestination);
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    logController: new GatewayLogController(),
    // request.log is made on first use (most requests never log through it).
    childLoggerFactory: lazyChildLogger,
    // Honour a caller's or proxy's request id when it is sane; otherwise make one.
    genReqId: (req: IncomingMessage) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    trustProxy: fastifyTrustProxy(config.trustProxy),
    // The default for every content-type parser; a route may set its own (uploads do).
    bodyLimit: JSON_BODY_LIMIT_BYTES,
  });
  // One fastify for the workspace and Nest's adapter (package.json `overrides`): Nest's own pin
  // lagged behind and cost every request an AsyncResource.bind deprecation wrapper.
  const fastify = adapter.getInstance<FastifyInstance>();
  fastify.addHook('onSend', (request, reply, payload, done) => {
    void reply.header('x-request-id', request.id);
    done(null, payload);
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forConfig(config),
    adapter,
    { logger: config.logLevel === 'silent' ? false : new PinoNestLogger(logger) },
  );
  // Order matters: CORS and security headers first, so even refusals carry them; then the
  // rate limits and query-size check; the access log and metrics see every response.
  await fastify.register(fastifyCors, corsOptions(config.corsOrigins));
  registerSecurityHeaders(fastify, helmetOptions());
  const metrics = app.get(GatewayMetrics);
  registerHttpProtection(fastify, app.get(RateLimitService), config, (request, error) => {
    if (isGraphQLRequest(request)) metrics.countGraphQLError(error.code);
  });
  registerHttpObservability(fastify, metrics);
  return app;
}
