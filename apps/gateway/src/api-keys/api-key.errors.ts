import { ErrorCode } from '@likeness/contracts';
import { LikenessException } from '../errors/likeness.exception';

/** BAD_USER_INPUT naming the offending argument or input field (`extensions.field`). */
export class ApiKeyInputException extends LikenessException {
  constructor(field: string, message: string) {
    super(ErrorCode.BAD_USER_INPUT, message, { field });
  }
}

/** Unknown id, or another tenant's key: the two are indistinguishable on purpose. */
export class ApiKeyNotFoundException extends LikenessException {
  constructor() {
    super(ErrorCode.NOT_FOUND, 'No such API key');
  }
}

/** The key's state does not allow the operation (e.g. rotating a revoked or expired key). */
export class ApiKeyConflictException extends LikenessException {
  constructor(message: string) {
    super(ErrorCode.CONFLICT, message);
  }
}

/** An API key tried to grant scopes it does not hold itself. */
export class ScopeNotHeldException extends LikenessException {
  constructor(missing: readonly string[]) {
    super(
      ErrorCode.FORBIDDEN,
      `An API key cannot grant scopes it does not hold: ${missing.join(', ')}`,
      { reason: 'SCOPE_NOT_HELD', field: 'scopes' },
    );
  }
}
