import type { GraphQLFormattedError } from 'graphql';
import { ErrorCode, isErrorCode } from '@likeness/contracts';
import { LikenessException } from './likeness.exception';

/** Apollo's own codes for requests that never reached a resolver: all are the caller's input. */
const APOLLO_INPUT_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'BAD_REQUEST',
]);

/**
 * Maps any error to the public shape: `extensions.code` from API.md, `field` for input errors,
 * and for unknown errors a generic message with the request id (the details go to the log).
 */
export function formatGraphQLError(
  formatted: GraphQLFormattedError,
  original: unknown,
  requestId: string | undefined,
  logUnexpected: (err: unknown) => void,
): GraphQLFormattedError {
  const cause = unwrap(original);
  if (cause instanceof LikenessException) {
    return {
      message: cause.message,
      ...(formatted.path ? { path: formatted.path } : {}),
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      extensions: { code: cause.code, ...cause.extra, ...(requestId ? { requestId } : {}) },
    };
  }
  const apolloCode = formatted.extensions?.['code'];
  if (typeof apolloCode === 'string' && APOLLO_INPUT_CODES.has(apolloCode)) {
    return {
      message: formatted.message,
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      extensions: { code: ErrorCode.BAD_USER_INPUT, ...(requestId ? { requestId } : {}) },
    };
  }
  if (
    typeof apolloCode === 'string' &&
    isErrorCode(apolloCode) &&
    apolloCode !== ErrorCode.INTERNAL
  ) {
    return {
      ...formatted,
      extensions: { ...formatted.extensions, ...(requestId ? { requestId } : {}) },
    };
  }
  logUnexpected(cause ?? formatted);
  return {
    message: `Internal error${requestId ? ` (request ${requestId})` : ''}`,
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { code: ErrorCode.INTERNAL, ...(requestId ? { requestId } : {}) },
  };
}

function unwrap(err: unknown): unknown {
  let current = err;
  for (let i = 0; i < 5 && current && typeof current === 'object'; i++) {
    if (current instanceof LikenessException) return current;
    const next = (current as { originalError?: unknown }).originalError;
    if (!next) break;
    current = next;
  }
  return current;
}
