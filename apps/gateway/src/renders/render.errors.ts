import { ErrorCode } from '@likeness/contracts';
import {
  BadUserInputException,
  ConflictException,
  LikenessException,
  NotFoundException,
} from '../errors/likeness.exception';

/** Unknown id, or another tenant's render: the two are indistinguishable on purpose. */
export class RenderNotFoundException extends NotFoundException {
  constructor() {
    super('No such render', 'id');
  }
}

/** A RenderInput field is wrong; `field` is its path, e.g. `input.motion.expression`. */
export class RenderInputException extends BadUserInputException {}

/** The model pack cannot honour a control (never silently ignored). */
export class UnsupportedByModelException extends LikenessException {
  constructor(field: string, message: string) {
    super(ErrorCode.UNSUPPORTED_BY_MODEL, message, { field });
  }
}

/** A plan limit (QUOTA_EXCEEDED) or the API key's spend cap (SPEND_CAP_EXCEEDED). */
export class RenderQuotaException extends LikenessException {
  constructor(
    code: typeof ErrorCode.QUOTA_EXCEEDED | typeof ErrorCode.SPEND_CAP_EXCEEDED,
    message: string,
    readonly limit: string,
    field?: string,
  ) {
    super(code, message, { reason: limit, ...(field ? { field } : {}) });
  }
}

/** The same idempotency key was used with a different input, or the render is finished. */
export class RenderConflictException extends ConflictException {}
