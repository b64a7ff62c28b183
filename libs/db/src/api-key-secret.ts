import { createHash, randomInt } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const API_KEY_PREFIX_LENGTH = 16;
const API_KEY_RE = /^lk_(live|test)_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$/;

function base62(length: number): string {
  let out = '';
  for (let i = 0; i < length; i += 1) out += BASE62[randomInt(BASE62.length)];
  return out;
}

export interface GeneratedApiKeySecret {
  /** Shown to the user once: `lk_<env>_<8 base62>_<32 base62>`. */
  secret: string;
  /** Stored and displayed: the first 16 characters (`lk_test_XXXXXXXX`). */
  prefix: string;
  /** Stored: sha256 hex of the full secret. */
  secretHash: string;
}

export function generateApiKeySecret(env: 'live' | 'test'): GeneratedApiKeySecret {
  const secret = `lk_${env}_${base62(8)}_${base62(32)}`;
  return {
    secret,
    prefix: secret.slice(0, API_KEY_PREFIX_LENGTH),
    secretHash: hashApiKeySecret(secret),
  };
}

export function hashApiKeySecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function isApiKeySecretFormat(secret: string): boolean {
  return API_KEY_RE.test(secret);
}
