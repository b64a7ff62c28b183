import path from 'node:path';
import { z } from 'zod';
import { LocalDirectoryStorage } from './local-directory-storage';
import { S3ObjectStorage } from './s3-object-storage';
import { createObjectStorage, storageConfigFromEnv, storageEnvShape } from './storage-config';

const schema = z.object(storageEnvShape);
const parse = (env: Record<string, string>) => storageConfigFromEnv(schema.parse(env));

describe('storage configuration from the environment', () => {
  it('defaults to the local directory under the data dir', () => {
    const { config } = parse({});
    expect(config).toEqual({ driver: 'local' });
    const store = createObjectStorage(config!, '/srv/likeness');
    expect(store).toBeInstanceOf(LocalDirectoryStorage);
    expect((store as LocalDirectoryStorage).rootDir).toBe(path.resolve('/srv/likeness/storage'));
  });

  it('maps the S3 variables, trimming a trailing slash off the prefix', () => {
    const { config, problems } = parse({
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'media',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_FORCE_PATH_STYLE: 'true',
      S3_ACCESS_KEY_ID: 'id',
      S3_SECRET_ACCESS_KEY: 'secret',
      S3_PREFIX: 'likeness/prod/',
    });
    expect(problems).toEqual([]);
    expect(config).toEqual({
      driver: 's3',
      bucket: 'media',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
      prefix: 'likeness/prod',
    });
    const store = createObjectStorage(config!, '/unused');
    expect(store).toBeInstanceOf(S3ObjectStorage);
    (store as S3ObjectStorage).destroy();
  });

  it('names the variable: a bucket is required for s3, credentials go in pairs', () => {
    expect(parse({ STORAGE_DRIVER: 's3', S3_ACCESS_KEY_ID: 'id' }).problems).toEqual([
      { variable: 'S3_BUCKET', message: 'is required when STORAGE_DRIVER=s3' },
      {
        variable: 'S3_SECRET_ACCESS_KEY',
        message: 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together: set both or neither',
      },
    ]);
  });

  it('refuses malformed values field by field', () => {
    const result = schema.safeParse({
      STORAGE_DRIVER: 'ftp',
      S3_ENDPOINT: 'minio:9000',
      S3_PREFIX: 'a/../b',
    });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => i.path.join('.')).sort();
    expect(paths).toEqual(['S3_ENDPOINT', 'S3_PREFIX', 'STORAGE_DRIVER']);
  });
});
