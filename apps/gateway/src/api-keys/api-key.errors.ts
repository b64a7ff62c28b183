import { ErrorCode } from '@likeness/contracts';
import {
  ConflictException,
  LikenessException,
  NotFoundException,
} from '../errors/likeness.exception';

/** Unknown id, or another tenant's key: the two are indistinguishable on purpose. */
export class ApiKeyNotFoundException extends NotFoundException {
  constructor() {
    super('No such API key');
  }
}

/** The key's state does not allow the operation (e.g. rotating a revoked or expired key). */
export class ApiKeyConflictException extends ConflictException {}

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
