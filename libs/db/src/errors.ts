export type DbErrorCode = 'NOT_FOUND' | 'CONFLICT' | 'INVALID_REFERENCE' | 'INVALID_INPUT';

/** The one exception libs/db throws on purpose; callers map `code` to their own errors. */
export class DbError extends Error {
  constructor(
    readonly code: DbErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DbError';
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids come from API input: a malformed one is simply "not found", not a Postgres error. */
export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object'
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/** Postgres SQLSTATE of an error thrown by pg or by Prisma's pg driver adapter, if any. */
export function sqlState(error: unknown, depth = 0): string | undefined {
  if (error === null || typeof error !== 'object' || depth > 4) return undefined;
  // Prisma (driver adapter): error.meta.driverAdapterError.cause.originalCode
  const original = field(
    field(field(field(error, 'meta'), 'driverAdapterError'), 'cause'),
    'originalCode',
  );
  if (typeof original === 'string') return original;
  // pg: `code` is the SQLSTATE (Prisma's own `code` is P####, and its errors have `clientVersion`)
  const code = field(error, 'code');
  if (
    typeof code === 'string' &&
    /^[0-9A-Z]{5}$/.test(code) &&
    field(error, 'clientVersion') === undefined
  )
    return code;
  return sqlState(field(error, 'cause'), depth + 1);
}

export function isUniqueViolation(error: unknown): boolean {
  if (sqlState(error) === '23505') return true;
  return (
    error !== null && typeof error === 'object' && (error as { code?: unknown }).code === 'P2002'
  );
}
