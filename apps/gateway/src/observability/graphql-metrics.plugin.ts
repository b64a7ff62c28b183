import { Plugin } from '@nestjs/apollo';
import type {
  ApolloServerPlugin,
  BaseContext,
  GraphQLRequestContextDidResolveOperation,
  GraphQLRequestContextWillSendResponse,
  GraphQLRequestListener,
} from '@apollo/server';
import { Kind, type OperationDefinitionNode } from 'graphql';
import { GatewayMetrics } from './metrics';
import { setRequestOperation } from './request-log';

interface MaybeRequestContext extends BaseContext {
  req?: object;
}

/**
 * Counts GraphQL operations (by name, else their root fields, and type), their duration, and
 * every error in a response by `extensions.code` — after formatting, so the public codes.
 */
@Plugin()
export class GraphQLMetricsPlugin implements ApolloServerPlugin<MaybeRequestContext> {
  constructor(private readonly metrics: GatewayMetrics) {}

  async requestDidStart(): Promise<GraphQLRequestListener<MaybeRequestContext>> {
    const metrics = this.metrics;
    const started = process.hrtime.bigint();
    let resolved: { operation: string; type: string } | undefined;
    return {
      async didResolveOperation(
        ctx: GraphQLRequestContextDidResolveOperation<MaybeRequestContext>,
      ) {
        if (!ctx.operation) return;
        resolved = {
          operation: operationLabel(ctx.operation),
          type: ctx.operation.operation,
        };
        if (ctx.contextValue.req) setRequestOperation(ctx.contextValue.req, resolved.operation);
      },
      async willSendResponse(ctx: GraphQLRequestContextWillSendResponse<MaybeRequestContext>) {
        if (resolved) {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          metrics.observeGraphQLOperation(resolved.operation, resolved.type, seconds);
        }
        const body = ctx.response.body;
        const errors =
          body.kind === 'single' ? body.singleResult.errors : body.initialResult.errors;
        for (const error of errors ?? []) metrics.countGraphQLError(error.extensions?.['code']);
      },
    };
  }
}

/** The operation's name, else its root fields (`viewer`, `avatars+renders`): both bounded. */
export function operationLabel(operation: OperationDefinitionNode): string {
  if (operation.name) return operation.name.value;
  const fields = operation.selectionSet.selections
    .map((s) => (s.kind === Kind.FIELD ? s.name.value : '…'))
    .sort();
  return [...new Set(fields)].join('+') || 'anonymous';
}
