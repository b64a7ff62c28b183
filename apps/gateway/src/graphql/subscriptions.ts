import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLError,
  type GraphQLFormattedError,
} from 'graphql';
import type { RequestWithPrincipal } from '../auth/principal';

/** What graphql-ws hands to `context` for every operation on a socket. */
interface GraphqlWsContext {
  connectionParams?: Readonly<Record<string, unknown>>;
  extra: { request: IncomingMessage };
}

/** `connectionParams.authorization` (or `Authorization`), trimmed; '' when absent. */
function connectionToken(params: Readonly<Record<string, unknown>> | undefined): string {
  const raw = params?.['authorization'] ?? params?.['Authorization'];
  return typeof raw === 'string' ? raw.trim() : '';
}

function isGraphqlWsContext(value: unknown): value is GraphqlWsContext {
  return (
    typeof value === 'object' &&
    value !== null &&
    'extra' in value &&
    typeof (value as { extra?: unknown }).extra === 'object'
  );
}

/**
 * The GraphQL context for both transports. Over HTTP it is the request; over graphql-ws it is a
 * request-shaped object whose Authorization header comes from `connectionParams.authorization`
 * (with or without the `Bearer ` prefix), so the same global AuthGuard and @Access rules check
 * every subscription, once per operation (a key revoked mid-connection cannot start new ones).
 */
export function graphqlContext(arg: unknown): { req: RequestWithPrincipal } {
  if (isGraphqlWsContext(arg)) {
    const token = connectionToken(arg.connectionParams);
    const authorization = token && !/^bearer\s/i.test(token) ? `Bearer ${token}` : token;
    return {
      req: {
        headers: authorization ? { authorization } : {},
        id: randomUUID(),
        ip: arg.extra.request.socket.remoteAddress,
      },
    };
  }
  const http = arg as { req?: RequestWithPrincipal } & RequestWithPrincipal;
  return { req: http.req ?? http };
}

/**
 * graphql-ws on the GraphQL path; sockets without credentials are refused at connect, and every
 * error sent over a socket gets the same public shape as over HTTP (extensions.code, no
 * internals), through the formatter Apollo uses for HTTP.
 */
export function subscriptionTransport(formatError: (error: GraphQLError) => GraphQLFormattedError) {
  return {
    'graphql-ws': {
      onNext: (
        _ctx: unknown,
        _id: string,
        _payload: unknown,
        _args: unknown,
        result: ExecutionResult,
      ): ExecutionResult | FormattedExecutionResult => {
        if (!result.errors?.length) return result;
        return { ...result, errors: result.errors.map((e) => formatError(e)) };
      },
      onConnect: (ctx: { connectionParams?: Readonly<Record<string, unknown>> }): boolean =>
        connectionToken(ctx.connectionParams).length > 0,
    },
  };
}
