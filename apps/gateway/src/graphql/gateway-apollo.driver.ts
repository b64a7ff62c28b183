import { Inject, Injectable, Logger } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import type { ApolloServerPlugin } from '@apollo/server';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { GraphQLFormattedError, GraphQLSchema } from 'graphql';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { GraphQLLimitsPlugin } from '../protection/graphql-limits.plugin';
import { GraphQLMetricsPlugin } from '../observability/graphql-metrics.plugin';
import { DocumentCache } from './document-cache';
import { DirectExecution } from './direct-execution';
import { finishResponsePlugin } from './response-finish';
import { subscriptionDocumentsOf, type SubscriptionDocuments } from './subscriptions';

type Handler = (this: unknown, request: FastifyRequest, reply: FastifyReply) => unknown;

/**
 * Apollo options the direct path implements as Apollo would with them unset (or as we set them
 * in graphql.config.ts). Setting any other makes the gateway answer everything through Apollo.
 */
const OPTIONS_HANDLED_DIRECTLY = new Set<string>([
  // Nest's own options, and those it fills in.
  'driver',
  'path',
  'autoSchemaFile',
  'sortSchema',
  'playground',
  'subscriptions',
  'installSubscriptionHandlers',
  'fieldResolverEnhancers',
  'stopOnTerminationSignals',
  'preserveHttpStatusForExecutionErrors',
  'typePaths',
  'include',
  'buildSchemaOptions',
  'transformSchema',
  'transformAutoSchemaFile',
  'definitions',
  'resolvers',
  'typeDefs',
  'directiveResolvers',
  'schemaDirectives',
  'resolverValidationOptions',
  'inheritResolversFromInterfaces',
  'autoTransformHttpErrors',
  // Apollo's, handled by the direct path or irrelevant to it.
  'schema',
  'context',
  'formatError',
  'plugins',
  'introspection',
  'includeStacktraceInErrorResponses',
  'nodeEnv',
  'persistedQueries', // persisted-query requests always go to Apollo
  'documentStore', // Apollo's own cache; the direct path has its own
  'cache',
  'allowBatchedHttpRequests', // batches always go to Apollo
  'logger',
]);

/**
 * ApolloDriver with the direct execution path (direct-execution.ts) in front of Apollo's
 * handler on the GraphQL route: ordinary queries and mutations over HTTP run there; everything
 * else, and everything while the path is off, goes to Apollo as before. graphql-ws
 * subscriptions are the driver's (with subscriptions.ts's shared documents).
 *
 * GRAPHQL_DIRECT_EXECUTION=false turns the path off. It is also off (with a warning naming the
 * reason) unless every Apollo plugin that acts on requests is one it reproduces —
 * finishResponsePlugin, GraphQLLimitsPlugin, GraphQLMetricsPlugin, and Nest's resolver
 * request-hooks plugin (checked per request) — and every Apollo option set is one it implements
 * (OPTIONS_HANDLED_DIRECTLY). A new @Plugin() or option therefore cannot be skipped silently:
 * teach direct-execution.ts about it.
 */
@Injectable()
export class GatewayApolloDriver extends ApolloDriver {
  @Inject(APP_CONFIG) private readonly config!: AppConfig;
  private readonly log = new Logger('GraphQL');
  private direct: DirectExecution | null = null;
  private subscriptionDocs: SubscriptionDocuments | null = null;

  /** The direct execution path while it serves requests (for tests and diagnostics). */
  get directExecution(): DirectExecution | null {
    return this.direct;
  }

  /** The documents graphql-ws subscriptions share (for tests and diagnostics). */
  get subscriptionDocuments(): SubscriptionDocuments | null {
    return this.subscriptionDocs;
  }

  protected override async registerFastify(
    options: ApolloDriverConfig,
    hooks?: { preStartHook?: () => void },
  ): Promise<void> {
    this.subscriptionDocs = subscriptionDocumentsOf(options.subscriptions);
    const app = this.httpAdapterHost.httpAdapter.getInstance<FastifyInstance>();
    let wrapped = false;
    app.addHook('onRoute', (route: RouteOptions) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      // Apollo's GET/POST route; Fastify's HEAD copy of it keeps Apollo's handler.
      if (wrapped || route.url !== options.path || !methods.includes('POST')) return;
      wrapped = true;
      const apollo = route.handler as Handler;
      const direct = (): DirectExecution | null => this.direct;
      route.handler = async function (this: unknown, request, reply) {
        const body = await direct()?.run(request, reply);
        return body ?? apollo.call(this, request, reply);
      };
    });
    await super.registerFastify(options, hooks);
    if (!wrapped) {
      this.log.warn(`direct GraphQL execution is off (no POST route at ${options.path} was seen)`);
      return;
    }
    this.direct = this.createDirectExecution(options);
  }

  override async stop(): Promise<void> {
    // Requests arriving while Apollo stops get Apollo's answer for a stopping server.
    this.direct = null;
    await super.stop();
  }

  private createDirectExecution(options: ApolloDriverConfig): DirectExecution | null {
    if (!this.config.graphqlDirectExecution) return null;
    const off = (reason: string): null => {
      this.log.warn(`direct GraphQL execution is off (${reason}); Apollo answers every request`);
      return null;
    };
    const unsupported = Object.keys(options).filter(
      (key) =>
        !OPTIONS_HANDLED_DIRECTLY.has(key) && (options as Record<string, unknown>)[key] != null,
    );
    if (unsupported.length > 0) return off(`Apollo options ${unsupported.join(', ')}`);
    if (options.introspection !== true) return off('introspection is not on');
    const plugins = (options.plugins ?? []) as ApolloServerPlugin[];
    const limits = plugins.find((p) => p instanceof GraphQLLimitsPlugin);
    const metrics = plugins.find((p) => p instanceof GraphQLMetricsPlugin);
    if (!limits || !metrics) return off('GraphQLLimitsPlugin or GraphQLMetricsPlugin missing');
    // Apollo adds its implicit plugins to its own list at start; read that list.
    const running = (this.apolloServer as unknown as { internals?: { plugins?: unknown } })
      .internals?.plugins;
    if (!Array.isArray(running)) return off("Apollo's plugin list cannot be read");
    const known = new Set<unknown>([finishResponsePlugin, limits, metrics]);
    const unknown = (running as ApolloServerPlugin[]).filter(
      (p) => p.requestDidStart && !known.has(p) && !this.isNestRequestHooksPlugin(p),
    );
    if (unknown.length > 0) {
      return off(`${unknown.length} Apollo plugin(s) act on requests and are not reproduced`);
    }
    if (typeof options.context !== 'function') return off('no context function');
    const nodeEnv = options.nodeEnv ?? process.env['NODE_ENV'];
    return new DirectExecution({
      schema: options.schema as GraphQLSchema,
      documents: new DocumentCache(),
      formatError:
        (options.formatError as
          | ((formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError)
          | undefined) ?? ((formatted) => formatted),
      context: options.context as (request: FastifyRequest, reply: FastifyReply) => unknown,
      includeStacktraceInErrorResponses:
        options.includeStacktraceInErrorResponses ??
        (nodeEnv !== 'production' && nodeEnv !== 'test'),
      limits,
      metrics,
      hasRequestHooks: () => this.resolverDecoratorHost?.hasRequestHooks() ?? false,
    });
  }

  /**
   * Nest's plugin for resolver request hooks (private to ApolloBaseDriver, so recognised by its
   * code): it does nothing unless hooks are registered, and the direct path leaves every request
   * to Apollo while they are.
   */
  private isNestRequestHooksPlugin(plugin: ApolloServerPlugin): boolean {
    const make = (
      this as unknown as { createRequestLifecycleHooksPlugin?: () => ApolloServerPlugin }
    ).createRequestLifecycleHooksPlugin;
    if (typeof make !== 'function') return false;
    return String(make.call(this).requestDidStart) === String(plugin.requestDidStart);
  }
}
