import type { ApiKeyCursor } from '@likeness/db';
import { ALL_SCOPES, SCOPES, isScope } from '../auth/access';
import { BadUserInputException } from '../errors/likeness.exception';
import { ApiKeyEnvironment, type CreateApiKeyInput } from './api-key.model';

export const NAME_MAX_LENGTH = 100;
export const DEFAULT_GRACE_PERIOD_SECONDS = 24 * 60 * 60;
export const MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 60 * 60;
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export interface ValidCreateApiKey {
  name: string;
  scopes: string[];
  expiresAt: Date | null;
  environment: 'live' | 'test';
  spendCapCents: number | null;
}

/** Checks createApiKey's input; throws BAD_USER_INPUT naming the first offending field. */
export function validateCreateApiKey(input: CreateApiKeyInput, now: Date): ValidCreateApiKey {
  const name = input.name.trim();
  if (name.length === 0) throw new BadUserInputException('name', 'name must not be empty');
  if (name.length > NAME_MAX_LENGTH) {
    throw new BadUserInputException('name', `name must be at most ${NAME_MAX_LENGTH} characters`);
  }
  if (CONTROL_CHARS.test(name)) {
    throw new BadUserInputException('name', 'name must not contain control characters');
  }
  const scopes = normalizeScopes(input.scopes);
  const expiresAt = input.expiresAt ?? null;
  if (expiresAt && expiresAt.getTime() <= now.getTime()) {
    throw new BadUserInputException('expiresAt', 'expiresAt must be in the future');
  }
  const spendCapCents = input.spendCapCents ?? null;
  if (spendCapCents !== null && spendCapCents < 0) {
    throw new BadUserInputException('spendCapCents', 'spendCapCents must not be negative');
  }
  const environment = (input.environment ?? ApiKeyEnvironment.LIVE) === ApiKeyEnvironment.TEST;
  return { name, scopes, expiresAt, environment: environment ? 'test' : 'live', spendCapCents };
}

/** Known scopes, deduplicated, in SCOPES order; `["*"]` when `*` is among them. */
export function normalizeScopes(scopes: readonly string[]): string[] {
  if (scopes.length === 0) {
    throw new BadUserInputException('scopes', 'scopes must list at least one scope (or "*")');
  }
  for (const scope of scopes) {
    if (scope !== ALL_SCOPES && !isScope(scope)) {
      throw new BadUserInputException(
        'scopes',
        `unknown scope "${scope}"; known scopes: ${SCOPES.join(', ')} or "*"`,
      );
    }
  }
  if (scopes.includes(ALL_SCOPES)) return [ALL_SCOPES];
  return SCOPES.filter((s) => scopes.includes(s));
}

/** Scopes among `wanted` that a holder of `held` lacks (an API key may grant only its own). */
export function scopesNotHeld(held: readonly string[], wanted: readonly string[]): string[] {
  if (held.includes(ALL_SCOPES)) return [];
  return wanted.filter((s) => !held.includes(s));
}

export function validateKeyId(id: string, field = 'id'): string {
  if (!UUID_RE.test(id)) throw new BadUserInputException(field, `${field} is not an API key id`);
  return id.toLowerCase();
}

export function validateGracePeriod(seconds: number | null | undefined): number {
  const grace = seconds ?? DEFAULT_GRACE_PERIOD_SECONDS;
  if (grace < 0 || grace > MAX_GRACE_PERIOD_SECONDS) {
    throw new BadUserInputException(
      'gracePeriodSeconds',
      `gracePeriodSeconds must be between 0 and ${MAX_GRACE_PERIOD_SECONDS} (7 days)`,
    );
  }
  return grace;
}

export function validatePageSize(first: number | null | undefined): number {
  const size = first ?? DEFAULT_PAGE_SIZE;
  if (size < 1 || size > MAX_PAGE_SIZE) {
    throw new BadUserInputException('first', `first must be between 1 and ${MAX_PAGE_SIZE}`);
  }
  return size;
}

/** Opaque cursor: base64url of `<createdAt ISO>|<id>`, the keyset of the listing order. */
export function encodeCursor(cursor: ApiKeyCursor): string {
  return Buffer.from(`${cursor.createdAt.toISOString()}|${cursor.id}`, 'utf8').toString(
    'base64url',
  );
}

export function decodeCursor(value: string): ApiKeyCursor {
  const invalid = (): BadUserInputException =>
    new BadUserInputException('after', 'after is not a cursor from this listing');
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(value)) throw invalid();
  const [iso, id, extra] = Buffer.from(value, 'base64url').toString('utf8').split('|');
  if (iso === undefined || id === undefined || extra !== undefined || !UUID_RE.test(id)) {
    throw invalid();
  }
  const createdAt = new Date(iso);
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== iso) throw invalid();
  return { createdAt, id };
}
