import { generateApiKeySecret, hashApiKeySecret } from '../api-key-secret';
import { createDb, type Db } from '../db';
import { DbError } from '../errors';
import { testDatabaseUrls } from '../testing';
import { createApiKey, createTenant } from '../testing/fixtures';
import type { ApiKey, Tenant } from '../types';

const { url, appUrl } = testDatabaseUrls();
let db: Db;
let a: Tenant;
let b: Tenant;

beforeAll(async () => {
  db = createDb({ url, appUrl });
  a = await createTenant(db, 'A');
  b = await createTenant(db, 'B');
});

afterAll(async () => {
  await db.close();
});

async function newKey(
  tenantId: string,
  name: string,
  expiresAt: Date | null = null,
): Promise<ApiKey> {
  const g = generateApiKeySecret('test');
  return db.apiKeys.create(tenantId, {
    name,
    prefix: g.prefix,
    secretHash: g.secretHash,
    scopes: ['avatars:read'],
    expiresAt,
    spendCapCents: 500,
  });
}

const actions = async (tenantId: string, target: string): Promise<string[]> =>
  (await db.auditLog.list(tenantId)).filter((e) => e.target === target).map((e) => e.action);

describe('ApiKeyRepository.create with audit', () => {
  it('writes the key and its audit entry together', async () => {
    const g = generateApiKeySecret('live');
    const key = await db.apiKeys.create(
      a.id,
      {
        name: 'audited',
        prefix: g.prefix,
        secretHash: g.secretHash,
        scopes: ['*'],
        expiresAt: null,
      },
      { actor: 'user:x', data: { name: 'audited' } },
    );
    const entries = (await db.auditLog.list(a.id)).filter((e) => e.target === key.id);
    expect(entries).toEqual([
      expect.objectContaining({
        actor: 'user:x',
        action: 'api_key.create',
        data: { name: 'audited' },
      }),
    ]);
  });

  it('writes neither when the secret already exists', async () => {
    const g = generateApiKeySecret('live');
    const input = {
      name: 'dup',
      prefix: g.prefix,
      secretHash: g.secretHash,
      scopes: [],
      expiresAt: null,
    };
    await db.apiKeys.create(a.id, input);
    const before = (await db.auditLog.list(a.id)).length;
    await expect(db.apiKeys.create(a.id, input, { actor: 'user:x' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    expect((await db.auditLog.list(a.id)).length).toBe(before);
  });
});

describe('ApiKeyRepository.listPage', () => {
  it('pages newest first by keyset and hides revoked keys unless asked', async () => {
    const t = await createTenant(db, 'paging');
    const keys: ApiKey[] = [];
    for (let i = 0; i < 5; i += 1) keys.push(await newKey(t.id, `k${i}`));
    const [k0, k1, k2] = keys.map((k) => k.id);
    const newestFirst = [...keys].reverse().map((k) => k.id);
    await db.apiKeys.revoke(t.id, String(k1));
    // A revocation scheduled in the future (rotation grace) does not hide the key.
    await db.apiKeys.revoke(t.id, String(k2), { at: new Date(Date.now() + 60_000) });

    const seen: string[] = [];
    let after: { createdAt: Date; id: string } | null = null;
    for (;;) {
      const page = await db.apiKeys.listPage(t.id, { first: 2, after });
      seen.push(...page.items.map((k) => k.id));
      const last = page.items.at(-1);
      if (!page.hasNextPage || !last) break;
      after = { createdAt: last.createdAt, id: last.id };
    }
    expect(seen).toEqual(newestFirst.filter((id) => id !== String(k1)));

    const all = await db.apiKeys.listPage(t.id, { first: 10, includeRevoked: true });
    expect(all.items.map((k) => k.id)).toEqual(newestFirst);
    expect(all.hasNextPage).toBe(false);
    expect(
      (await db.apiKeys.listPage(b.id, { first: 10, includeRevoked: true })).items.map((k) => k.id),
    ).not.toContain(k0);
  });
});

describe('ApiKeyRepository.revoke', () => {
  it('brings a scheduled revocation forward but never moves a past one', async () => {
    const key = await newKey(a.id, 'sched');
    const later = new Date(Date.now() + 3_600_000);
    expect((await db.apiKeys.revoke(a.id, key.id, { at: later }))?.revokedAt).toEqual(later);
    const now = await db.apiKeys.revoke(a.id, key.id, { audit: { actor: 'system' } });
    expect(now?.revokedAt?.getTime()).toBeLessThan(later.getTime());
    const again = await db.apiKeys.revoke(a.id, key.id, { audit: { actor: 'system' } });
    expect(again?.revokedAt).toEqual(now?.revokedAt);
    // Only the revocation that changed something is audited.
    expect(await actions(a.id, key.id)).toEqual(['api_key.revoke']);
    expect(await db.apiKeys.revoke(b.id, key.id)).toBeNull();
  });
});

describe('ApiKeyRepository.rotate', () => {
  it('creates a copy and schedules the old key, with one audit entry', async () => {
    const expiresAt = new Date(Date.now() + 86_400_000);
    const old = await newKey(a.id, 'rot', expiresAt);
    const g = generateApiKeySecret('test');
    const revokeOldAt = new Date(Date.now() + 60_000);
    const result = await db.apiKeys.rotate(a.id, old.id, {
      replacement: { prefix: g.prefix, secretHash: g.secretHash },
      revokeOldAt,
      audit: { actor: 'user:y', data: { gracePeriodSeconds: 60 } },
    });
    expect(result?.previous).toMatchObject({ id: old.id, revokedAt: revokeOldAt });
    expect(result?.created).toMatchObject({
      name: 'rot',
      prefix: g.prefix,
      scopes: ['avatars:read'],
      expiresAt,
      spendCapCents: 500,
      revokedAt: null,
    });
    expect((await db.apiKeys.authenticate(g.secretHash))?.apiKeyId).toBe(result?.created.id);
    const audit = (await db.auditLog.list(a.id)).filter((e) => e.target === old.id);
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'api_key.rotate',
        actor: 'user:y',
        data: { gracePeriodSeconds: 60, newApiKeyId: result?.created.id },
      }),
    ]);
  });

  it('keeps an earlier scheduled revocation', async () => {
    const old = await newKey(a.id, 'twice');
    const soon = new Date(Date.now() + 10_000);
    await db.apiKeys.revoke(a.id, old.id, { at: soon });
    const g = generateApiKeySecret('test');
    const result = await db.apiKeys.rotate(a.id, old.id, {
      replacement: { prefix: g.prefix, secretHash: g.secretHash },
      revokeOldAt: new Date(Date.now() + 3_600_000),
    });
    expect(result?.previous.revokedAt).toEqual(soon);
  });

  it.each([
    [
      'revoked',
      async () => {
        const k = await newKey(a.id, 'revoked');
        await db.apiKeys.revoke(a.id, k.id);
        return k;
      },
    ],
    ['expired', () => newKey(a.id, 'expired', new Date(Date.now() - 1000))],
  ])('refuses a %s key with CONFLICT and writes nothing', async (_, make) => {
    const k = await make();
    const g = generateApiKeySecret('test');
    const before = (await db.apiKeys.list(a.id)).length;
    const error: unknown = await db.apiKeys
      .rotate(a.id, k.id, {
        replacement: { prefix: g.prefix, secretHash: g.secretHash },
        revokeOldAt: new Date(),
        audit: { actor: 'system' },
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DbError);
    expect((error as DbError).code).toBe('CONFLICT');
    expect((await db.apiKeys.list(a.id)).length).toBe(before);
    expect(await db.apiKeys.authenticate(g.secretHash)).toBeNull();
    expect(await actions(a.id, k.id)).not.toContain('api_key.rotate');
  });

  it("returns null for another tenant's key or a malformed id", async () => {
    const { key } = await createApiKey(db, a.id);
    const g = generateApiKeySecret('test');
    const input = {
      replacement: { prefix: g.prefix, secretHash: g.secretHash },
      revokeOldAt: new Date(),
    };
    expect(await db.apiKeys.rotate(b.id, key.id, input)).toBeNull();
    expect(await db.apiKeys.rotate(a.id, 'nope', input)).toBeNull();
    expect((await db.apiKeys.findById(a.id, key.id))?.revokedAt).toBeNull();
    expect(await db.apiKeys.authenticate(hashApiKeySecret(g.secret))).toBeNull();
  });
});

describe('ApiKeyRepository.touchLastUsed', () => {
  it('never moves lastUsedAt back', async () => {
    const key = await newKey(a.id, 'touch');
    const t1 = new Date(Date.now() - 1000);
    const t0 = new Date(Date.now() - 5000);
    expect(await db.apiKeys.touchLastUsed(a.id, [key.id], t1)).toBe(1);
    expect(await db.apiKeys.touchLastUsed(a.id, [key.id], t0)).toBe(0);
    expect((await db.apiKeys.findById(a.id, key.id))?.lastUsedAt).toEqual(t1);
  });
});
