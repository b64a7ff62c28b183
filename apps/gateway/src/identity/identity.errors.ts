import { ErrorCode } from '@likeness/contracts';
import { LikenessException } from '../errors/likeness.exception';

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

/** A unique value (email, slug) is taken; `field` names it. */
export class ConflictException extends LikenessException {
  constructor(field: string, message: string) {
    super(ErrorCode.CONFLICT, message, { field });
  }
}

export class RateLimitedException extends LikenessException {
  constructor(message: string, retryAfterSeconds: number) {
    super(ErrorCode.RATE_LIMITED, message, { retryAfterSeconds });
  }
}
