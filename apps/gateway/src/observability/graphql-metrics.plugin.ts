import { Plugin } from '@nestjs/apollo';
import type {
  ApolloServerPlugin,
  BaseContext,
  GraphQLRequestContextDidResolveOperation,
  GraphQLRequestContextWillSendResponse,
  GraphQLRequestListener,
} from '@apollo/server';
import { Kind, type GraphQLFormattedError, type OperationDefinitionNode } from 'graphql';
import { GatewayMetrics } from './metrics';
import { setRequestOperation } from './request-log';

interface MaybeRequestContext extends BaseContext {
  req?: object;
}

/** A resolved operation as metrics and the access log name it. */
export interface ResolvedOperation {
  operation: string;
  type: string;
}

/**
 * Counts GraphQL operations (by name, else their root fields, and type), their duration, and
 * every error in a response by `extensions.code` — after formatting, so the public codes. The
 * direct execution path (src/graphql/direct-execution.ts) calls the same two methods.
 */
@Plugin()
export class GraphQLMetricsPlugin implements ApolloServerPlugin<MaybeRequestContext> {
  constructor(private readonly metrics: GatewayMetrics) {}

  /** The operation a request runs: its metrics label, also given to the request's log line. */
  operationResolved(
    req: object | undefined,
    operation: OperationDefinitionNode,
  ): ResolvedOperation {
    const resolved = { operation: operationLabel(operation), type: operation.operation };
    if (req) setRequestOperation(req, resolved.operation);
    return resolved;
  }

  /** The answer is made: duration of a resolved operation, and its errors by code. */
  responseSent(
    resolved: ResolvedOperation | undefined,
    startedNs: bigint,
    errors: readonly GraphQLFormattedError[] | undefined,
  ): void {
    if (resolved) {
      const seconds = Number(process.hrtime.bigint() - startedNs) / 1e9;
      this.metrics.observeGraphQLOperation(resolved.operation, resolved.type, seconds);
    }
    for (const error of errors ?? []) this.metrics.countGraphQLError(error.extensions?.['code']);
  }

  async requestDidStart(): Promise<GraphQLRequestListener<MaybeRequestContext>> {
    const started = process.hrtime.bigint();
    let resolved: ResolvedOperation | undefined;
    return {
      didResolveOperation: async (
        ctx: GraphQLRequestContextDidResolveOperation<MaybeRequestContext>,
      ) => {
        if (ctx.operation) resolved = this.operationResolved(ctx.contextValue.req, ctx.operation);
      },
      willSendResponse: async (ctx: GraphQLRequestContextWillSendResponse<MaybeRequestContext>) => {
        const body = ctx.response.body;
        this.responseSent(
          resolved,
          started,
          body.kind === 'single' ? body.singleResult.errors : body.initialResult.errors,
        );
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
