import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/principal';
import type { AppConfig } from '../config/config';
import type { LikenessException } from '../errors/likeness.exception';
import { clientAddressKey } from './client-address';
import { sendLikenessError } from './error-response';
import { QueryRejectedException, RequestRateLimitedException } from './protection.errors';
import type { RateLimitDecision, RateLimitService } from './rate-limits';
import {
  existingProtectionStateOf,
  isRateLimitedPath,
  protectionStateOf,
  rateLimitHeaders,
} from './request-state';

/**
 * Fastify hooks of the protection layer, registered on the root instance after CORS and helmet
 * (so refusals still carry their headers). On /graphql and /v1/*:
 * - onRequest: an address known to be over its limit is refused at once (no I/O); a request
 *   without credentials counts against its address before anything else runs, so anonymous
 *   floods never reach authentication or the database;
 * - (the RateLimitGuard counts an authenticated request against its API key or user);
 * - preHandler: a GraphQL document larger than GRAPHQL_MAX_QUERY_BYTES is refused unparsed;
 * - onSend: a request that brought credentials but ended without a principal (failed
 *   authentication, a public operation) counts against its address now, before its answer
 *   leaves; then RateLimit-Limit / -Remaining / -Reset, and Retry-After when refused.
 * So authenticated traffic costs one Redis round trip (its key's), anonymous traffic one (its
 * address's), and a partner's servers behind one address get their plan's rate.
 */
export function registerHttpProtection(
  fastify: FastifyInstance,
  limits: RateLimitService,
  config: AppConfig,
  /** Told of every refusal, e.g. to count GraphQL errors that never reached Apollo. */
  onRefused: (request: FastifyRequest, error: LikenessException) => void = () => undefined,
): void {
  const refuse = (request: FastifyRequest, reply: FastifyReply, decision: RateLimitDecision) => {
    const error = new RequestRateLimitedException(decision.resetSeconds, 'IP');
    onRefused(request, error);
    sendLikenessError(request, reply, error);
  };

  // Callback-style hooks: they run on every request, and most finish synchronously.
  fastify.addHook('onRequest', (request, reply, done) => {
    // CORS preflights carry no credentials and are answered by @fastify/cors.
    if (request.method === 'OPTIONS' || !isRateLimitedPath(request.url)) return done();
    const ipKey = clientAddressKey(request.ip);
    const state = protectionStateOf(request);
    const blocked = limits.blockedIp(ipKey);
    if (blocked) {
      state.decision = blocked;
      return refuse(request, reply, blocked);
    }
    if (request.headers.authorization !== undefined) {
      state.deferredIpKey = ipKey;
      return done();
    }
    limits.consumeIp(ipKey).then((decision) => {
      state.decision = decision;
      if (decision.allowed) return done();
      refuse(request, reply, decision);
    }, done);
  });

  const maxBytes = config.graphqlLimits.maxQueryBytes;
  fastify.addHook('preHandler', (request, reply, done) => {
    const query = request.routeOptions.url === '/graphql' ? documentOf(request) : undefined;
    const bytes = query === undefined ? 0 : Buffer.byteLength(query, 'utf8');
    if (bytes <= maxBytes) return done();
    const error = new QueryRejectedException(
      `The query is ${bytes} bytes; the maximum is ${maxBytes}`,
      'QUERY_TOO_LARGE',
    );
    onRefused(request, error);
    sendLikenessError(request, reply, error);
  });

  fastify.addHook('onSend', (request, reply, payload, done) => {
    const state = existingProtectionStateOf(request);
    if (!state) return done(null, payload);
    const principal = (request as FastifyRequest & { principal?: Principal }).principal;
    if (state.deferredIpKey === undefined || principal) {
      if (state.decision) void reply.headers(rateLimitHeaders(state.decision));
      return done(null, payload);
    }
    limits.consumeIp(state.deferredIpKey).then((decision) => {
      // This answer stands (it is already made); the address's next requests are refused.
      void reply.headers(rateLimitHeaders({ ...decision, allowed: true }));
      done(null, payload);
    }, done);
  });
}

/** The GraphQL document of a GET (query string) or POST (JSON body) request, if any. */
function documentOf(request: FastifyRequest): string | undefined {
  const source = request.method === 'GET' ? request.query : request.body;
  if (typeof source !== 'object' || source === null || Array.isArray(source)) return undefined;
  const query = (source as { query?: unknown }).query;
  return typeof query === 'string' ? query : undefined;
}
