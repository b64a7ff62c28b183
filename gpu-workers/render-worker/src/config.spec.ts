import { ConfigError, loadConfig } from './config';

function configErrorOf(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the defaults to an empty environment', () => {
    const config = loadConfig({});
    expect(config).toEqual({
      redisUrl: 'redis://127.0.0.1:6379',
      dataDir: '.data',
      concurrency: 1,
      executionProvider: 'cpu',
      workerId: expect.stringMatching(new RegExp(`-${process.pid}$`)),
      prefix: 'likeness',
      storage: { driver: 'local' },
    });
  });

  it('reads every variable', () => {
    expect(
      loadConfig({
        REDIS_URL: 'rediss://redis.internal:6380/2',
        LIKENESS_DATA_DIR: '/var/lib/likeness',
        WORKER_CONCURRENCY: '3',
        EXECUTION_PROVIDER: 'cuda',
        WORKER_ID: 'gpu-7',
        BULLMQ_PREFIX: 'staging',
        STORAGE_DRIVER: 's3',
        S3_BUCKET: 'media',
        S3_REGION: 'eu-west-1',
        S3_ENDPOINT: 'http://minio:9000',
        S3_FORCE_PATH_STYLE: 'true',
        S3_ACCESS_KEY_ID: 'id',
        S3_SECRET_ACCESS_KEY: 'secret',
        S3_PREFIX: 'likeness/prod/',
      }),
    ).toEqual({
      redisUrl: 'rediss://redis.internal:6380/2',
      dataDir: '/var/lib/likeness',
      concurrency: 3,
      executionProvider: 'cuda',
      workerId: 'gpu-7',
      prefix: 'staging',
      storage: {
        driver: 's3',
        bucket: 'media',
        region: 'eu-west-1',
        endpoint: 'http://minio:9000',
        forcePathStyle: true,
        credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
        prefix: 'likeness/prod',
      },
    });
  });

  it('needs a bucket for S3, and S3 keys in pairs', () => {
    expect(configErrorOf({ STORAGE_DRIVER: 's3' }).issues.map((i) => i.variable)).toEqual([
      'S3_BUCKET',
    ]);
    expect(configErrorOf({ S3_ACCESS_KEY_ID: 'id' }).issues.map((i) => i.variable)).toEqual([
      'S3_SECRET_ACCESS_KEY',
    ]);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ WORKER_CONCURRENCY: '', REDIS_URL: '' }).concurrency).toBe(1);
  });

  it.each([
    ['WORKER_CONCURRENCY', '0'],
    ['WORKER_CONCURRENCY', '2.5'],
    ['WORKER_CONCURRENCY', 'many'],
    ['EXECUTION_PROVIDER', 'tensorrt'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['STORAGE_DRIVER', 'ftp'],
  ])('names %s when it is %p', (variable, value) => {
    const error = configErrorOf({ [variable]: value });
    expect(error.issues.map((i) => i.variable)).toEqual([variable]);
    expect(error.message).toContain(variable);
  });

  it('names every bad variable at once', () => {
    const error = configErrorOf({
      WORKER_CONCURRENCY: '-1',
      EXECUTION_PROVIDER: 'gpu',
      REDIS_URL: 'localhost',
    });
    expect(error.issues.map((i) => i.variable).sort()).toEqual([
      'EXECUTION_PROVIDER',
      'REDIS_URL',
      'WORKER_CONCURRENCY',
    ]);
    expect(error.message).toMatch(/EXECUTION_PROVIDER must be "cpu" or "cuda"/);
  });
});
