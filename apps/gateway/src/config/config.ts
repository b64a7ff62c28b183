import { z } from 'zod';

/**
 * The gateway's whole configuration, read once at boot from the environment. Nothing else in
 * the gateway reads process.env. Variable names are binding (../shared/API.md "Operating").
 */
const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  DATABASE_URL: z
    .string({ error: 'is required (PostgreSQL with pgvector, owner role)' })
    .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL'),
  DATABASE_APP_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgresql:// URL')
    .optional(),
  DATABASE_APP_PASSWORD: z.string().min(1).optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .default('redis://127.0.0.1:6379'),
  LIKENESS_DATA_DIR: z.string().min(1).default('.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  READINESS_TIMEOUT_MS: z.coerce.number().int().min(50).max(30000).default(2000),
});

export type AppConfig = Readonly<{
  nodeEnv: 'development' | 'test' | 'production';
  host: string;
  port: number;
  database: { url: string; appUrl?: string; appPassword?: string };
  redisUrl: string;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readinessTimeoutMs: number;
}>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly { variable: string; message: string }[]) {
    super(
      'Invalid gateway configuration:\n' +
        problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv): AppConfig {
  // Empty strings count as unset, as shells often export VAR= to clear a value.
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ''),
  );
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({
        variable: String(i.path[0] ?? '(env)'),
        message: i.message,
      })),
    );
  }
  const e = parsed.data;
  return {
    nodeEnv: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    database: {
      url: e.DATABASE_URL,
      ...(e.DATABASE_APP_URL ? { appUrl: e.DATABASE_APP_URL } : {}),
      ...(e.DATABASE_APP_PASSWORD ? { appPassword: e.DATABASE_APP_PASSWORD } : {}),
    },
    redisUrl: e.REDIS_URL,
    dataDir: e.LIKENESS_DATA_DIR,
    logLevel: e.LOG_LEVEL,
    readinessTimeoutMs: e.READINESS_TIMEOUT_MS,
  };
}

export const APP_CONFIG = Symbol('APP_CONFIG');
