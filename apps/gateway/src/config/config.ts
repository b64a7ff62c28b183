import { z } from 'zod';
import { type StorageConfig, storageConfigFromEnv, storageEnvShape } from '@likeness/storage';

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
  REDIS_PREFIX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9:_-]{0,63}$/, 'must be lowercase letters, digits, : _ -')
    .default('likeness'),
  LIKENESS_DATA_DIR: z.string().min(1).default('.data'),
  // Object storage (libs/storage): a local directory under LIKENESS_DATA_DIR, or S3.
  ...storageEnvShape,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  READINESS_TIMEOUT_MS: z.coerce.number().int().min(50).max(30000).default(2000),
  // Assets (src/assets): signed, expiring download URLs.
  URL_SIGNING_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  SIGNED_URL_TTL_SECONDS: z.coerce.number().int().min(60).max(604_800).default(3600),
  PUBLIC_URL: z
    .string()
    .refine(isBaseUrl, 'must be an http(s) URL without query or fragment')
    .optional(),
  // Protection (src/protection): rate limits, CORS, GraphQL limits, proxies.
  TRUST_PROXY: z
    .string()
    .regex(
      /^(true|false|\d{1,2}|[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*)$/,
      'must be true, false, a hop count, or a comma list of proxy addresses/CIDRs',
    )
    .default('false'),
  RATE_LIMIT_IP_PER_MINUTE: z.coerce.number().int().min(1).max(10_000_000).default(600),
  RATE_LIMIT_API_KEY_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000_000).optional(),
  CORS_ORIGINS: z
    .string()
    .refine(
      (v) => v.split(',').every((o) => isOrigin(o.trim())),
      'must be a comma list of origins like https://app.example.com',
    )
    .optional(),
  GRAPHQL_MAX_DEPTH: z.coerce.number().int().min(2).max(100).default(10),
  GRAPHQL_MAX_COMPLEXITY: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  GRAPHQL_MAX_QUERY_BYTES: z.coerce.number().int().min(256).max(1_000_000).default(20_480),
  GRAPHQL_MAX_ALIASES: z.coerce.number().int().min(0).max(10_000).default(30),
  GRAPHQL_MAX_OPERATIONS: z.coerce.number().int().min(1).max(1000).default(10),
  // Off only to rule the direct GraphQL path out when hunting a bug (src/graphql/direct-execution.ts).
  GRAPHQL_DIRECT_EXECUTION: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('true'),
  SESSION_TTL_HOURS: z.coerce.number().positive().max(720).default(12),
  LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).max(1000).default(5),
  LOGIN_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).max(100000).default(100),
  LOGIN_LOCKOUT_SECONDS: z.coerce.number().int().min(1).max(86400).default(900),
  // Workers (src/workers): the worker-events stream consumer.
  WORKER_EVENTS_CONSUME: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('true'),
  WORKER_EVENTS_CLAIM_IDLE_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  // Webhooks (src/webhooks): secret encryption, URL policy, delivery, retries, sweeper.
  WEBHOOK_SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  WEBHOOK_ALLOW_HTTP_LOOPBACK: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .optional(),
  WEBHOOK_BLOCK_PRIVATE_ADDRESSES: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .optional(),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(30_000),
  WEBHOOK_RETRY_MAX_DELAY_MS: z.coerce.number().int().min(10).max(86_400_000).default(14_400_000),
  WEBHOOK_RETRY_WINDOW_SECONDS: z.coerce.number().int().min(1).max(604_800).default(86_400),
  WEBHOOK_DISABLE_AFTER_FAILURES: z.coerce.number().int().min(1).max(100_000).default(50),
  WEBHOOK_DISABLE_AFTER_SECONDS: z.coerce.number().int().min(0).max(2_592_000).default(259_200),
  WEBHOOK_WORKER: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  WEBHOOK_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(10),
  WEBHOOK_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  WEBHOOK_SWEEP_GRACE_MS: z.coerce.number().int().min(0).max(86_400_000).default(60_000),
  WEBHOOK_DELIVERY_RETENTION_DAYS: z.coerce.number().int().min(0).max(3650).default(30),
  // Avatars (src/avatars): the model pack that prepares them, the sweeper of lost jobs.
  AVATAR_MODEL_PACK: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be a model pack name (lowercase slug)')
    .default('reference'),
  AVATAR_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  AVATAR_SWEEP_GRACE_MS: z.coerce.number().int().min(0).max(86_400_000).default(120_000),
  // Renders (src/renders): default pack, fair admission, reconciler, deadlines, limits.
  RENDER_DEFAULT_PACK: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be a model pack name (lowercase slug)')
    .default('reference'),
  RENDER_DISPATCH: z.enum(['true', 'false'], { error: 'must be true or false' }).default('true'),
  RENDER_DISPATCH_INTERVAL_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
  RENDER_DISPATCH_BACKLOG: z.coerce.number().int().min(0).max(10_000).default(2),
  RENDER_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
  RENDER_DEADLINE_SECONDS: z.coerce.number().int().min(10).max(604_800).default(21_600),
  RENDER_WORKER_LOST_SECONDS: z.coerce.number().int().min(1).max(86_400).default(90),
  RENDER_CANCEL_GRACE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(120),
  RENDER_MAX_ADMISSIONS: z.coerce.number().int().min(1).max(100).default(3),
  RENDER_JOB_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  RENDER_MAX_UNFINISHED_PER_TENANT: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  RENDER_PACK_MEMORY_DAYS: z.coerce.number().int().min(0).max(3650).default(30),
});

export type AppConfig = Readonly<{
  nodeEnv: 'development' | 'test' | 'production';
  host: string;
  port: number;
  database: { url: string; appUrl?: string; appPassword?: string };
  redisUrl: string;
  /** Prefix of every Redis key and pub/sub channel this gateway uses (tests isolate by it). */
  redisPrefix: string;
  dataDir: string;
  /**
   * Where objects (uploads, renders) are kept: `local` = `<dataDir>/storage`; `s3` = a bucket
   * on AWS S3 or an S3-compatible server (`endpoint`), with static credentials or, when they are
   * null, the AWS SDK's default provider chain.
   */
  storage: StorageConfig;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readinessTimeoutMs: number;
  /** The gateway's public base URL (no trailing slash) for links it hands out; null = the request's host. */
  publicUrl: string | null;
  /**
   * Signed download URLs: the HMAC secret (required in production; elsewhere null means one is
   * generated once and kept under `dataDir`) and how long a URL stays valid.
   */
  signedUrls: { secret: string | null; ttlSeconds: number };
  /** Fastify `trustProxy`: whose X-Forwarded-For to believe when finding the client IP. */
  trustProxy: boolean | number | string[];
  /** Requests per minute on /graphql and /v1/*: per client IP, and per API key (null = plan). */
  rateLimits: { ipPerMinute: number; apiKeyPerMinute: number | null };
  /** Browser origins allowed by CORS (none in production unless CORS_ORIGINS names them). */
  corsOrigins: readonly string[];
  /** Limits on one GraphQL request; beyond them it is refused with BAD_USER_INPUT. */
  graphqlLimits: {
    maxDepth: number;
    maxComplexity: number;
    maxQueryBytes: number;
    maxAliases: number;
    maxOperations: number;
  };
  /**
   * Whether ordinary GraphQL requests run on the direct path (cached documents, graphql-js
   * execute) rather than through Apollo's request pipeline; the answers are the same.
   */
  graphqlDirectExecution: boolean;
  /** Lifetime of a session token from `login`. */
  sessionTtlHours: number;
  /**
   * Login brute-force protection: failed attempts per email + IP (reset by a successful login)
   * and per IP (over 24 h), after which further attempts are refused for `lockoutSeconds`.
   */
  login: { maxFailures: number; maxFailuresPerIp: number; lockoutSeconds: number };
  /**
   * The worker-events consumer: whether this replica consumes the stream (every replica should;
   * `false` only for tools and tests), and how long an event may sit unacknowledged with a
   * consumer (a crashed replica, a failing handler) before another delivery is attempted.
   */
  workerEvents: { consume: boolean; claimIdleMs: number };
  /**
   * Webhooks (src/webhooks). `secretKey` encrypts the endpoints' signing secrets (null: derived
   * from the URL signing secret, or generated under `dataDir` outside production). http:// is
   * accepted only for loopback hosts when `allowHttpLoopback`; `blockPrivateAddresses` refuses
   * private, loopback and link-local targets (also after DNS). Retries back off exponentially
   * from `retry.baseMs` (capped at `maxDelayMs`, with jitter) until `windowSeconds` after the
   * event; an endpoint is disabled after `disable.afterFailures` consecutive failed attempts
   * spanning at least `disable.afterSeconds`. The sweeper re-enqueues PENDING deliveries more
   * than `sweep.graceMs` overdue every `sweep.intervalMs` (0 = never), and about once an hour
   * deletes finished deliveries older than `retentionDays` (0 = keep them forever).
   */
  webhooks: {
    secretKey: string | null;
    allowHttpLoopback: boolean;
    blockPrivateAddresses: boolean;
    timeoutMs: number;
    retry: { baseMs: number; maxDelayMs: number; windowSeconds: number };
    disable: { afterFailures: number; afterSeconds: number };
    worker: { enabled: boolean; concurrency: number };
    sweep: { intervalMs: number; graceMs: number };
    retentionDays: number;
  };
  /**
   * Avatars (src/avatars): `modelPack` prepares new avatars (its identity encoder makes their
   * embeddings). Every `sweep.intervalMs` (0 = never) the sweeper looks at avatars PROCESSING
   * for more than `sweep.graceMs`: it re-enqueues those whose job was lost and fails those
   * whose job failed without a word from the worker.
   */
  avatars: { modelPack: string; sweep: { intervalMs: number; graceMs: number } };
  /**
   * Renders (src/renders, README "Renders"). `defaultPack` when RenderInput.modelPack is absent.
   * `dispatch`: whether this replica runs the admitter and the reconciler (one pass at a time
   * across replicas either way). The admitter runs every `dispatchIntervalMs` (and at once after
   * changes) and keeps at most the live workers' capacity + `dispatchBacklog` renders admitted
   * and unfinished. The reconciler runs every `reconcileIntervalMs` (0 = never). A render not
   * finished `deadlineSeconds` after its creation fails; one whose worker stopped advertising and
   * reporting for `workerLostSeconds` is run again, at most `maxAdmissions` admissions in all;
   * a cancel the worker does not confirm within `cancelGraceSeconds` is forced. BullMQ retries
   * a job up to `jobAttempts` times (retryable worker failures). A tenant may have at most
   * `maxUnfinishedPerTenant` renders queued or running. Packs no live worker has are accepted
   * if one was seen within `packMemoryDays`.
   */
  renders: {
    defaultPack: string;
    dispatch: boolean;
    dispatchIntervalMs: number;
    dispatchBacklog: number;
    reconcileIntervalMs: number;
    deadlineSeconds: number;
    workerLostSeconds: number;
    cancelGraceSeconds: number;
    maxAdmissions: number;
    jobAttempts: number;
    maxUnfinishedPerTenant: number;
    packMemoryDays: number;
  };
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
  if (e.NODE_ENV === 'production' && e.URL_SIGNING_SECRET === undefined) {
    throw new ConfigError([
      {
        variable: 'URL_SIGNING_SECRET',
        message:
          'is required in production (at least 32 random characters, the same on every replica)',
      },
    ]);
  }
  const storage = storageConfigFromEnv(e);
  if (storage.config === null) throw new ConfigError(storage.problems);
  const production = e.NODE_ENV === 'production';
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
    redisPrefix: e.REDIS_PREFIX,
    dataDir: e.LIKENESS_DATA_DIR,
    storage: storage.config,
    logLevel: e.LOG_LEVEL,
    readinessTimeoutMs: e.READINESS_TIMEOUT_MS,
    publicUrl: e.PUBLIC_URL !== undefined ? e.PUBLIC_URL.replace(/\/+$/, '') : null,
    signedUrls: { secret: e.URL_SIGNING_SECRET ?? null, ttlSeconds: e.SIGNED_URL_TTL_SECONDS },
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    rateLimits: {
      ipPerMinute: e.RATE_LIMIT_IP_PER_MINUTE,
      apiKeyPerMinute: e.RATE_LIMIT_API_KEY_PER_MINUTE ?? null,
    },
    corsOrigins:
      e.CORS_ORIGINS !== undefined
        ? e.CORS_ORIGINS.split(',').map((o) => o.trim())
        : e.NODE_ENV === 'production'
          ? []
          : DEV_CORS_ORIGINS,
    graphqlLimits: {
      maxDepth: e.GRAPHQL_MAX_DEPTH,
      maxComplexity: e.GRAPHQL_MAX_COMPLEXITY,
      maxQueryBytes: e.GRAPHQL_MAX_QUERY_BYTES,
      maxAliases: e.GRAPHQL_MAX_ALIASES,
      maxOperations: e.GRAPHQL_MAX_OPERATIONS,
    },
    graphqlDirectExecution: e.GRAPHQL_DIRECT_EXECUTION === 'true',
    sessionTtlHours: e.SESSION_TTL_HOURS,
    login: {
      maxFailures: e.LOGIN_MAX_FAILURES,
      maxFailuresPerIp: e.LOGIN_MAX_FAILURES_PER_IP,
      lockoutSeconds: e.LOGIN_LOCKOUT_SECONDS,
    },
    workerEvents: {
      consume: e.WORKER_EVENTS_CONSUME === 'true',
      claimIdleMs: e.WORKER_EVENTS_CLAIM_IDLE_MS,
    },
    webhooks: {
      secretKey: e.WEBHOOK_SECRET_KEY ?? null,
      allowHttpLoopback: (e.WEBHOOK_ALLOW_HTTP_LOOPBACK ?? String(!production)) === 'true',
      blockPrivateAddresses: (e.WEBHOOK_BLOCK_PRIVATE_ADDRESSES ?? String(production)) === 'true',
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      retry: {
        baseMs: e.WEBHOOK_RETRY_BASE_MS,
        maxDelayMs: Math.max(e.WEBHOOK_RETRY_BASE_MS, e.WEBHOOK_RETRY_MAX_DELAY_MS),
        windowSeconds: e.WEBHOOK_RETRY_WINDOW_SECONDS,
      },
      disable: {
        afterFailures: e.WEBHOOK_DISABLE_AFTER_FAILURES,
        afterSeconds: e.WEBHOOK_DISABLE_AFTER_SECONDS,
      },
      worker: { enabled: e.WEBHOOK_WORKER === 'true', concurrency: e.WEBHOOK_WORKER_CONCURRENCY },
      sweep: { intervalMs: e.WEBHOOK_SWEEP_INTERVAL_MS, graceMs: e.WEBHOOK_SWEEP_GRACE_MS },
      retentionDays: e.WEBHOOK_DELIVERY_RETENTION_DAYS,
    },
    avatars: {
      modelPack: e.AVATAR_MODEL_PACK,
      sweep: { intervalMs: e.AVATAR_SWEEP_INTERVAL_MS, graceMs: e.AVATAR_SWEEP_GRACE_MS },
    },
    renders: {
      defaultPack: e.RENDER_DEFAULT_PACK,
      dispatch: e.RENDER_DISPATCH === 'true',
      dispatchIntervalMs: e.RENDER_DISPATCH_INTERVAL_MS,
      dispatchBacklog: e.RENDER_DISPATCH_BACKLOG,
      reconcileIntervalMs: e.RENDER_RECONCILE_INTERVAL_MS,
      deadlineSeconds: e.RENDER_DEADLINE_SECONDS,
      workerLostSeconds: e.RENDER_WORKER_LOST_SECONDS,
      cancelGraceSeconds: e.RENDER_CANCEL_GRACE_SECONDS,
      maxAdmissions: e.RENDER_MAX_ADMISSIONS,
      jobAttempts: e.RENDER_JOB_ATTEMPTS,
      maxUnfinishedPerTenant: e.RENDER_MAX_UNFINISHED_PER_TENANT,
      packMemoryDays: e.RENDER_PACK_MEMORY_DAYS,
    },
  };
}

/** Local browser apps (Vite's dev server) allowed by CORS outside production by default. */
const DEV_CORS_ORIGINS: readonly string[] = ['http://localhost:5173', 'http://127.0.0.1:5173'];

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

function isBaseUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash;
  } catch {
    return false;
  }
}

function parseTrustProxy(value: string): boolean | number | string[] {
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d+$/.test(value)) return Number(value);
  return value.split(',').map((a) => a.trim());
}

export const APP_CONFIG = Symbol('APP_CONFIG');
