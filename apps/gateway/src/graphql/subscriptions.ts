import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  parse,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLError,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type Source,
} from 'graphql';
import type { Context, ServerOptions } from 'graphql-ws';
import { LRUCache } from 'lru-cache';
import type { SubscriptionConfig } from '@nestjs/graphql';
import type { RequestWithPrincipal } from '../auth/principal';
import { DEFAULT_DOCUMENT_CACHE_LIMITS, type DocumentCacheLimits } from './document-cache';

/**
 * What graphql-ws keeps per socket besides the WebSocket: the upgrade request until the socket
 * is acknowledged; afterwards only the client's address (see `releaseUpgradeRequest`).
 */
export interface GraphqlWsExtra {
  request?: IncomingMessage | undefined;
  clientAddress?: string;
}

/** What graphql-ws hands to `onConnect`, and to `context` for every operation on a socket. */
interface GraphqlWsContext {
  connectionParams?: Readonly<Record<string, unknown>>;
  extra: GraphqlWsExtra;
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
 * graphql-ws keeps `extra` for the socket's whole life, and with it the HTTP upgrade request
 * (its headers, raw headers and stream state: about 1.3 KB a socket). Nothing reads the request
 * after the socket is acknowledged except for the client's address, so that is kept instead.
 */
export function releaseUpgradeRequest(extra: GraphqlWsExtra): void {
  if (!extra.request) return;
  extra.clientAddress = extra.request.socket.remoteAddress;
  // Cleared, not deleted: deleting it would turn `extra` into a dictionary (about 250 bytes).
  extra.request = undefined;
}

/**
 * A request id as a flat string: `randomUUID()` returns a string built of slices (about 480
 * bytes of heap), and a subscription's context keeps its id as long as it runs.
 */
function requestId(): string {
  return Buffer.from(randomUUID(), 'latin1').toString('latin1');
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
    const { extra } = arg;
    return {
      req: {
        headers: authorization ? { authorization } : {},
        id: requestId(),
        ip: extra.clientAddress ?? extra.request?.socket.remoteAddress,
      },
    };
  }
  const http = arg as { req?: RequestWithPrincipal } & RequestWithPrincipal;
  return { req: http.req ?? http };
}

/**
 * graphql-ws's `parse` and `validate` with the documents shared: every subscription with the
 * same query text gets the same parsed document, so 5,000 subscriptions to one query keep one
 * syntax tree instead of 5,000 (with their tokens and locations, about 8 KB each). A document is
 * shared only once it passed validation (graphql-ws's own: every rule of the specification)
 * against a schema, and it is validated again for any other schema; one that does not parse or
 * validate is never kept, so its errors are reported afresh, exactly as graphql-ws reports them.
 * Least recently used out, bounded like the direct path's DocumentCache.
 */
export class SubscriptionDocuments {
  /** Documents parsed afresh, and handed out shared (for tests and diagnostics). */
  readonly counts = { parsed: 0, shared: 0 };
  private readonly documents: LRUCache<string, DocumentNode>;
  private readonly validated = new WeakMap<GraphQLSchema, WeakSet<DocumentNode>>();

  constructor(limits: DocumentCacheLimits = DEFAULT_DOCUMENT_CACHE_LIMITS) {
    this.documents = new LRUCache<string, DocumentNode>({
      max: limits.maxEntries,
      maxSize: limits.maxSizeChars,
      sizeCalculation: (document) => Math.max(1, JSON.stringify(document).length),
    });
  }

  /** The shared document for `query` if one validated, else a fresh parse (which may throw). */
  readonly parse = (query: string | Source): DocumentNode => {
    const shared = typeof query === 'string' ? this.documents.get(query) : undefined;
    if (shared) {
      this.counts.shared += 1;
      return shared;
    }
    this.counts.parsed += 1;
    return parse(query);
  };

  /** graphql-ws's validation; a document that passes is shared from then on. */
  readonly validate = (schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[] => {
    if (this.validated.get(schema)?.has(document)) return [];
    const errors = validate(schema, document);
    if (errors.length > 0) return errors;
    let valid = this.validated.get(schema);
    if (!valid) {
      valid = new WeakSet();
      this.validated.set(schema, valid);
    }
    valid.add(document);
    const query = document.loc?.source.body;
    if (query !== undefined && !this.documents.has(query)) this.documents.set(query, document);
    return errors;
  };

  /** How many documents are shared (for tests and diagnostics). */
  get size(): number {
    return this.documents.size;
  }
}

/**
 * graphql-ws on the GraphQL path; sockets without credentials are refused at connect, and every
 * error sent over a socket gets the same public shape as over HTTP (extensions.code, no
 * internals), through the formatter Apollo uses for HTTP. Parsed documents are shared between
 * subscriptions (SubscriptionDocuments), and a socket lets go of its upgrade request once it is
 * acknowledged (releaseUpgradeRequest).
 */
export function subscriptionTransport(
  formatError: (error: GraphQLError) => GraphQLFormattedError,
  documents = new SubscriptionDocuments(),
): SubscriptionConfig {
  // Nest's type lists fewer of graphql-ws's options than it hands on (it spreads them all into
  // graphql-ws's useServer); test/subscriptions.spec.ts checks that `parse` arrives there.
  const graphqlWs: Pick<ServerOptions, 'parse' | 'validate' | 'onNext' | 'onConnect'> = {
    parse: documents.parse,
    validate: documents.validate,
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
    onConnect: (ctx: Context): boolean => {
      if (connectionToken(ctx.connectionParams).length === 0) return false;
      releaseUpgradeRequest(ctx.extra as GraphqlWsExtra);
      return true;
    },
  };
  transports.set(documents.parse, documents);
  return { 'graphql-ws': graphqlWs };
}

const transports = new WeakMap<object, SubscriptionDocuments>();

/** The SubscriptionDocuments of a `subscriptionTransport` (as Nest hands it on), or null. */
export function subscriptionDocumentsOf(
  subscriptions: SubscriptionConfig | undefined,
): SubscriptionDocuments | null {
  const graphqlWs = subscriptions?.['graphql-ws'];
  const parse = typeof graphqlWs === 'object' ? (graphqlWs as { parse?: unknown }).parse : null;
  return typeof parse === 'function' ? (transports.get(parse) ?? null) : null;
}
