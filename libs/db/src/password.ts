// Password hashing for user accounts: argon2id, one place for the parameters.
import { type Algorithm, hash, verify } from '@node-rs/argon2';

// `Algorithm` is an ambient const enum (unusable as a value with isolatedModules); 2 = Argon2id.
const ARGON2ID: Algorithm = 2;

/** argon2id with the library's defaults (m = 19 MiB, t = 2, p = 1), as a PHC string. */
export function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: ARGON2ID });
}

/**
 * True when `password` matches the PHC string `passwordHash`. A malformed stored hash counts as
 * a mismatch (never an exception that would tell a caller more than "wrong password").
 */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}
