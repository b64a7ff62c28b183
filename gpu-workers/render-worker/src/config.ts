import { hostname } from 'node:os';
import { z } from 'zod';

/**
 * The worker's whole environment, validated once at boot (STYLE.md "Config"). Empty strings
 * count as unset, so `WORKER_CONCURRENCY=` in a manifest falls back to the default.
 */
const envSchema = z.object({
  REDIS_URL: z
    .string()
    .default('redis://127.0.0.1:6379')
    .refine((value) => /^rediss?:\/\/[^/\s]+/.test(value), {
      message: 'must be a redis:// or rediss:// URL',
    }),
  LIKENESS_DATA_DIR: z.string().default('.data'),
  WORKER_CONCURRENCY: z.coerce
    .number({ message: 'must be an integer ≥ 1' })
    .int({ message: 'must be an integer ≥ 1' })
    .min(1, { message: 'must be an integer ≥ 1' })
    .default(1),
  EXECUTION_PROVIDER: z
    .enum(['cpu', 'cuda'], { message: 'must be "cpu" or "cuda"' })
    .default('cpu'),
  WORKER_ID: z.string().optional(),
  BULLMQ_PREFIX: z
    .string()
    .default('likeness')
    .refine((value) => !value.includes(' '), { message: 'must not contain spaces' }),
  // Object storage: the same variables and meaning as the gateway's (both read and write it).
  STORAGE_DRIVER: z.enum(['local', 's3'], { message: 'must be "local" or "s3"' }).default('local'),
  S3_BUCKET: z.string().min(3).max(63).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ENDPOINT: z
    .string()
    .refine((value) => /^https?:\/\/[^\s]+$/.test(value), { message: 'must be an http(s) URL' })
    .optional(),
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default('false'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_PREFIX: z.string().min(1).optional(),
});

export type ExecutionProvider = 'cpu' | 'cuda';

/**
 * Where media live: `local` is `<LIKENESS_DATA_DIR>/storage` (shared with the gateway on one
 * machine), `s3` a bucket (AWS or S3-compatible), as in the gateway's configuration.
 */
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

export interface WorkerConfig {
  readonly redisUrl: string;
  readonly dataDir: string;
  readonly concurrency: number;
  readonly executionProvider: ExecutionProvider;
  readonly workerId: string;
  readonly prefix: string;
  readonly storage: StorageConfig;
}

export interface ConfigIssue {
  readonly variable: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(
      `invalid worker environment: ${issues.map((i) => `${i.variable} ${i.message}`).join('; ')}`,
    );
    this.name = 'ConfigError';
  }
}

/** Parses the environment (process.env in production) or throws a ConfigError naming every bad variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): WorkerConfig {
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const result = envSchema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? '(env)'),
        message: issue.message,
      })),
    );
  }
  const e = result.data;
  const problems: ConfigIssue[] = [];
  if (e.STORAGE_DRIVER === 's3' && e.S3_BUCKET === undefined) {
    problems.push({ variable: 'S3_BUCKET', message: 'is required when STORAGE_DRIVER=s3' });
  }
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    problems.push({
      variable: e.S3_ACCESS_KEY_ID === undefined ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY',
      message: 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together: set both or neither',
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    redisUrl: e.REDIS_URL,
    dataDir: e.LIKENESS_DATA_DIR,
    concurrency: e.WORKER_CONCURRENCY,
    executionProvider: e.EXECUTION_PROVIDER,
    workerId: e.WORKER_ID ?? `${hostname()}-${process.pid}`,
    prefix: e.BULLMQ_PREFIX,
    storage:
      e.STORAGE_DRIVER === 's3' && e.S3_BUCKET !== undefined
        ? {
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
          }
        : { driver: 'local' },
  };
}
