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

  describe('object storage', () => {
    const base = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/postgres' };
    const problems = (env: Record<string, string>): { variable: string; message: string }[] => {
      try {
        loadConfig({ ...base, ...env });
      } catch (e) {
        if (e instanceof ConfigError) return [...e.problems];
        throw e;
      }
      throw new Error('expected a ConfigError');
    };

    it('defaults to the local directory', () => {
      expect(loadConfig(base).storage).toEqual({ driver: 'local' });
      // S3_* variables are ignored unless the driver is s3
      expect(loadConfig({ ...base, S3_BUCKET: 'media' }).storage).toEqual({ driver: 'local' });
    });

    it('reads the s3 driver with its defaults', () => {
      expect(loadConfig({ ...base, STORAGE_DRIVER: 's3', S3_BUCKET: 'media' }).storage).toEqual({
        driver: 's3',
        bucket: 'media',
        region: 'us-east-1',
        endpoint: null,
        forcePathStyle: false,
        credentials: null,
        prefix: null,
      });
    });

    it('reads every s3 variable', () => {
      const c = loadConfig({
        ...base,
        STORAGE_DRIVER: 's3',
        S3_BUCKET: 'media',
        S3_REGION: 'eu-central-1',
        S3_ENDPOINT: 'http://minio:9000',
        S3_FORCE_PATH_STYLE: 'true',
        S3_ACCESS_KEY_ID: 'AKIA',
        S3_SECRET_ACCESS_KEY: 'secret',
        S3_PREFIX: 'likeness/prod/',
      });
      expect(c.storage).toEqual({
        driver: 's3',
        bucket: 'media',
        region: 'eu-central-1',
        endpoint: 'http://minio:9000',
        forcePathStyle: true,
        credentials: { accessKeyId: 'AKIA', secretAccessKey: 'secret' },
        prefix: 'likeness/prod',
      });
    });

    it.each<[string, Record<string, string>, string]>([
      ['s3 without a bucket', { STORAGE_DRIVER: 's3' }, 'S3_BUCKET'],
      ['an unknown driver', { STORAGE_DRIVER: 'gcs' }, 'STORAGE_DRIVER'],
      ['an endpoint that is no URL', { S3_ENDPOINT: 'minio:9000' }, 'S3_ENDPOINT'],
      ['a path style that is no boolean', { S3_FORCE_PATH_STYLE: 'yes' }, 'S3_FORCE_PATH_STYLE'],
      ['a key id without a secret', { S3_ACCESS_KEY_ID: 'AKIA' }, 'S3_SECRET_ACCESS_KEY'],
      ['a secret without a key id', { S3_SECRET_ACCESS_KEY: 's' }, 'S3_ACCESS_KEY_ID'],
      ['a prefix with ..', { S3_PREFIX: 'a/../b' }, 'S3_PREFIX'],
      ['a prefix with a leading slash', { S3_PREFIX: '/a' }, 'S3_PREFIX'],
      ['a bucket name too short', { STORAGE_DRIVER: 's3', S3_BUCKET: 'ab' }, 'S3_BUCKET'],
    ])('refuses %s, naming the variable', (_label, env, variable) => {
      expect(problems(env).map((p) => p.variable)).toEqual([variable]);
    });

    it('says why S3_BUCKET is needed', () => {
      expect(problems({ STORAGE_DRIVER: 's3' })[0]?.message).toMatch(/STORAGE_DRIVER=s3/);
    });
  });

  describe('avatars', () => {
    const base = { DATABASE_URL: 'postgres://a@b/c' };

    it('prepares with the reference pack and sweeps every 30 s after 2 min by default', () => {
      expect(loadConfig(base).avatars).toEqual({
        modelPack: 'reference',
        sweep: { intervalMs: 30_000, graceMs: 120_000 },
      });
      expect(
        loadConfig({
          ...base,
          AVATAR_MODEL_PACK: 'fantasytalking-14b',
          AVATAR_SWEEP_INTERVAL_MS: '0',
          AVATAR_SWEEP_GRACE_MS: '5000',
        }).avatars,
      ).toEqual({ modelPack: 'fantasytalking-14b', sweep: { intervalMs: 0, graceMs: 5000 } });
    });

    it.each([
      ['AVATAR_MODEL_PACK', 'Not A Slug'],
      ['AVATAR_SWEEP_INTERVAL_MS', '-1'],
      ['AVATAR_SWEEP_GRACE_MS', 'soon'],
    ])('names %s when it is %p', (variable, value) => {
      let caught: unknown;
      try {
        loadConfig({ ...base, [variable]: value });
      } catch (e) {
        caught = e;
      }
      expect((caught as ConfigError).problems.map((p) => p.variable)).toEqual([variable]);
    });
  });
});
