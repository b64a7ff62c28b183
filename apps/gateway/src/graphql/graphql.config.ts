import { Logger } from '@nestjs/common';
import type { ApolloDriverConfig } from '@nestjs/apollo';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { formatGraphQLError } from '../errors/format-error';
import { graphqlContext, subscriptionTransport } from './subscriptions';
import { finishResponsePlugin } from './response-finish';

const logger = new Logger('GraphQL');
const logUnexpected = (err: unknown): void =>
  logger.error(err instanceof Error ? (err.stack ?? err.message) : JSON.stringify(err));

/**
 * Apollo's options. Every per-request plugin is ours and known to the direct execution path
 * (direct-execution.ts): `finishResponsePlugin` (request ids, status codes, no-store), and the
 * Nest providers marked @Plugin(): GraphQL limits (src/protection) and metrics
 * (src/observability). Apollo's implicit per-request plugins are switched off explicitly, so that
 * no environment variable (APOLLO_KEY …) can add one that the direct path would skip: cache
 * control (we hint nothing, so it always said `no-store`, which finishResponsePlugin now says),
 * usage and schema reporting (Apollo Studio is not used), inline traces (not a subgraph).
 */
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
    plugins: [
      finishResponsePlugin,
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
    ],
    // Nest would reset every execution-error status to 200 after our plugin has chosen one.
    preserveHttpStatusForExecutionErrors: false,
    formatError: (formatted, error) =>
      formatGraphQLError(formatted, error, undefined, logUnexpected),
  };
}
