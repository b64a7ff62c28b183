import type { FastifyReply, FastifyRequest } from 'fastify';
import { httpStatusOf, type LikenessException } from '../errors/likeness.exception';

const GRAPHQL_RESPONSE = 'application/graphql-response+json';

/** Whether a request is for the GraphQL endpoint (so errors take the GraphQL shape). */
export function isGraphQLRequest(request: FastifyRequest): boolean {
  const path = request.url.split('?', 1)[0];
  return path === '/graphql' || path === '/graphql/';
}

/**
 * Answers a request that the protection layer refused before it reached Apollo or a controller,
 * in the shape the caller expects: GraphQL `{ errors: [{ message, extensions }] }` on /graphql
 * (GraphQL-over-HTTP, with its status code), `{ error: { code, message, … } }` on REST routes.
 */
export function sendLikenessError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: LikenessException,
): FastifyReply {
  const status = httpStatusOf(error.code);
  if (isGraphQLRequest(request)) {
    const accept = request.headers.accept ?? '';
    return reply
      .status(status)
      .type(
        accept.includes(GRAPHQL_RESPONSE)
          ? `${GRAPHQL_RESPONSE}; charset=utf-8`
          : 'application/json; charset=utf-8',
      )
      .send({
        errors: [
          {
            message: error.message,
            extensions: { code: error.code, ...error.extra, requestId: request.id },
          },
        ],
      });
  }
  return reply
    .status(status)
    .type('application/json; charset=utf-8')
    .send(restErrorBody(error, request.id));
}

/** The REST error body: `{ error: { code, message, …extra, requestId } }`. */
export function restErrorBody(
  error: LikenessException,
  requestId: string | undefined,
): { error: Record<string, unknown> } {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...error.extra,
      ...(requestId ? { requestId } : {}),
    },
  };
}
