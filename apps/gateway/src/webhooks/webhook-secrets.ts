import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import path from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { loadOrCreateSecret } from '../assets/signed-urls';

/** Where a development gateway keeps its generated key (under LIKENESS_DATA_DIR). */
export const DEV_KEY_FILE = path.join('secrets', 'webhook-secrets.key');

const SEALED_RE = /^v1\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/;

/** A new signing secret: `whsec_` + 32 random bytes, base64url. Partners key HMAC with it as text. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** The stored secret cannot be decrypted (the server key changed, or the row was tampered with). */
export class SecretUnreadableError extends Error {
  constructor() {
    super('the signing secret cannot be decrypted (was WEBHOOK_SECRET_KEY changed?)');
    this.name = 'SecretUnreadableError';
  }
}

/**
 * Signing secrets must be recoverable (we sign with them), so they are stored encrypted:
 * AES-256-GCM, a random 96-bit IV per secret, and the tenant and endpoint ids as associated
 * data, so a sealed secret copied to another row does not open. Stored as
 * `v1.<iv>.<ciphertext>.<tag>` (base64url). The key is HKDF-SHA256 of WEBHOOK_SECRET_KEY; without
 * it, of URL_SIGNING_SECRET (a different HKDF label, so the two keys are independent); without
 * either (development), of a key generated once under `<LIKENESS_DATA_DIR>/secrets/`.
 */
@Injectable()
export class WebhookSecretBox {
  private readonly logger = new Logger(WebhookSecretBox.name);
  private key: Promise<Buffer> | undefined;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async seal(tenantId: string, endpointId: string, secret: string): Promise<string> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', await this.encryptionKey(), iv);
    cipher.setAAD(aad(tenantId, endpointId));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [
      'v1',
      iv.toString('base64url'),
      ciphertext.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.');
  }

  /** Throws SecretUnreadableError when the value does not open with this key and these ids. */
  async open(tenantId: string, endpointId: string, sealed: string): Promise<string> {
    const match = SEALED_RE.exec(sealed);
    if (!match) throw new SecretUnreadableError();
    const [, iv = '', ciphertext = '', tag = ''] = match;
    try {
      const decipher = createDecipheriv(
        'aes-256-gcm',
        await this.encryptionKey(),
        Buffer.from(iv, 'base64url'),
      );
      decipher.setAAD(aad(tenantId, endpointId));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertext, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SecretUnreadableError();
    }
  }

  private encryptionKey(): Promise<Buffer> {
    if (this.key) return this.key;
    const key = this.keyMaterial().then((ikm) =>
      Buffer.from(hkdfSync('sha256', ikm, 'likeness', 'webhook signing secrets v1', 32)),
    );
    this.key = key;
    key.catch(() => {
      if (this.key === key) this.key = undefined;
    });
    return key;
  }

  private async keyMaterial(): Promise<Buffer> {
    const { webhooks, signedUrls, nodeEnv, dataDir } = this.config;
    if (webhooks.secretKey) return Buffer.from(webhooks.secretKey, 'utf8');
    if (signedUrls.secret) {
      if (nodeEnv === 'production') {
        this.logger.warn(
          'WEBHOOK_SECRET_KEY is not set: webhook secrets are encrypted with a key derived from URL_SIGNING_SECRET (changing that secret makes them unreadable)',
        );
      }
      return Buffer.from(`webhooks:${signedUrls.secret}`, 'utf8');
    }
    return loadOrCreateSecret(path.join(dataDir, DEV_KEY_FILE));
  }
}

function aad(tenantId: string, endpointId: string): Buffer {
  return Buffer.from(`likeness-webhook-endpoint:${tenantId}:${endpointId}`, 'utf8');
}
