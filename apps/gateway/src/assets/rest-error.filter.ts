import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Logger,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '@likeness/contracts';
import { LikenessException, httpStatusOf } from '../errors/likeness.exception';
import { restErrorBody } from '../protection/error-response';
import { httpStatusOverride } from './asset.errors';

const NEST_STATUS_CODES: Readonly<Record<number, ErrorCode>> = {
  400: ErrorCode.BAD_USER_INPUT,
  401: ErrorCode.UNAUTHENTICATED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  409: ErrorCode.CONFLICT,
  429: ErrorCode.RATE_LIMITED,
};

/**
 * Errors of the /v1/assets routes (including the guard's 401/403) as
 * `{"error":{"code","message","field"?,"reason"?,"requestId"}}` with the code's HTTP status
 * (413 and 410 where the exception says so). Anything unexpected is logged and answered as
 * INTERNAL without internals. When the request body was not read to the end (refused before or
 * while streaming), the connection is closed after the answer rather than drained.
 */
@Catch()
export class AssetRestErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Assets');

  catch(exception: unknown, host: ArgumentsHost): void {
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const error = this.toLikeness(exception, request.id);
    const status = httpStatusOverride(error) ?? httpStatusOf(error.code);
    if (!request.raw.complete) void reply.header('connection', 'close');
    void reply
      .status(status)
      .type('application/json; charset=utf-8')
      .send(restErrorBody(error, request.id));
  }

  private toLikeness(exception: unknown, requestId: string): LikenessException {
    if (exception instanceof LikenessException) return exception;
    if (exception instanceof HttpException) {
      const code = NEST_STATUS_CODES[exception.getStatus()];
      if (code) return new LikenessException(code, exception.message);
    }
    this.logger.error(
      exception instanceof Error ? (exception.stack ?? exception.message) : String(exception),
    );
    return new LikenessException(ErrorCode.INTERNAL, `Internal error (request ${requestId})`);
  }
}
