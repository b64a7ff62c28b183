import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  execute,
  getOperationAST,
  GraphQLError,
  Kind,
  type DocumentNode,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { getVariableValues } from 'graphql/execution/values';
import { LRUCache } from 'lru-cache';
import Negotiator from 'negotiator';
import type { GraphQLLimitsPlugin } from '../protection/graphql-limits.plugin';
import type { GraphQLMetricsPlugin } from '../observability/graphql-metrics.plugin';
import type { RequestWithPrincipal } from '../auth/principal';
import type { DocumentCache } from './document-cache';
import { finishGraphQLResponse, type GraphQLHttpHead } from './response-finish';

/** Apollo's response media types, in its order of preference (ApolloServer.ts MEDIA_TYPES). */
const APPLICATION_JSON = 'application/json; charset=utf-8';
const GRAPHQL_RESPONSE_JSON = 'application/graphql-response+json; charset=utf-8';
const JSON_GRAPHQL_CALLBACK = 'application/json; callbackSpec=1.0; charset=utf-8';

/** Headers that make a GET request safe from CSRF for Apollo (recommended csrfPrevention). */
const CSRF_PREFLIGHT_HEADERS = ['x-apollo-operation-name', 'apollo-require-preflight'] as const;

/** Apollo's HTTP-status lookahead on `extensions.http`; see errorNormalize.ts. */
interface PartialHttpHead {
  status?: number;
  headers?: Map<string, string>;
}

export interface DirectExecutionOptions {
  schema: GraphQLSchema;
  documents: DocumentCache;
  /** Apollo's error formatter, as Nest wrapped it (its HttpException mapping, then ours). */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /** Apollo's context function, as Nest wrapped it. */
  context: (request: FastifyRequest, reply: FastifyReply) => unknown;
  /** Apollo's includeStacktraceInErrorResponses, as it derives it. */
  includeStacktraceInErrorResponses: boolean;
  limits: GraphQLLimitsPlugin;
  metrics: GraphQLMetricsPlugin;
  /** Nest resolver request hooks (ResolverDecoratorHost) run only inside Apollo's pipeline. */
  hasRequestHooks: () => boolean;
}

/** A request the direct path has accepted: everything Apollo would check is already checked. */
interface Accepted {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables: Record<string, unknown> | undefined;
  operationName: string | undefined;
  contentType: string;
}

interface GraphQLRequestFields {
  query: string;
  variables: Record<string, unknown> | undefined;
  operationName: string | undefined;
}

/**
 * The cheap path for ordinary GraphQL-over-HTTP requests on /graphql: the document comes from a
 * DocumentCache (parsed and validated once per distinct query text), the operation runs with
 * graphql-js `execute` on the very schema Apollo serves, and the answer is made as Apollo makes
 * it: same error formatter (so the same `extensions.code`, API.md), same plugins' logic (GraphQL
 * limits, metrics, request ids and status codes), same media types, status codes and headers.
 * Resolvers are Nest's, so guards (authentication, @Access scopes and roles, rate limits per key),
 * tenant context and exception filters run as they do under Apollo; the Fastify hooks around
 * the route (CORS, helmet headers, address rate limits, size limit, access log, HTTP metrics)
 * do not depend on which path answered.
 *
 * Anything out of the ordinary is left to Apollo, before anything has run: other methods, GET
 * without a CSRF-safe header or with a body type, batches, persisted queries, documents that do
 * not parse or validate, unknown or ambiguous operation names, subscriptions, mutations over GET,
 * operations over the GraphQL limits, variables that do not coerce, Accept headers that admit no
 * JSON, and every request while Nest resolver request hooks are registered. Apollo then answers
 * exactly as before (its error messages and status codes for these cases are its own).
 */
export class DirectExecution {
  /** Requests answered here, and requests left to Apollo (for tests and diagnostics). */
  readonly counts = { executed: 0, declined: 0 };
  private readonly contentTypes = new LRUCache<string, { type: string | null }>({ max: 256 });

  constructor(private readonly options: DirectExecutionOptions) {}

  /**
   * Answers the request and returns the response body, or returns undefined without having
   * done anything observable, to leave the request to Apollo.
   */
  async run(request: FastifyRequest, reply: FastifyReply): Promise<string | undefined> {
    const accepted = this.accept(request);
    if (!accepted) {
      this.counts.declined += 1;
      return undefined;
    }
    const started = process.hrtime.bigint();
    let contextValue: { req?: RequestWithPrincipal };
    try {
      contextValue = (await this.options.context(request, reply)) as typeof contextValue;
    } catch {
      // Apollo reports a failing context function its own way.
      this.counts.declined += 1;
      return undefined;
    }
    this.counts.executed += 1;
    const { metrics } = this.options;
    const resolved = metrics.operationResolved(contextValue.req, accepted.operation);
    const http: GraphQLHttpHead = { headers: new Map() };
    const result = await this.executeOperation(accepted, contextValue, http);
    finishGraphQLResponse(result, http, contextValue.req?.id);
    metrics.responseSent(resolved, started, result.errors);
    if (!http.headers.has('content-type')) http.headers.set('content-type', accepted.contentType);
    for (const [name, value] of http.headers) void reply.header(name, value);
    void reply.code(http.status ?? 200);
    // Apollo's stringifyResult: errors first, then data, then extensions; a newline at the end.
    return `${JSON.stringify({ errors: result.errors, data: result.data, extensions: result.extensions })}\n`;
  }

  /** What Apollo's requestPipeline does from execution to formatted errors and status. */
  private async executeOperation(
    accepted: Accepted,
    contextValue: object,
    http: GraphQLHttpHead,
  ): Promise<FormattedExecutionResult> {
    const { schema } = this.options;
    let result: ExecutionResult;
    try {
      result = await execute({
        schema,
        document: accepted.document,
        contextValue,
        variableValues: accepted.variables,
        operationName: accepted.operationName,
      });
    } catch (maybeError) {
      const errors = this.formatErrors([ensureGraphQLError(maybeError)], http);
      http.status ??= 500;
      return { errors };
    }
    const errors = result.errors?.map((e) =>
      isBadUserInputGraphQLError(e) && e.extensions['code'] == null ? userInputError(e) : e,
    );
    const formatted = errors ? this.formatErrors(errors, http) : undefined;
    // Apollo's status400ForVariableCoercionErrors (its default).
    if (errors?.length && result.data === undefined && !http.status) http.status = 400;
    return { ...result, errors: formatted };
  }

  /** Apollo's normalizeAndFormatErrors: the formatter's input, and extensions.http to the head. */
  private formatErrors(errors: readonly GraphQLError[], http: GraphQLHttpHead) {
    return errors.map((error): GraphQLFormattedError => {
      try {
        return this.options.formatError(this.enrich(error, http), error);
      } catch (formattingError) {
        if (this.options.includeStacktraceInErrorResponses) {
          return this.enrich(formattingError, http);
        }
        return {
          message: 'Internal server error',
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        };
      }
    });
  }

  private enrich(maybeError: unknown, http: GraphQLHttpHead): GraphQLFormattedError {
    const error = ensureGraphQLError(maybeError);
    const extensions: Record<string, unknown> = {
      ...error.extensions,
      code: error.extensions['code'] ?? 'INTERNAL_SERVER_ERROR',
    };
    const head = extensions['http'];
    if (isPartialHttpHead(head)) {
      if (head.status) http.status = head.status;
      for (const [name, value] of head.headers ?? []) http.headers.set(name, value);
      delete extensions['http'];
    }
    if (this.options.includeStacktraceInErrorResponses) {
      extensions['stacktrace'] = error.stack?.split('\n');
    }
    return { ...error.toJSON(), extensions };
  }

  /** The request as the direct path runs it, or null to leave it to Apollo. No side effects. */
  private accept(request: FastifyRequest): Accepted | null {
    const fields =
      request.method === 'POST'
        ? postFields(request)
        : request.method === 'GET'
          ? getFields(request)
          : null;
    if (!fields || this.options.hasRequestHooks()) return null;
    const contentType = this.contentTypeFor(request.headers.accept);
    if (contentType === null) return null;
    const { schema, documents, limits } = this.options;
    const document = documents.get(schema, fields.query);
    if (!document) return null;
    const operation = getOperationAST(document, fields.operationName);
    if (!operation || operation.operation === 'subscription') return null;
    if (request.method === 'GET' && operation.operation !== 'query') return null;
    try {
      limits.check({ schema, document, operation, variables: fields.variables });
    } catch {
      return null;
    }
    if (operation.variableDefinitions?.length) {
      const coerced = getVariableValues(
        schema,
        operation.variableDefinitions,
        fields.variables ?? {},
        { maxErrors: 50 },
      );
      if (coerced.errors) return null;
    }
    return {
      document,
      operation,
      variables: fields.variables,
      operationName: fields.operationName,
      contentType,
    };
  }

  /** Apollo's choice of media type for a single result, remembered per Accept value. */
  private contentTypeFor(accept: string | undefined): string | null {
    if (!accept) return APPLICATION_JSON;
    let known = this.contentTypes.get(accept);
    if (!known) {
      const preferred = new Negotiator({ headers: { accept } }).mediaType([
        APPLICATION_JSON,
        GRAPHQL_RESPONSE_JSON,
        JSON_GRAPHQL_CALLBACK,
      ]);
      known = { type: preferred ?? null };
      this.contentTypes.set(accept, known);
    }
    return known.type;
  }
}

/**
 * A POST's GraphQL fields when Apollo would take them without complaint: a JSON object body
 * (so a CSRF-safe content type) with a non-empty `query` string, `variables` and `extensions`
 * objects (no persisted query), `operationName` a string; absent or null are fine.
 */
function postFields(request: FastifyRequest): GraphQLRequestFields | null {
  if (mediaTypeEssence(request.headers['content-type']) !== 'application/json') return null;
  const body = request.body;
  if (!isRecord(body)) return null;
  const { query, variables, operationName, extensions } = body;
  if (typeof query !== 'string' || query === '') return null;
  if (variables != null && !isRecord(variables)) return null;
  if (extensions != null && (!isRecord(extensions) || 'persistedQuery' in extensions)) return null;
  if (operationName != null && typeof operationName !== 'string') return null;
  return {
    query,
    variables: variables ?? undefined,
    operationName: operationName ?? undefined,
  };
}

/**
 * A GET's GraphQL fields when Apollo would take them: no Content-Type, a CSRF-preflight header,
 * `query` once and non-empty, the others at most once, `variables` and `extensions` JSON objects
 * (no persisted query). The search string is read as Apollo reads it.
 */
function getFields(request: FastifyRequest): GraphQLRequestFields | null {
  const headers = request.headers;
  if (headers['content-type'] !== undefined) return null;
  if (!CSRF_PREFLIGHT_HEADERS.some((name) => headerValue(headers[name]))) return null;
  let search: URLSearchParams;
  try {
    search = new URL(request.url, `${request.protocol}://${request.hostname}/`).searchParams;
  } catch {
    return null;
  }
  const query = once(search, 'query');
  const operationName = once(search, 'operationName');
  const variables = onceJsonRecord(search, 'variables');
  const extensions = onceJsonRecord(search, 'extensions');
  if (typeof query !== 'string' || query === '') return null;
  if (operationName === null || variables === null || extensions === null) return null;
  if (extensions && 'persistedQuery' in extensions) return null;
  return { query, variables, operationName };
}

/** The parameter's value if given at most once (undefined if absent), null if repeated. */
function once(search: URLSearchParams, name: string): string | undefined | null {
  const values = search.getAll(name);
  return values.length > 1 ? null : values[0];
}

function onceJsonRecord(
  search: URLSearchParams,
  name: string,
): Record<string, unknown> | undefined | null {
  const value = once(search, name);
  if (value === undefined || value === null) return value;
  try {
    const parsed: unknown = JSON.parse(value);
    return isRecord(parsed) ? parsed : null;
  } catch {
    return null;
  }
}

function headerValue(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/** `type/subtype` of a Content-Type, lower-cased, without parameters. */
function mediaTypeEssence(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const semicolon = value.indexOf(';');
  return (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value)
  );
}

function isPartialHttpHead(value: unknown): value is PartialHttpHead {
  return (
    typeof value === 'object' &&
    value !== null &&
    (!('status' in value) || typeof value.status === 'number') &&
    (!('headers' in value) || value.headers instanceof Map)
  );
}

function ensureGraphQLError(maybeError: unknown): GraphQLError {
  if (maybeError instanceof GraphQLError) return maybeError;
  if (maybeError instanceof Error) {
    return new GraphQLError(maybeError.message, { originalError: maybeError });
  }
  return new GraphQLError(`Unexpected error value: ${String(maybeError)}`);
}

/** Apollo's test for variable-coercion errors (requestPipeline.ts isBadUserInputGraphQLError). */
function isBadUserInputGraphQLError(error: GraphQLError): boolean {
  const node = error.nodes?.length === 1 ? error.nodes[0] : undefined;
  if (node?.kind !== Kind.VARIABLE_DEFINITION) return false;
  const name = node.variable.name.value;
  return [
    `Variable "$${name}" has invalid value`,
    `Variable "$${name}" got invalid value `,
    `Variable "$${name}" of required type `,
    `Variable "$${name}" of non-null type `,
  ].some((prefix) => error.message.startsWith(prefix));
}

/** Apollo's UserInputError: the same error with code BAD_USER_INPUT. */
function userInputError(error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: error.nodes ?? null,
    originalError: error.originalError ?? error,
    extensions: { ...error.extensions, code: 'BAD_USER_INPUT' },
  });
}
