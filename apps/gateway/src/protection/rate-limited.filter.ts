import { ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendLikenessError } from './error-response';
import { RequestRateLimitedException } from './protection.errors';

/**
 * REST routes (/v1/*) answer a RequestRateLimitedException from the RateLimitGuard with 429 and
 * `{"error":{"code":"RATE_LIMITED","retryAfterSeconds":n,…}}`; the onSend hook adds Retry-After.
 * In GraphQL the exception is handed back to Apollo, whose formatter shapes it.
 */
@Catch(RequestRateLimitedException)
export class RateLimitedFilter implements ExceptionFilter<RequestRateLimitedException> {
  catch(
    exception: RequestRateLimitedException,
    host: ArgumentsHost,
  ): RequestRateLimitedException | undefined {
    if (host.getType() !== 'http') return exception;
    const http = host.switchToHttp();
    sendLikenessError(
      http.getRequest<FastifyRequest>(),
      http.getResponse<FastifyReply>(),
      exception,
    );
    return undefined;
  }
}
