import { ErrorCode } from '@likeness/contracts';
import { LikenessException, RateLimitedException } from '../errors/likeness.exception';

/** Which limit a caller ran into (extensions.reason). */
export type RateLimitScope = 'API_KEY' | 'USER' | 'IP';

/** A request over the per-key, per-user or per-IP request rate (HTTP 429). */
export class RequestRateLimitedException extends RateLimitedException {
  constructor(retryAfterSeconds: number, scope: RateLimitScope) {
    const who =
      scope === 'IP' ? 'this client address' : scope === 'API_KEY' ? 'this API key' : 'this user';
    super(
      `Too many requests from ${who}; retry after ${retryAfterSeconds} s`,
      retryAfterSeconds,
      `${scope}_RATE_LIMIT`,
    );
  }
}

/** Why a GraphQL request was refused before execution (extensions.reason). */
export type QueryRejection =
  | 'QUERY_TOO_LARGE'
  | 'QUERY_TOO_DEEP'
  | 'QUERY_TOO_COMPLEX'
  | 'TOO_MANY_ALIASES'
  | 'TOO_MANY_OPERATIONS';

/** BAD_USER_INPUT (HTTP 400) on the `query` field: the request is too big to run. */
export class QueryRejectedException extends LikenessException {
  constructor(message: string, reason: QueryRejection) {
    super(ErrorCode.BAD_USER_INPUT, message, { field: 'query', reason });
  }
}
