import { ALL_SCOPES, SCOPES, isScope } from '../auth/access';
import { BadUserInputException } from '../errors/likeness.exception';
import { UUID_RE } from '../graphql/pagination';
// Listings of this module page like every keyset listing of the gateway.
export {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  decodeCursor,
  encodeCursor,
  validatePageSize,
} from '../graphql/pagination';
import { ApiKeyEnvironment, type CreateApiKeyInput } from './api-key.model';

export const NAME_MAX_LENGTH = 100;
export const DEFAULT_GRACE_PERIOD_SECONDS = 24 * 60 * 60;
export const MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 60 * 60;

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
