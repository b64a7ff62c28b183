import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ForbiddenException } from '../errors/likeness.exception';
import { requestOf } from './auth.guard';
import type { Principal } from './principal';

function principalOf(context: ExecutionContext): Principal {
  const principal = requestOf(context).principal;
  // A guard let a request through without a principal: a wiring bug, never the caller's fault.
  if (!principal) throw new Error('No principal on an authenticated route');
  return principal;
}

/** The caller's principal: an API key or a signed-in user. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext) =>
  principalOf(ctx),
);

/** The caller's tenant id, or null for a platform admin (who belongs to no tenant). */
export function tenantIdOf(principal: Principal): string | null {
  return principal.tenant?.id ?? null;
}

/**
 * The tenant id every tenant-scoped resolver must pass to its repositories. A platform admin
 * has no tenant, so tenant-scoped operations are FORBIDDEN to them (reason TENANT_REQUIRED).
 */
export const CurrentTenant = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  const tenantId = tenantIdOf(principalOf(ctx));
  if (!tenantId) {
    throw new ForbiddenException(
      'This operation acts on a tenant; platform admins have none',
      'TENANT_REQUIRED',
    );
  }
  return tenantId;
});
