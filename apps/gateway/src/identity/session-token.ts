import { createHash, randomBytes } from 'node:crypto';

/** Session tokens look like `lks_` + 43 base64url characters (32 random bytes). */
export const SESSION_TOKEN_PREFIX = 'lks_';
const SESSION_TOKEN_RE = /^lks_[A-Za-z0-9_-]{43}$/;

export function generateSessionToken(): string {
  return SESSION_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function isSessionTokenFormat(token: string): boolean {
  return SESSION_TOKEN_RE.test(token);
}

/** What the database stores and looks up: sha256 hex of the whole token. */
export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
