import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { ExpiredSignedUrlException, InvalidSignedUrlException } from './asset.errors';

/** Where a development gateway keeps its generated secret (under LIKENESS_DATA_DIR). */
export const DEV_SECRET_FILE = path.join('secrets', 'url-signing.key');

export type SignatureCheck = 'valid' | 'forged' | 'expired';

export interface SignedPath {
  /** `/v1/assets/<id>/content?expires=<unix seconds>&sig=<base64url HMAC>` */
  path: string;
  expiresAt: Date;
}

const EXPIRES_RE = /^\d{1,12}$/;
/** base64url of a 32-byte HMAC-SHA256, no padding. */
const SIG_RE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Signed, expiring download URLs for assets, served by the gateway itself
 * (`GET /v1/assets/:id/content`). sig = HMAC-SHA256(secret, `<assetId>:<expires>`), `expires` in
 * unix seconds. Every replica must share the secret: production requires URL_SIGNING_SECRET;
 * elsewhere one is generated once and kept in `<LIKENESS_DATA_DIR>/secrets/url-signing.key`, so
 * a restarted (or second local) gateway honours the links the first one handed out.
 */
@Injectable()
export class SignedUrlService {
  private key: Promise<Buffer> | undefined;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  get ttlSeconds(): number {
    return this.config.signedUrls.ttlSeconds;
  }

  async sign(assetId: string, now: Date = new Date()): Promise<SignedPath> {
    const expires = Math.floor(now.getTime() / 1000) + this.ttlSeconds;
    const sig = await this.mac(assetId, String(expires));
    return {
      path: `/v1/assets/${encodeURIComponent(assetId)}/content?expires=${expires}&sig=${sig}`,
      expiresAt: new Date(expires * 1000),
    };
  }

  /**
   * Checks the signature first (constant-time comparison of the MACs), then the expiry, so an
   * expired answer is given only for links we really issued. Malformed values are forgeries.
   */
  async verify(
    assetId: string,
    expires: unknown,
    sig: unknown,
    now = new Date(),
  ): Promise<SignatureCheck> {
    if (typeof expires !== 'string' || typeof sig !== 'string') return 'forged';
    if (!EXPIRES_RE.test(expires) || !SIG_RE.test(sig)) return 'forged';
    // Compare the encoded text, not decoded bytes: the last base64url character of a 32-byte
    // MAC carries 2 unused bits, so several spellings decode to the same bytes and a changed
    // character could otherwise still pass.
    const expected = Buffer.from(await this.mac(assetId, expires), 'latin1');
    const given = Buffer.from(sig, 'latin1');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'forged';
    return Number(expires) * 1000 <= now.getTime() ? 'expired' : 'valid';
  }

  /**
   * `verify` for a route serving the link: resolves when it is valid, else throws the API's
   * error (403 INVALID_SIGNED_URL when forged, 410 EXPIRED when expired).
   */
  async requireValid(subject: string, expires: unknown, sig: unknown): Promise<void> {
    switch (await this.verify(subject, expires, sig)) {
      case 'forged':
        throw new InvalidSignedUrlException();
      case 'expired':
        throw new ExpiredSignedUrlException();
      case 'valid':
        return;
    }
  }

  private async mac(assetId: string, expires: string): Promise<string> {
    const key = await this.signingKey();
    return createHmac('sha256', key).update(`${assetId}:${expires}`).digest('base64url');
  }

  private signingKey(): Promise<Buffer> {
    if (this.key) return this.key;
    const configured = this.config.signedUrls.secret;
    const key = configured
      ? Promise.resolve(Buffer.from(configured, 'utf8'))
      : loadOrCreateSecret(path.join(this.config.dataDir, DEV_SECRET_FILE));
    this.key = key;
    // A failed read is retried by the next call rather than remembered.
    key.catch(() => {
      if (this.key === key) this.key = undefined;
    });
    return key;
  }
}

/**
 * The secret in `file`, created (32 random bytes, base64url, mode 0600) when absent. Creation
 * is atomic and first-writer-wins (write a temporary file, hard-link it into place), so gateways
 * starting together on one data directory end up with the same secret.
 */
export async function loadOrCreateSecret(file: string): Promise<Buffer> {
  const existing = await readSecret(file);
  if (existing) return existing;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  try {
    await link(temp, file).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(temp, { force: true });
  }
  const created = await readSecret(file);
  if (!created) throw new Error(`could not create the URL signing secret in ${file}`);
  return created;
}

async function readSecret(file: string): Promise<Buffer | null> {
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (text.length < 32) {
    throw new Error(`${file} holds a URL signing secret shorter than 32 characters`);
  }
  return Buffer.from(text, 'utf8');
}
