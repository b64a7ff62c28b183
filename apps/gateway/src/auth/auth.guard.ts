import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext, type GqlContextType } from '@nestjs/graphql';
import { UnauthenticatedException } from '../errors/likeness.exception';
import { ApiKeyAuthService } from './api-key-auth.service';
import { IS_PUBLIC } from './public.decorator';
import type { RequestWithPrincipal } from './principal';

/** Global guard: every GraphQL operation and route needs a valid bearer unless @Public(). */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly apiKeys: ApiKeyAuthService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;
    const req = requestOf(context);
    if (req.principal) return true;
    const header = req.headers['authorization'];
    const value = Array.isArray(header) ? header[0] : header;
    const match = value ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
    if (!match?.[1]) throw new UnauthenticatedException();
    const token = match[1];
    if (!ApiKeyAuthService.looksLikeApiKey(token)) {
      throw new UnauthenticatedException(
        'Unknown credential type (expected an API key lk_live_… / lk_test_…)',
      );
    }
    req.principal = await this.apiKeys.authenticate(token);
    return true;
  }
}

export function requestOf(context: ExecutionContext): RequestWithPrincipal {
  if (context.getType<GqlContextType>() === 'graphql') {
    return GqlExecutionContext.create(context).getContext<{ req: RequestWithPrincipal }>().req;
  }
  return context.switchToHttp().getRequest<RequestWithPrincipal>();
}
