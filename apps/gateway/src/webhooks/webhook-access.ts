import {
  applyDecorators,
  Injectable,
  UseGuards,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Access, ALL_SCOPES, TENANT_READERS, type Scope } from '../auth/access';
import { requestOf } from '../auth/auth.guard';
import { ForbiddenException } from '../errors/likeness.exception';

const READ_SCOPES: readonly Scope[] = ['webhooks:read', 'webhooks:write'];

/** Runs after the global AuthGuard: an API key needs webhooks:read OR webhooks:write. */
@Injectable()
export class WebhookReadScopeGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const principal = requestOf(context).principal;
    if (principal?.kind !== 'API_KEY') return true;
    const held = principal.scopes;
    if (held.includes(ALL_SCOPES) || READ_SCOPES.some((s) => held.includes(s))) return true;
    throw new ForbiddenException(
      'This API key lacks the scope webhooks:read (or webhooks:write)',
      'MISSING_SCOPE',
    );
  }
}

/**
 * Webhook queries: users with role TENANT_ADMIN or TENANT_VIEWER; API keys holding
 * `webhooks:read` or `webhooks:write` (whoever may change endpoints may see them). @Access
 * requires every listed scope, so it lists none here and the guard above checks for either.
 */
export const WebhookReaders = (): MethodDecorator =>
  applyDecorators(Access({ roles: TENANT_READERS, scopes: [] }), UseGuards(WebhookReadScopeGuard));
