import path from 'node:path';
import { z } from 'zod';
import { LocalDirectoryStorage } from './local-directory-storage';
import type { ObjectStorage } from './object-storage';
import { S3ObjectStorage, type S3ObjectStorageOptions } from './s3-object-storage';

const isHttpUrl = (value: string): boolean => {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash;
  } catch {
    return false;
  }
};

/**
 * The storage variables every process that reads or writes media shares (gateway, render
 * workers), as zod fields to spread into a process's own env schema. Empty strings are the
 * caller's business (both schemas treat them as unset before parsing).
 */
export const storageEnvShape = {
  STORAGE_DRIVER: z.enum(['local', 's3'], { error: 'must be "local" or "s3"' }).default('local'),
  S3_BUCKET: z.string().min(3).max(63).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ENDPOINT: z.string().refine(isHttpUrl, 'must be an http(s) URL').optional(),
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/?$/, 'must be a key prefix like likeness/prod')
    .refine((v) => !v.split('/').some((s) => s === '.' || s === '..'), 'must not contain . or ..')
    .optional(),
};

export type StorageEnv = z.infer<z.ZodObject<typeof storageEnvShape>>;

/** Where media live: `local` = `<dataDir>/storage`; `s3` = a bucket (AWS or S3-compatible). */
export type StorageConfig =
  | { readonly driver: 'local' }
  | {
      readonly driver: 's3';
      readonly bucket: string;
      readonly region: string;
      readonly endpoint: string | null;
      readonly forcePathStyle: boolean;
      readonly credentials: { accessKeyId: string; secretAccessKey: string } | null;
      readonly prefix: string | null;
    };

export interface StorageEnvProblem {
  variable: string;
  message: string;
}

/**
 * The parsed variables as a `StorageConfig`, or the problems that no field schema can see on
 * its own (a bucket is required for s3; the two credential variables go together).
 */
export function storageConfigFromEnv(
  e: StorageEnv,
): { config: StorageConfig; problems: [] } | { config: null; problems: StorageEnvProblem[] } {
  const problems: StorageEnvProblem[] = [];
  if (e.STORAGE_DRIVER === 's3' && e.S3_BUCKET === undefined) {
    problems.push({ variable: 'S3_BUCKET', message: 'is required when STORAGE_DRIVER=s3' });
  }
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    problems.push({
      variable: e.S3_ACCESS_KEY_ID === undefined ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY',
      message: 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together: set both or neither',
    });
  }
  if (problems.length > 0) return { config: null, problems };
  if (e.STORAGE_DRIVER === 'local' || e.S3_BUCKET === undefined) {
    return { config: { driver: 'local' }, problems: [] };
  }
  return {
    config: {
      driver: 's3',
      bucket: e.S3_BUCKET,
      region: e.S3_REGION,
      endpoint: e.S3_ENDPOINT ?? null,
      forcePathStyle: e.S3_FORCE_PATH_STYLE === 'true',
      credentials:
        e.S3_ACCESS_KEY_ID !== undefined && e.S3_SECRET_ACCESS_KEY !== undefined
          ? { accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY }
          : null,
      prefix: e.S3_PREFIX !== undefined ? e.S3_PREFIX.replace(/\/+$/, '') : null,
    },
    problems: [],
  };
}

/** The local store's directory: `<dataDir>/storage`. */
export function storageRoot(dataDir: string): string {
  return path.resolve(dataDir, 'storage');
}

/** `S3ObjectStorage`'s options for an s3 configuration. */
export function s3StorageOptions(
  config: Extract<StorageConfig, { driver: 's3' }>,
): S3ObjectStorageOptions {
  return {
    bucket: config.bucket,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint !== null ? { endpoint: config.endpoint } : {}),
    ...(config.credentials !== null ? { credentials: config.credentials } : {}),
    ...(config.prefix !== null ? { prefix: config.prefix } : {}),
  };
}

/** The configured store; the caller owns it (`destroy()` an S3 store when done). */
export function createObjectStorage(config: StorageConfig, dataDir: string): ObjectStorage {
  return config.driver === 'local'
    ? new LocalDirectoryStorage(storageRoot(dataDir))
    : new S3ObjectStorage(s3StorageOptions(config));
}
