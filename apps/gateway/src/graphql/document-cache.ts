import { parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import { LRUCache } from 'lru-cache';

/** Bounds of a DocumentCache: per schema, like Apollo's own document store (about 30 MiB). */
export interface DocumentCacheLimits {
  /** Documents kept per schema. */
  maxEntries: number;
  /** Their approximate size per schema, as the length of their JSON form (Apollo's measure). */
  maxSizeChars: number;
}

export const DEFAULT_DOCUMENT_CACHE_LIMITS: DocumentCacheLimits = {
  maxEntries: 1000,
  maxSizeChars: 30 * 1024 * 1024,
};

/**
 * Parsed and validated GraphQL documents, by schema and query text, least recently used first
 * out. A document is cached only once it parsed and passed every rule of the GraphQL
 * specification against that schema (the rules Apollo applies with introspection on); a query
 * that does not is never cached, so its errors are always reported afresh. The cache of a
 * schema object goes with it: a new schema (another build, another gateway) starts empty and
 * never sees a document validated against an older one.
 */
export class DocumentCache {
  private readonly bySchema = new WeakMap<GraphQLSchema, LRUCache<string, DocumentNode>>();

  constructor(private readonly limits: DocumentCacheLimits = DEFAULT_DOCUMENT_CACHE_LIMITS) {}

  /** The validated document for `query`, or null when it does not parse or validate. */
  get(schema: GraphQLSchema, query: string): DocumentNode | null {
    const documents = this.documentsOf(schema);
    const cached = documents.get(query);
    if (cached) return cached;
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch {
      return null;
    }
    if (validate(schema, document, specifiedRules).length > 0) return null;
    documents.set(query, document);
    return document;
  }

  /** How many documents are cached for `schema` (for tests and diagnostics). */
  size(schema: GraphQLSchema): number {
    return this.bySchema.get(schema)?.size ?? 0;
  }

  private documentsOf(schema: GraphQLSchema): LRUCache<string, DocumentNode> {
    let documents = this.bySchema.get(schema);
    if (!documents) {
      documents = new LRUCache<string, DocumentNode>({
        max: this.limits.maxEntries,
        maxSize: this.limits.maxSizeChars,
        // A document larger than the whole cache is simply not kept.
        sizeCalculation: (document) => Math.max(1, JSON.stringify(document).length),
      });
      this.bySchema.set(schema, documents);
    }
    return documents;
  }
}
