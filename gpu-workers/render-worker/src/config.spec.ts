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
      }),
    ).toEqual({
      redisUrl: 'rediss://redis.internal:6380/2',
      dataDir: '/var/lib/likeness',
      concurrency: 3,
      executionProvider: 'cuda',
      workerId: 'gpu-7',
      prefix: 'staging',
    });
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
