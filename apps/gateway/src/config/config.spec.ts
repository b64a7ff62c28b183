import { ConfigError, loadConfig } from './config';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({ DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/postgres' });
    expect(c.port).toBe(4000);
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.dataDir).toBe('.data');
    expect(c.database.appUrl).toBeUndefined();
  });

  it('names every bad variable', () => {
    let caught: unknown;
    try {
      loadConfig({ PORT: 'eighty', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const vars = (caught as ConfigError).problems.map((p) => p.variable).sort();
    expect(vars).toEqual(['DATABASE_URL', 'LOG_LEVEL', 'PORT', 'REDIS_URL']);
    expect((caught as ConfigError).message).toContain('DATABASE_URL: is required');
  });

  it('treats empty strings as unset', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://a@b/c', PORT: '', REDIS_URL: '' });
    expect(c.port).toBe(4000);
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
  });
});
