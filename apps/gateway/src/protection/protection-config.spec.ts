import { ConfigError, loadConfig } from '../config/config';

const base = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/postgres' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ ...base, ...env });
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map((p) => p.variable);
  }
}

describe('protection configuration', () => {
  it('has documented defaults', () => {
    const c = loadConfig(base);
    expect(c.rateLimits).toEqual({ ipPerMinute: 600, apiKeyPerMinute: null });
    expect(c.graphqlLimits).toEqual({
      maxDepth: 10,
      maxComplexity: 1000,
      maxQueryBytes: 20_480,
      maxAliases: 30,
      maxOperations: 10,
    });
    expect(c.trustProxy).toBe(false);
  });

  it('allows the local admin dev server by default outside production, nothing in production', () => {
    expect(loadConfig(base).corsOrigins).toEqual([
      'http://localhost:5173',
      'http://127.0.0.1:5173',
    ]);
    expect(loadConfig({ ...base, NODE_ENV: 'test' }).corsOrigins).toContain(
      'http://localhost:5173',
    );
    const production = loadConfig({
      ...base,
      NODE_ENV: 'production',
      URL_SIGNING_SECRET: 'x'.repeat(48),
    });
    expect(production.corsOrigins).toEqual([]);
  });

  it('reads CORS_ORIGINS as a comma list', () => {
    const c = loadConfig({
      ...base,
      CORS_ORIGINS: 'https://app.example.com, http://localhost:3000',
    });
    expect(c.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:3000']);
  });

  it.each<[string, string | number | boolean | string[]]>([
    ['true', true],
    ['false', false],
    ['2', 2],
    ['10.0.0.0/8,127.0.0.1', ['10.0.0.0/8', '127.0.0.1']],
  ])('reads TRUST_PROXY=%s', (value, expected) => {
    expect(loadConfig({ ...base, TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it('reads the limits', () => {
    const c = loadConfig({
      ...base,
      RATE_LIMIT_IP_PER_MINUTE: '7',
      RATE_LIMIT_API_KEY_PER_MINUTE: '9',
      GRAPHQL_MAX_DEPTH: '4',
      GRAPHQL_MAX_COMPLEXITY: '99',
      GRAPHQL_MAX_QUERY_BYTES: '4096',
      GRAPHQL_MAX_ALIASES: '0',
      GRAPHQL_MAX_OPERATIONS: '1',
    });
    expect(c.rateLimits).toEqual({ ipPerMinute: 7, apiKeyPerMinute: 9 });
    expect(c.graphqlLimits).toEqual({
      maxDepth: 4,
      maxComplexity: 99,
      maxQueryBytes: 4096,
      maxAliases: 0,
      maxOperations: 1,
    });
  });

  it.each<[string, string]>([
    ['CORS_ORIGINS', 'app.example.com'],
    ['CORS_ORIGINS', 'https://app.example.com/'],
    ['CORS_ORIGINS', 'https://app.example.com,*'],
    ['CORS_ORIGINS', 'ftp://files.example.com'],
    ['TRUST_PROXY', 'yes'],
    ['RATE_LIMIT_IP_PER_MINUTE', '0'],
    ['RATE_LIMIT_IP_PER_MINUTE', 'many'],
    ['RATE_LIMIT_API_KEY_PER_MINUTE', '-1'],
    ['GRAPHQL_MAX_DEPTH', '1'],
    ['GRAPHQL_MAX_COMPLEXITY', '0'],
    ['GRAPHQL_MAX_QUERY_BYTES', '10'],
    ['GRAPHQL_MAX_ALIASES', '-1'],
    ['GRAPHQL_MAX_OPERATIONS', '0'],
  ])('refuses %s=%s, naming the variable', (variable, value) => {
    expect(problems({ [variable]: value })).toEqual([variable]);
  });
});
