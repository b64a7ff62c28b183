// Idempotent demo data for `npm start`: a platform admin, a `demo` tenant and its API key.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateApiKeySecret, hashApiKeySecret, isApiKeySecretFormat } from './api-key-secret';
import type { Db } from './db';
import { DbError } from './errors';
import { hashPassword } from './password';
import type { Tenant } from './types';

export const DEMO_TENANT_SLUG = 'demo';
export const DEMO_API_KEY_FILE = 'demo-api-key';
/** `*` = every scope; the gateway owns the scope names. */
export const DEMO_API_KEY_SCOPES: readonly string[] = ['*'];

export interface SeedDemoOptions {
  adminEmail: string;
  adminPassword: string;
  /** The demo key's secret is kept in `<dataDir>/demo-api-key` (mode 0600). */
  dataDir: string;
}

export interface SeedDemoResult {
  admin: { email: string; password: string };
  tenant: { id: string; name: string };
  apiKey: { id: string; secret: string };
}

async function ensureDemoTenant(db: Db): Promise<Tenant> {
  const existing = await db.tenants.findBySlug(DEMO_TENANT_SLUG);
  if (existing) return existing;
  try {
    return await db.tenants.create({ name: 'Demo', slug: DEMO_TENANT_SLUG, plan: 'free' });
  } catch (error) {
    // Two seeds at once: the other one created it.
    const raced =
      error instanceof DbError && error.code === 'CONFLICT'
        ? await db.tenants.findBySlug(DEMO_TENANT_SLUG)
        : null;
    if (raced) return raced;
    throw error;
  }
}

async function readSecret(file: string): Promise<string | null> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

export async function seedDemo(db: Db, opts: SeedDemoOptions): Promise<SeedDemoResult> {
  const email = opts.adminEmail.toLowerCase();
  if (!(await db.users.findForLogin(email))) {
    try {
      await db.users.create({
        email,
        passwordHash: await hashPassword(opts.adminPassword),
        role: 'PLATFORM_ADMIN',
        tenantId: null,
      });
    } catch (error) {
      if (!(error instanceof DbError && error.code === 'CONFLICT')) throw error;
    }
  }

  const tenant = await ensureDemoTenant(db);

  const keyFile = path.join(opts.dataDir, DEMO_API_KEY_FILE);
  const stored = await readSecret(keyFile);
  if (stored && isApiKeySecretFormat(stored)) {
    const auth = await db.apiKeys.authenticate(hashApiKeySecret(stored));
    const usable =
      auth &&
      auth.tenantId === tenant.id &&
      auth.revokedAt === null &&
      (auth.expiresAt === null || auth.expiresAt > new Date());
    if (usable) {
      return {
        admin: { email, password: opts.adminPassword },
        tenant: { id: tenant.id, name: tenant.name },
        apiKey: { id: auth.apiKeyId, secret: stored },
      };
    }
  }

  const generated = generateApiKeySecret('test');
  const key = await db.apiKeys.create(tenant.id, {
    name: 'demo',
    prefix: generated.prefix,
    secretHash: generated.secretHash,
    scopes: [...DEMO_API_KEY_SCOPES],
    expiresAt: null,
  });
  await mkdir(opts.dataDir, { recursive: true });
  await writeFile(keyFile, `${generated.secret}\n`, { mode: 0o600 });
  await chmod(keyFile, 0o600);
  return {
    admin: { email, password: opts.adminPassword },
    tenant: { id: tenant.id, name: tenant.name },
    apiKey: { id: key.id, secret: generated.secret },
  };
}
