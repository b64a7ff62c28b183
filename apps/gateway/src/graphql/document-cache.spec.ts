import { buildSchema, print } from 'graphql';
import { DocumentCache } from './document-cache';

const v1 = buildSchema('type Query { viewer: Viewer! } type Viewer { kind: String! name: String }');
// The same API after a release that dropped Viewer.name.
const v2 = buildSchema('type Query { viewer: Viewer! } type Viewer { kind: String! }');

describe('DocumentCache', () => {
  it('parses and validates a query once, then hands out the same document', () => {
    const cache = new DocumentCache();
    const first = cache.get(v1, '{ viewer { kind } }');
    expect(first && print(first)).toBe('{\n  viewer {\n    kind\n  }\n}');
    expect(cache.get(v1, '{ viewer { kind } }')).toBe(first);
    expect(cache.size(v1)).toBe(1);
  });

  it('keys by the exact query text', () => {
    const cache = new DocumentCache();
    const a = cache.get(v1, '{ viewer { kind } }');
    const b = cache.get(v1, '{ viewer { kind }}');
    expect(a).not.toBeNull();
    expect(b).not.toBe(a);
    expect(cache.size(v1)).toBe(2);
  });

  it.each([
    ['a syntax error', '{ viewer { kind }'],
    ['an unknown field', '{ viewer { nope } }'],
    ['a missing selection', '{ viewer }'],
    ['an undefined variable', 'query { viewer { kind @include(if: $x) } }'],
  ])('refuses %s and never caches it', (_label, query) => {
    const cache = new DocumentCache();
    expect(cache.get(v1, query)).toBeNull();
    expect(cache.get(v1, query)).toBeNull();
    expect(cache.size(v1)).toBe(0);
  });

  it('never serves a document validated against another schema', () => {
    const cache = new DocumentCache();
    const query = '{ viewer { kind name } }';
    expect(cache.get(v1, query)).not.toBeNull();
    // Valid against v1 and cached there, but v2 has no Viewer.name.
    expect(cache.get(v2, query)).toBeNull();
    expect(cache.size(v2)).toBe(0);
    expect(cache.get(v1, query)).not.toBeNull();
  });

  it('forgets the least recently used document beyond its bound', () => {
    const cache = new DocumentCache({ maxEntries: 2, maxSizeChars: 1_000_000 });
    const a = cache.get(v1, '{ a: viewer { kind } }');
    cache.get(v1, '{ b: viewer { kind } }');
    expect(cache.get(v1, '{ a: viewer { kind } }')).toBe(a); // a is now the most recent
    cache.get(v1, '{ c: viewer { kind } }'); // evicts b
    expect(cache.size(v1)).toBe(2);
    expect(cache.get(v1, '{ a: viewer { kind } }')).toBe(a);
    const b = cache.get(v1, '{ b: viewer { kind } }');
    expect(b).not.toBeNull();
    expect(cache.get(v1, '{ b: viewer { kind } }')).toBe(b);
  });

  it('bounds the total size too', () => {
    const cache = new DocumentCache({ maxEntries: 1000, maxSizeChars: 2000 });
    for (let i = 0; i < 50; i++) cache.get(v1, `{ f${i}: viewer { kind } }`);
    expect(cache.size(v1)).toBeGreaterThan(0);
    expect(cache.size(v1)).toBeLessThan(50);
  });
});
