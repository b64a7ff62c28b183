import type { RateLimitDecision } from './rate-limits';

/** What the protection layer learned about one request, for the guard and the headers. */
export interface ProtectionState {
  /**
   * Rate-limit key of the client address of a request that brought credentials: it counts
   * against the address only if it ends without a principal (failed authentication, or a public
   * operation), when its answer is sent.
   */
  deferredIpKey?: string;
  /** The decision the RateLimit-* headers report: the principal's if any, else the address's. */
  decision?: RateLimitDecision;
  /** The principal's check, shared by every guarded resolver of one GraphQL request. */
  principalCheck?: Promise<RateLimitDecision>;
}

const states = new WeakMap<object, ProtectionState>();

/** The state of a request (a Fastify request, or graphql-ws's per-operation request object). */
export function protectionStateOf(request: object): ProtectionState {
  let state = states.get(request);
  if (!state) {
    state = {};
    states.set(request, state);
  }
  return state;
}

/** The state of a request if the protection layer has seen it, without making one. */
export function existingProtectionStateOf(request: object): ProtectionState | undefined {
  return states.get(request);
}

/** Paths whose requests count against the limits: the API, not probes or metrics. */
export function isRateLimitedPath(url: string | undefined): boolean {
  // graphql-ws operations carry no URL: they are GraphQL, hence limited.
  if (url === undefined) return true;
  return (
    url === '/graphql' ||
    url.startsWith('/graphql?') ||
    url.startsWith('/graphql/') ||
    url.startsWith('/v1/')
  );
}

/** The RateLimit-* (and, when refused, Retry-After) headers for a decision. */
export function rateLimitHeaders(decision: RateLimitDecision): Record<string, string> {
  return {
    'ratelimit-limit': String(decision.limit),
    'ratelimit-remaining': String(decision.remaining),
    'ratelimit-reset': String(decision.resetSeconds),
    ...(decision.allowed ? {} : { 'retry-after': String(decision.resetSeconds) }),
  };
}
