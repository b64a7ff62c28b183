import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { requestOf } from '../auth/auth.guard';
import type { RequestWithPrincipal } from '../auth/principal';
import { RequestRateLimitedException } from './protection.errors';
import { RateLimitService } from './rate-limits';
import { isRateLimitedPath, protectionStateOf } from './request-state';

/**
 * Global guard registered after the AuthGuard: an authenticated request on /graphql or /v1/*
 * counts against its API key (or user) with the tenant plan's requestsPerMinute; once per
 * request, however many guarded resolvers a GraphQL document selects. Requests that end up
 * without a principal count against their client address instead (http-protection.ts).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(private readonly limits: RateLimitService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = requestOf(context) as RequestWithPrincipal & { url?: string };
    const principal = req.principal;
    if (!principal || !isRateLimitedPath(req.url)) return true;
    const state = protectionStateOf(req);
    state.principalCheck ??= this.limits.consumePrincipal(principal);
    const decision = await state.principalCheck;
    state.decision = decision;
    if (!decision.allowed)
      throw new RequestRateLimitedException(decision.resetSeconds, decision.scope);
    return true;
  }
}
