import { createHmac, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, type AppConfig } from '../config/config';
import { DEV_SECRET_FILE, SignedUrlService, loadOrCreateSecret } from './signed-urls';

const DATABASE_URL = 'postgresql://unused@127.0.0.1:1/unused';
let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'likeness-signing-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function config(extra: Record<string, string> = {}): AppConfig {
  return loadConfig({ DATABASE_URL, LIKENESS_DATA_DIR: dataDir, ...extra });
}

function parse(signedPath: string): { id: string; expires: string; sig: string } {
  const url = new URL(signedPath, 'http://x');
  const id = /^\/v1\/assets\/([^/]+)\/content$/.exec(url.pathname)?.[1] ?? '';
  return {
    id,
    expires: url.searchParams.get('expires') ?? '',
    sig: url.searchParams.get('sig') ?? '',
  };
}

describe('SignedUrlService', () => {
  const secret = 'x'.repeat(40);
  const id = randomUUID();
  const now = new Date('2030-01-01T00:00:00Z');

  it('signs id:expires with HMAC-SHA256 and the configured TTL', async () => {
    const urls = new SignedUrlService(
      config({ URL_SIGNING_SECRET: secret, SIGNED_URL_TTL_SECONDS: '600' }),
    );
    const signed = await urls.sign(id, now);
    const { expires, sig } = parse(signed.path);
    expect(parse(signed.path).id).toBe(id);
    expect(Number(expires)).toBe(now.getTime() / 1000 + 600);
    expect(signed.expiresAt).toEqual(new Date(now.getTime() + 600_000));
    expect(sig).toBe(createHmac('sha256', secret).update(`${id}:${expires}`).digest('base64url'));
    expect(await urls.verify(id, expires, sig, now)).toBe('valid');
  });

  it('defaults to one hour', async () => {
    const urls = new SignedUrlService(config({ URL_SIGNING_SECRET: secret }));
    expect((await urls.sign(id, now)).expiresAt.getTime() - now.getTime()).toBe(3_600_000);
  });

  it('tells forged links from expired ones', async () => {
    const urls = new SignedUrlService(config({ URL_SIGNING_SECRET: secret }));
    const { expires, sig } = parse((await urls.sign(id, now)).path);
    const flipped = `${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`;
    // Same 32 bytes, other text: the last character's two lowest bits are unused by base64url.
    const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = `${sig.slice(0, -1)}${B64URL[B64URL.indexOf(sig.slice(-1)) ^ 1]}`;
    expect(Buffer.from(respelled, 'base64url')).toEqual(Buffer.from(sig, 'base64url'));
    const later = new Date(now.getTime() + 3_600_000);
    const cases: [string, string, unknown, unknown, Date, string][] = [
      [
        'genuine, one second before expiry',
        id,
        expires,
        sig,
        new Date(later.getTime() - 1000),
        'valid',
      ],
      ['genuine, at expiry', id, expires, sig, later, 'expired'],
      ['one character of the signature changed', id, expires, flipped, now, 'forged'],
      ['the same MAC spelled differently', id, expires, respelled, now, 'forged'],
      ['expiry moved', id, String(Number(expires) + 3600), sig, now, 'forged'],
      ['another asset', randomUUID(), expires, sig, now, 'forged'],
      ['signature truncated', id, expires, sig.slice(0, 40), now, 'forged'],
      ['signature missing', id, expires, undefined, now, 'forged'],
      ['expiry missing', id, undefined, sig, now, 'forged'],
      ['expiry not a number', id, `${expires}x`, sig, now, 'forged'],
      ['repeated parameter', id, [expires, expires], sig, now, 'forged'],
      ['an expired forgery', id, '1', sig, now, 'forged'],
    ];
    for (const [label, assetId, exp, s, at, expected] of cases) {
      expect([label, await urls.verify(assetId, exp, s, at)]).toEqual([label, expected]);
    }
  });

  it('a link from one secret is forged under another', async () => {
    const a = new SignedUrlService(config({ URL_SIGNING_SECRET: 'a'.repeat(32) }));
    const b = new SignedUrlService(config({ URL_SIGNING_SECRET: 'b'.repeat(32) }));
    const { expires, sig } = parse((await a.sign(id, now)).path);
    expect(await b.verify(id, expires, sig, now)).toBe('forged');
  });

  it('without a configured secret, generates one under the data dir that other instances share', async () => {
    const first = new SignedUrlService(config());
    const { expires, sig } = parse((await first.sign(id, now)).path);
    const file = path.join(dataDir, DEV_SECRET_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // A restarted gateway, or a second one on the same data dir, honours the link.
    const second = new SignedUrlService(config());
    expect(await second.verify(id, expires, sig, now)).toBe('valid');
  });
});

describe('loadOrCreateSecret', () => {
  it('ends with one secret when many processes race to create it, leaving no temporary files', async () => {
    const file = path.join(dataDir, 'secrets', 'race.key');
    const secrets = await Promise.all(Array.from({ length: 16 }, () => loadOrCreateSecret(file)));
    expect(new Set(secrets.map((s) => s.toString())).size).toBe(1);
    expect(await readdir(path.dirname(file))).toEqual(['race.key']);
  });

  it('refuses a file holding a short secret', async () => {
    const file = path.join(dataDir, 'short.key');
    await writeFile(file, 'too short\n');
    await expect(loadOrCreateSecret(file)).rejects.toThrow(/shorter than 32/);
  });
});

describe('URL_SIGNING_SECRET in the configuration', () => {
  function problems(env: Record<string, string>): string[] {
    try {
      loadConfig({ DATABASE_URL, ...env });
      return [];
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return error.problems.map((p) => `${p.variable}: ${p.message}`);
    }
  }

  it('is required in production', () => {
    expect(problems({ NODE_ENV: 'production' })).toEqual([
      expect.stringMatching(/^URL_SIGNING_SECRET: is required in production/),
    ]);
    expect(problems({ NODE_ENV: 'production', URL_SIGNING_SECRET: 's'.repeat(32) })).toEqual([]);
  });

  it('is optional in development (generated) and must be long enough when given', () => {
    expect(loadConfig({ DATABASE_URL }).signedUrls).toEqual({ secret: null, ttlSeconds: 3600 });
    expect(problems({ URL_SIGNING_SECRET: 'short' })).toEqual([
      'URL_SIGNING_SECRET: must be at least 32 characters',
    ]);
    expect(problems({ SIGNED_URL_TTL_SECONDS: '10' })).toEqual([
      expect.stringMatching(/^SIGNED_URL_TTL_SECONDS:/),
    ]);
    expect(loadConfig({ DATABASE_URL, PUBLIC_URL: 'https://api.example.com/' }).publicUrl).toBe(
      'https://api.example.com',
    );
    expect(problems({ PUBLIC_URL: 'ftp://x' })).toEqual([expect.stringMatching(/^PUBLIC_URL:/)]);
  });
});
