import { CanActivate, ExecutionContext, Inject, Injectable, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext, type GqlContextType } from '@nestjs/graphql';
import { ForbiddenException, UnauthenticatedException } from '../errors/likeness.exception';
import { ACCESS_RULE, ALL_SCOPES, type AccessRule } from './access';
import { ApiKeyAuthService } from './api-key-auth.service';
import type { Principal, RequestWithPrincipal } from './principal';
import { IS_PUBLIC } from './public.decorator';

/** Resolves a bearer token that is not an API key (session tokens from `login`). */
export interface SessionAuthenticator {
  authenticate(token: string): Promise<Principal>;
}
export const SESSION_AUTHENTICATOR = Symbol('SESSION_AUTHENTICATOR');

/** The bearer token of an `Authorization` header value, or null. */
export function bearerToken(value: string | string[] | undefined): string | null {
  const header = Array.isArray(value) ? value[0] : value;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1] ?? null;
}

/**
 * Global guard: every GraphQL operation and route needs a valid bearer unless @Public(), and
 * must satisfy its @Access rule. The same guard runs for graphql-ws subscriptions, whose
 * context carries `connectionParams.authorization` as the request's Authorization header.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeyAuthService,
    @Optional()
    @Inject(SESSION_AUTHENTICATOR)
    private readonly sessions: SessionAuthenticator | null = null,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const req = requestOf(context);
    req.principal ??= await this.authenticate(req);
    const rule = this.reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_RULE, targets);
    if (rule) checkAccess(req.principal, rule);
    return true;
  }

  async authenticate(req: RequestWithPrincipal): Promise<Principal> {
    const token = bearerToken(req.headers['authorization']);
    if (!token) throw new UnauthenticatedException();
    if (ApiKeyAuthService.looksLikeApiKey(token)) return this.apiKeys.authenticate(token);
    if (this.sessions) return this.sessions.authenticate(token);
    throw new UnauthenticatedException(
      'Unknown credential type (expected an API key lk_live_… / lk_test_… or a session token)',
    );
  }
}

/** Throws FORBIDDEN (reason MISSING_SCOPE or ROLE_NOT_ALLOWED) unless the principal may pass. */
export function checkAccess(principal: Principal, rule: AccessRule): void {
  switch (principal.kind) {
    case 'API_KEY': {
      const needed = rule.scopes;
      if (!needed) {
        throw new ForbiddenException('API keys cannot do this; sign in as a user', 'USER_REQUIRED');
      }
      if (principal.scopes.includes(ALL_SCOPES)) return;
      const missing = needed.filter((s) => !principal.scopes.includes(s));
      if (missing.length > 0) {
        throw new ForbiddenException(
          `This API key lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
          'MISSING_SCOPE',
        );
      }
      return;
    }
    case 'USER':
      if (!rule.roles?.includes(principal.role)) {
        throw new ForbiddenException(
          `Your role ${principal.role} may not do this`,
          'ROLE_NOT_ALLOWED',
        );
      }
      return;
  }
}

export function requestOf(context: ExecutionContext): RequestWithPrincipal {
  if (context.getType<GqlContextType>() === 'graphql') {
    return GqlExecutionContext.create(context).getContext<{ req: RequestWithPrincipal }>().req;
  }
  return context.switchToHttp().getRequest<RequestWithPrincipal>();
}
