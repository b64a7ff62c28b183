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

/** The caller's input is wrong; `field` names the argument or input field (API.md). */
export class BadUserInputException extends LikenessException {
  constructor(field: string, message: string) {
    super(ErrorCode.BAD_USER_INPUT, message, { field });
  }
}

/** No such object, or another tenant's (never FORBIDDEN for those). */
export class NotFoundException extends LikenessException {
  constructor(message: string, field?: string) {
    super(ErrorCode.NOT_FOUND, message, field ? { field } : {});
  }
}

/** The object's state or a unique value forbids the change; `field` names it when there is one. */
export class ConflictException extends LikenessException {
  constructor(message: string, field?: string) {
    super(ErrorCode.CONFLICT, message, field ? { field } : {});
  }
}

/** RATE_LIMITED with `retryAfterSeconds`, as API.md binds it; `reason` says which limit. */
export class RateLimitedException extends LikenessException {
  constructor(message: string, retryAfterSeconds: number, reason?: string) {
    super(ErrorCode.RATE_LIMITED, message, { retryAfterSeconds, ...(reason ? { reason } : {}) });
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
