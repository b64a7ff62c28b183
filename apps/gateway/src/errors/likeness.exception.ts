import { ErrorCode } from '@likeness/contracts';

/**
 * Base of every error the gateway means to show a caller. Modules throw subclasses with their
 * own code; the GraphQL error formatter and the HTTP exception filter turn them into
 * `extensions.code` (API.md). Anything else becomes INTERNAL without internals.
 */
export class LikenessException extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Readonly<{ field?: string; retryAfterSeconds?: number; reason?: string }> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class UnauthenticatedException extends LikenessException {
  constructor(
    message = 'Authentication required: send Authorization: Bearer <api key or session token>',
  ) {
    super(ErrorCode.UNAUTHENTICATED, message);
  }
}

export class ForbiddenException extends LikenessException {
  constructor(message: string, reason?: string) {
    super(ErrorCode.FORBIDDEN, message, reason ? { reason } : {});
  }
}

/** HTTP status for the GraphQL-over-HTTP response and for REST endpoints. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.UNAUTHENTICATED:
      return 401;
    case ErrorCode.FORBIDDEN:
      return 403;
    case ErrorCode.NOT_FOUND:
      return 404;
    case ErrorCode.BAD_USER_INPUT:
    case ErrorCode.UNSUPPORTED_BY_MODEL:
      return 400;
    case ErrorCode.QUOTA_EXCEEDED:
    case ErrorCode.SPEND_CAP_EXCEEDED:
      return 402;
    case ErrorCode.RATE_LIMITED:
      return 429;
    case ErrorCode.CONFLICT:
      return 409;
    case ErrorCode.INTERNAL:
      return 500;
  }
}
