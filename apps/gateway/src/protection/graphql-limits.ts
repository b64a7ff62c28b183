import {
  GraphQLError,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { fieldExtensionsEstimator, getComplexity, simpleEstimator } from 'graphql-query-complexity';
import { QueryRejectedException } from './protection.errors';

export interface GraphQLLimits {
  maxDepth: number;
  maxComplexity: number;
  maxAliases: number;
  maxOperations: number;
}

/**
 * The standard introspection query that tools send nests 15 levels deep (`ofType` chains), so
 * introspection subtrees (`__schema`, `__type`) get this limit when GRAPHQL_MAX_DEPTH is
 * smaller; deeper introspection is refused like any deep query.
 */
export const INTROSPECTION_MAX_DEPTH = 16;

/** Facts about a parsed document; cached per document (complexity also per variables). */
interface DocumentShape {
  operations: number;
  aliases: number;
  depth: Map<OperationDefinitionNode, { regular: number; introspection: number }>;
  complexity: Map<OperationDefinitionNode, Map<string, number>>;
}

/** Complexities kept per operation, one per distinct variables value (the oldest goes first). */
const COMPLEXITY_CACHE_SIZE = 32;

// Apollo keeps validated documents in its document store, so repeated queries reuse the node.
const shapes = new WeakMap<DocumentNode, DocumentShape>();

/**
 * Refuses (QueryRejectedException, BAD_USER_INPUT on `query`) a resolved operation that
 * exceeds the limits: operations in the document, aliases, selection depth, and complexity
 * (graphql-query-complexity: a field's `complexity` extension, e.g. `@Field({ complexity })`,
 * else 1 per field).
 */
export function checkGraphQLLimits(
  limits: GraphQLLimits,
  input: {
    schema: GraphQLSchema;
    document: DocumentNode;
    operation: OperationDefinitionNode;
    variables: Record<string, unknown> | undefined;
  },
): void {
  const shape = shapeOf(input.document);
  if (shape.operations > limits.maxOperations) {
    throw new QueryRejectedException(
      `The document has ${shape.operations} operations; the maximum is ${limits.maxOperations}`,
      'TOO_MANY_OPERATIONS',
    );
  }
  if (shape.aliases > limits.maxAliases) {
    throw new QueryRejectedException(
      `The document uses ${shape.aliases} aliases; the maximum is ${limits.maxAliases}`,
      'TOO_MANY_ALIASES',
    );
  }
  const depth = depthOf(shape, input.document, input.operation);
  const introspectionLimit = Math.max(limits.maxDepth, INTROSPECTION_MAX_DEPTH);
  if (depth.regular > limits.maxDepth || depth.introspection > introspectionLimit) {
    const [actual, max] =
      depth.regular > limits.maxDepth
        ? [depth.regular, limits.maxDepth]
        : [depth.introspection, introspectionLimit];
    throw new QueryRejectedException(
      `The query is nested ${actual} levels deep; the maximum is ${max}`,
      'QUERY_TOO_DEEP',
    );
  }
  const complexity = cachedComplexity(shape, input);
  if (complexity > limits.maxComplexity) {
    throw new QueryRejectedException(
      `The query's complexity is ${complexity}; the maximum is ${limits.maxComplexity}`,
      'QUERY_TOO_COMPLEX',
    );
  }
}

/**
 * Complexity analysis walks the document with the schema's type information: the costliest
 * check by far, so it is computed once per operation and variables value.
 */
function cachedComplexity(shape: DocumentShape, input: Parameters<typeof complexityOf>[0]): number {
  let perVariables = shape.complexity.get(input.operation);
  if (!perVariables) {
    perVariables = new Map();
    shape.complexity.set(input.operation, perVariables);
  }
  const key = input.operation.variableDefinitions?.length
    ? JSON.stringify(input.variables ?? {})
    : '';
  let complexity = perVariables.get(key);
  if (complexity === undefined) {
    complexity = complexityOf(input);
    if (perVariables.size >= COMPLEXITY_CACHE_SIZE) {
      const oldest = perVariables.keys().next();
      if (!oldest.done) perVariables.delete(oldest.value);
    }
    perVariables.set(key, complexity);
  }
  return complexity;
}

function complexityOf(input: {
  schema: GraphQLSchema;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables: Record<string, unknown> | undefined;
}): number {
  try {
    return getComplexity({
      schema: input.schema,
      query: input.document,
      variables: input.variables ?? {},
      ...(input.operation.name ? { operationName: input.operation.name.value } : {}),
      estimators: [fieldExtensionsEstimator(), simpleEstimator({ defaultComplexity: 1 })],
    });
  } catch (err) {
    if (err instanceof GraphQLError && /maximum allowed number of nodes/.test(err.message)) {
      return Number.POSITIVE_INFINITY;
    }
    // Variables that do not coerce: execution refuses the request with the precise error.
    if (err instanceof GraphQLError) return 0;
    throw err;
  }
}

function shapeOf(document: DocumentNode): DocumentShape {
  let shape = shapes.get(document);
  if (!shape) {
    let operations = 0;
    let aliases = 0;
    const count = (set: SelectionSetNode | undefined): void => {
      for (const selection of set?.selections ?? []) {
        if (selection.kind === Kind.FIELD && selection.alias) aliases += 1;
        if (selection.kind !== Kind.FRAGMENT_SPREAD) count(selection.selectionSet);
      }
    };
    for (const definition of document.definitions) {
      if (definition.kind === Kind.OPERATION_DEFINITION) operations += 1;
      if (
        definition.kind === Kind.OPERATION_DEFINITION ||
        definition.kind === Kind.FRAGMENT_DEFINITION
      ) {
        count(definition.selectionSet);
      }
    }
    shape = { operations, aliases, depth: new Map(), complexity: new Map() };
    shapes.set(document, shape);
  }
  return shape;
}

function depthOf(
  shape: DocumentShape,
  document: DocumentNode,
  operation: OperationDefinitionNode,
): { regular: number; introspection: number } {
  const cached = shape.depth.get(operation);
  if (cached) return cached;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition);
    }
  }
  const result = { regular: 0, introspection: 0 };
  // Depth of the fields below `set`, which sits `depth` fields deep; fragments are followed
  // (validation has refused cycles, but `visiting` guards anyway).
  const walk = (
    set: SelectionSetNode,
    depth: number,
    introspection: boolean,
    visiting: Set<string>,
  ): void => {
    for (const selection of set.selections) {
      switch (selection.kind) {
        case Kind.FIELD: {
          const inIntrospection =
            introspection ||
            selection.name.value === '__schema' ||
            selection.name.value === '__type';
          const key = inIntrospection ? 'introspection' : 'regular';
          result[key] = Math.max(result[key], depth + 1);
          if (selection.selectionSet) {
            walk(selection.selectionSet, depth + 1, inIntrospection, visiting);
          }
          break;
        }
        case Kind.INLINE_FRAGMENT:
          walk(selection.selectionSet, depth, introspection, visiting);
          break;
        case Kind.FRAGMENT_SPREAD: {
          const name = selection.name.value;
          const fragment = fragments.get(name);
          if (fragment && !visiting.has(name)) {
            visiting.add(name);
            walk(fragment.selectionSet, depth, introspection, visiting);
            visiting.delete(name);
          }
          break;
        }
      }
    }
  };
  walk(operation.selectionSet, 0, false, new Set());
  shape.depth.set(operation, result);
  return result;
}
