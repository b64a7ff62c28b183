// Prisma rows → plain domain types, and domain JSON → Prisma JSON inputs.
import { Prisma } from '../prisma';
import { isUuid } from '../errors';
import type { JsonObject, JsonValue, ListOptions } from '../types';

export function json(value: Prisma.JsonValue): JsonValue {
  return value as JsonValue;
}

export function jsonObject(value: Prisma.JsonValue): JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as JsonObject)
    : {};
}

/** For NOT NULL jsonb columns. */
export function jsonInput(value: JsonValue): Prisma.InputJsonValue {
  return value as Prisma.InputJsonValue;
}

/** For nullable jsonb columns: null means SQL NULL. */
export function nullableJsonInput(
  value: JsonValue | null,
): Prisma.InputJsonValue | typeof Prisma.DbNull {
  return value === null ? Prisma.DbNull : (value as Prisma.InputJsonValue);
}

export function page(options: ListOptions | undefined): {
  take: number;
  cursor?: { id: string };
  skip?: number;
} {
  const take = Math.max(1, Math.min(500, options?.first ?? 50));
  // A malformed cursor would be a Postgres error; an unknown one (or another tenant's) yields no rows.
  const before = options?.before;
  if (before === undefined) return { take };
  return {
    take,
    cursor: { id: isUuid(before) ? before : '00000000-0000-0000-0000-000000000000' },
    skip: 1,
  };
}
