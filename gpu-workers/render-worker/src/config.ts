import { hostname } from 'node:os';
import { type StorageConfig, storageConfigFromEnv, storageEnvShape } from '@likeness/storage';
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
  ...storageEnvShape,
});

export type ExecutionProvider = 'cpu' | 'cuda';

/** Where media live (libs/storage): `local` is `<LIKENESS_DATA_DIR>/storage`, shared with the gateway on one machine. */
export type { StorageConfig };

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
  const storage = storageConfigFromEnv(e);
  if (storage.config === null) throw new ConfigError(storage.problems);
  return {
    redisUrl: e.REDIS_URL,
    dataDir: e.LIKENESS_DATA_DIR,
    concurrency: e.WORKER_CONCURRENCY,
    executionProvider: e.EXECUTION_PROVIDER,
    workerId: e.WORKER_ID ?? `${hostname()}-${process.pid}`,
    prefix: e.BULLMQ_PREFIX,
    storage: storage.config,
  };
}
