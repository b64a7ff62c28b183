import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { requestOf } from './auth.guard';
import type { Principal } from './principal';

function principalOf(context: ExecutionContext): Principal {
  const principal = requestOf(context).principal;
  // A guard let a request through without a principal: a wiring bug, never the caller's fault.
  if (!principal) throw new Error('No principal on an authenticated route');
  return principal;
}

/** The caller's principal (API key now; users and sessions come with the gateway-core issue). */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext) =>
  principalOf(ctx),
);

/** The tenant id every tenant-scoped resolver must pass to its repositories. */
export const CurrentTenant = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): string => principalOf(ctx).tenant.id,
);
