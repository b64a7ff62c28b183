import { Inject } from '@nestjs/common';
import { Plugin } from '@nestjs/apollo';
import type {
  ApolloServerPlugin,
  BaseContext,
  GraphQLRequestContextDidResolveOperation,
  GraphQLRequestListener,
} from '@apollo/server';
import { GraphQLError } from 'graphql';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { checkGraphQLLimits, type GraphQLLimits } from './graphql-limits';
import { QueryRejectedException } from './protection.errors';

/**
 * Apollo plugin (found by @nestjs/apollo through @Plugin): refuses operations beyond the
 * GRAPHQL_MAX_* limits after parsing and before execution, with BAD_USER_INPUT and HTTP 400.
 * (The document size is checked earlier, before parsing, by the preHandler hook.)
 */
@Plugin()
export class GraphQLLimitsPlugin implements ApolloServerPlugin<BaseContext> {
  private readonly limits: GraphQLLimits;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.limits = config.graphqlLimits;
  }

  /**
   * Throws QueryRejectedException for an operation beyond the limits. Also called by the direct
   * execution path (src/graphql/direct-execution.ts), which leaves refused operations to Apollo.
   */
  check(input: Parameters<typeof checkGraphQLLimits>[1]): void {
    checkGraphQLLimits(this.limits, input);
  }

  async requestDidStart(): Promise<GraphQLRequestListener<BaseContext>> {
    return {
      didResolveOperation: async (ctx: GraphQLRequestContextDidResolveOperation<BaseContext>) => {
        // No operation resolved (e.g. an unknown operationName): execution reports that.
        if (!ctx.operation) return;
        try {
          this.check({
            schema: ctx.schema,
            document: ctx.document,
            operation: ctx.operation,
            variables: ctx.request.variables,
          });
        } catch (err) {
          if (!(err instanceof QueryRejectedException)) throw err;
          // Apollo takes the status from extensions.http; the formatter shows the exception.
          throw new GraphQLError(err.message, {
            originalError: err,
            extensions: { http: { status: 400 } },
          });
        }
      },
    };
  }
}
