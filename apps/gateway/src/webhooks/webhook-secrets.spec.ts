import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type AppConfig } from '../config/config';
import {
  DEV_KEY_FILE,
  generateWebhookSecret,
  SecretUnreadableError,
  WebhookSecretBox,
} from './webhook-secrets';

const base = { DATABASE_URL: 'postgresql://unused@127.0.0.1:1/unused', LOG_LEVEL: 'silent' };
const config = (env: Record<string, string>): AppConfig => loadConfig({ ...base, ...env });
const tenant = randomUUID();
const endpoint = randomUUID();

describe('webhook signing secrets at rest', () => {
  const box = new WebhookSecretBox(config({ WEBHOOK_SECRET_KEY: 'k'.repeat(40) }));

  it('generates whsec_ secrets of 32 random bytes', () => {
    const a = generateWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(generateWebhookSecret()).not.toBe(a);
  });

  it('seals so that the stored value does not reveal the secret, and opens it again', async () => {
    const secret = generateWebhookSecret();
    const sealed = await box.seal(tenant, endpoint, secret);
    expect(sealed).toMatch(/^v1\./);
    expect(sealed).not.toContain(secret.slice(6));
    expect(await box.seal(tenant, endpoint, secret)).not.toBe(sealed); // a fresh IV each time
    expect(await box.open(tenant, endpoint, sealed)).toBe(secret);
  });

  it('refuses a sealed secret moved to another endpoint or tenant, tampered with, or under another key', async () => {
    const sealed = await box.seal(tenant, endpoint, generateWebhookSecret());
    await expect(box.open(tenant, randomUUID(), sealed)).rejects.toThrow(SecretUnreadableError);
    await expect(box.open(randomUUID(), endpoint, sealed)).rejects.toThrow(SecretUnreadableError);
    const parts = sealed.split('.');
    const flipped = parts[2]?.startsWith('A') ? `B${parts[2].slice(1)}` : `A${parts[2]?.slice(1)}`;
    const tampered = [parts[0], parts[1], flipped, parts[3]].join('.');
    await expect(box.open(tenant, endpoint, tampered)).rejects.toThrow(SecretUnreadableError);
    await expect(box.open(tenant, endpoint, 'whsec_plaintext')).rejects.toThrow(
      SecretUnreadableError,
    );
    const other = new WebhookSecretBox(config({ WEBHOOK_SECRET_KEY: 'o'.repeat(40) }));
    await expect(other.open(tenant, endpoint, sealed)).rejects.toThrow(SecretUnreadableError);
  });

  it('derives its key from URL_SIGNING_SECRET when WEBHOOK_SECRET_KEY is absent, not equal to it', async () => {
    const a = new WebhookSecretBox(config({ URL_SIGNING_SECRET: 's'.repeat(40) }));
    const b = new WebhookSecretBox(config({ URL_SIGNING_SECRET: 's'.repeat(40) }));
    const c = new WebhookSecretBox(config({ WEBHOOK_SECRET_KEY: 's'.repeat(40) }));
    const sealed = await a.seal(tenant, endpoint, 'whsec_x');
    expect(await b.open(tenant, endpoint, sealed)).toBe('whsec_x');
    await expect(c.open(tenant, endpoint, sealed)).rejects.toThrow(SecretUnreadableError);
  });

  it('in development, generates one key file under the data directory and reuses it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'likeness-webhook-key-'));
    try {
      const first = new WebhookSecretBox(config({ LIKENESS_DATA_DIR: dir }));
      const sealed = await first.seal(tenant, endpoint, 'whsec_dev');
      const file = path.join(dir, DEV_KEY_FILE);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await readFile(file, 'utf8')).trim().length).toBeGreaterThanOrEqual(32);
      const restarted = new WebhookSecretBox(config({ LIKENESS_DATA_DIR: dir }));
      expect(await restarted.open(tenant, endpoint, sealed)).toBe('whsec_dev');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
