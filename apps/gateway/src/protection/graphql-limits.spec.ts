import {
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  Kind,
  getIntrospectionQuery,
  parse,
  type GraphQLFieldConfigMap,
  type OperationDefinitionNode,
} from 'graphql';
import { LikenessException } from '../errors/likeness.exception';
import { checkGraphQLLimits, INTROSPECTION_MAX_DEPTH, type GraphQLLimits } from './graphql-limits';

// A recursive type (node → children → node …) makes any depth valid.
const Node: GraphQLObjectType = new GraphQLObjectType({
  name: 'Node',
  fields: (): GraphQLFieldConfigMap<unknown, unknown> => ({
    id: { type: GraphQLString },
    child: { type: Node },
    children: {
      type: new GraphQLList(Node),
      args: { first: { type: GraphQLInt } },
      // Like `@Field({ complexity })` in Nest: the caller's page size multiplies the cost.
      extensions: {
        complexity: ({
          args,
          childComplexity,
        }: {
          args: { first?: number };
          childComplexity: number;
        }) => (args.first ?? 10) * childComplexity,
      },
    },
  }),
});
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: { node: { type: new GraphQLNonNull(Node) } },
  }),
});

const limits: GraphQLLimits = { maxDepth: 4, maxComplexity: 50, maxAliases: 3, maxOperations: 2 };

function refusal(
  query: string,
  options: {
    operationName?: string;
    variables?: Record<string, unknown>;
    limits?: Partial<GraphQLLimits>;
  } = {},
): string | null {
  const document = parse(query);
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode =>
      d.kind === Kind.OPERATION_DEFINITION &&
      (options.operationName === undefined || d.name?.value === options.operationName),
  );
  if (!operation) throw new Error('no operation');
  try {
    checkGraphQLLimits(
      { ...limits, ...options.limits },
      { schema, document, operation, variables: options.variables },
    );
    return null;
  } catch (e) {
    if (!(e instanceof LikenessException)) throw e;
    expect(e.code).toBe('BAD_USER_INPUT');
    expect(e.extra.field).toBe('query');
    return e.extra.reason ?? 'no reason';
  }
}

describe('checkGraphQLLimits', () => {
  it.each<[string, string, string | null]>([
    ['depth 4', '{ node { child { child { id } } } }', null],
    ['depth 5', '{ node { child { child { child { id } } } } }', 'QUERY_TOO_DEEP'],
    [
      'depth 5 through fragments',
      '{ node { ...A } } fragment A on Node { child { ...B } } fragment B on Node { child { child { id } } }',
      'QUERY_TOO_DEEP',
    ],
    [
      'depth 5 through inline fragments',
      '{ node { ... on Node { child { ... { child { child { child { id } } } } } } } }',
      'QUERY_TOO_DEEP',
    ],
    ['3 aliases', '{ a: node { id } b: node { id } c: node { id } }', null],
    [
      '4 aliases',
      '{ a: node { id } b: node { id } c: node { id } d: node { id } }',
      'TOO_MANY_ALIASES',
    ],
    [
      '4 aliases, some in fragments',
      '{ a: node { ...F } b: node { id } } fragment F on Node { x: id y: id }',
      'TOO_MANY_ALIASES',
    ],
    ['complexity 3', '{ node { child { id } } }', null],
    ['complexity 1 + 10 × 3', '{ node { children { id child { id } } } }', null],
    ['complexity 60 × 1 + 1', '{ node { children(first: 60) { id } } }', 'QUERY_TOO_COMPLEX'],
  ])('%s', (_, query, expected) => {
    expect(refusal(query)).toBe(expected);
  });

  it('takes complexity arguments from variables', () => {
    const query = 'query($n: Int) { node { children(first: $n) { id } } }';
    expect(refusal(query, { variables: { n: 5 } })).toBeNull();
    expect(refusal(query, { variables: { n: 500 } })).toBe('QUERY_TOO_COMPLEX');
  });

  it('keeps complexities per document and variables apart', () => {
    const document = parse('query($n: Int) { node { children(first: $n) { id } } }');
    const operation = document.definitions[0] as OperationDefinitionNode;
    const check = (n: number) => () =>
      checkGraphQLLimits(limits, { schema, document, operation, variables: { n } });
    for (let round = 0; round < 2; round++) {
      expect(check(5)).not.toThrow();
      expect(check(500)).toThrow(/complexity is 501/);
    }
  });

  it('counts the operations in the document, not only the one that runs', () => {
    const two = 'query A { node { id } } query B { node { id } }';
    expect(refusal(two, { operationName: 'A' })).toBeNull();
    expect(refusal(`${two} query C { node { id } }`, { operationName: 'A' })).toBe(
      'TOO_MANY_OPERATIONS',
    );
  });

  it('judges depth by the operation that runs', () => {
    const query =
      'query Shallow { node { id } } query Deep { node { child { child { child { child { id } } } } } }';
    expect(refusal(query, { operationName: 'Shallow' })).toBeNull();
    expect(refusal(query, { operationName: 'Deep' })).toBe('QUERY_TOO_DEEP');
  });

  it('lets the standard introspection query through, but not deeper introspection', () => {
    // Its complexity is 220: within the default 1000.
    const roomy = { limits: { maxComplexity: 1000 } };
    expect(refusal(getIntrospectionQuery(), roomy)).toBeNull();
    let inner = 'name';
    for (let depth = 2; depth <= INTROSPECTION_MAX_DEPTH; depth++) inner = `ofType { ${inner} }`;
    expect(refusal(`{ __type(name: "Node") { ${inner} } }`, roomy)).toBe('QUERY_TOO_DEEP');
  });
});
