import { Logger } from '@nestjs/common';
import type { ApolloDriverConfig } from '@nestjs/apollo';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import { ErrorCode, isErrorCode } from '@likeness/contracts';
import { formatGraphQLError } from '../errors/format-error';
import { graphqlContext, subscriptionTransport } from './subscriptions';
import { httpStatusOf } from '../errors/likeness.exception';
import type { RequestWithPrincipal } from '../auth/principal';

const logger = new Logger('GraphQL');
const logUnexpected = (err: unknown): void =>
  logger.error(err instanceof Error ? (err.stack ?? err.message) : JSON.stringify(err));

interface GatewayContext {
  req: RequestWithPrincipal;
}

/**
 * Adds the request id to every error and, when a request failed as a whole (no data, or rate
 * limited), answers with the HTTP status of its error code, as the GraphQL-over-HTTP spec allows
 * for application/graphql-response+json. Further plugins are Nest providers marked @Plugin():
 * GraphQL limits (src/protection) and metrics (src/observability).
 */
const requestIdAndStatusPlugin: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart() {
    return {
      async willSendResponse({ response, contextValue }) {
        if (response.body.kind !== 'single') return;
        const result = response.body.singleResult;
        const errors = result.errors;
        if (!errors?.length) return;
        const requestId = contextValue.req?.id;
        if (requestId) {
          result.errors = errors.map((e): GraphQLFormattedError => ({
            ...e,
            extensions: { ...e.extensions, requestId },
          }));
        }
        if (response.http.status !== undefined) return;
        if (result.data == null) {
          const code = errors[0]?.extensions?.['code'];
          if (isErrorCode(code)) response.http.status = httpStatusOf(code);
        } else if (errors.some((e) => e.extensions?.['code'] === ErrorCode.RATE_LIMITED)) {
          // Rate limiting refuses the whole request even when nullable fields left partial data.
          response.http.status = httpStatusOf(ErrorCode.RATE_LIMITED);
        }
      },
    };
  },
};

export function graphqlOptions(): ApolloDriverConfig {
  return {
    path: '/graphql',
    // Subscriptions over graphql-ws on the same path, authenticated like HTTP (subscriptions.ts).
    subscriptions: subscriptionTransport((error) =>
      formatGraphQLError(error.toJSON(), error, undefined, logUnexpected),
    ),
    context: graphqlContext,
    // The SDL lives in apps/gateway/schema.graphql, written by the `gateway:schema` target and
    // checked by a test; the running server never writes files.
    autoSchemaFile: true,
    sortSchema: true,
    playground: false,
    introspection: true,
    plugins: [requestIdAndStatusPlugin],
    // Nest would reset every execution-error status to 200 after our plugin has chosen one.
    preserveHttpStatusForExecutionErrors: false,
    formatError: (formatted, error) =>
      formatGraphQLError(formatted, error, undefined, logUnexpected),
  };
}
