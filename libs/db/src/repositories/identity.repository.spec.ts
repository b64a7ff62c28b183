// Tenants, users and sessions: the methods behind login and platform administration.
import { createHash, randomUUID } from 'node:crypto';
import { createDb, type Db } from '../db';
import { DbError } from '../errors';
import { hashPassword, verifyPassword } from '../password';
import { testDatabaseUrls } from '../testing';
import { createTenant, uniqueSlug } from '../testing/fixtures';

const { url, appUrl } = testDatabaseUrls();
let db: Db;

beforeAll(() => {
  db = createDb({ url, appUrl });
});

afterAll(async () => {
  await db.close();
});

const actor = { actor: 'user:test', action: 'test.action' };

describe('tenants', () => {
  it('create writes the audit entry in the same transaction, and nothing on a conflict', async () => {
    const slug = uniqueSlug();
    const tenant = await db.tenants.create(
      { name: 'Audited', slug, plan: 'pro' },
      { audit: { ...actor, data: { slug } } },
    );
    expect(await db.auditLog.list(tenant.id)).toEqual([
      expect.objectContaining({
        tenantId: tenant.id,
        actor: 'user:test',
        action: 'test.action',
        target: tenant.id,
        data: { slug },
      }),
    ]);
    await expect(
      db.tenants.create({ name: 'Again', slug, plan: 'free' }, { audit: actor }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await db.auditLog.list(tenant.id)).toHaveLength(1);
  });

  it('update changes only the given fields and audits before / after of what changed', async () => {
    const tenant = await createTenant(db, 'Before');
    const updated = await db.tenants.update(
      tenant.id,
      { name: 'After', status: 'SUSPENDED', plan: tenant.plan },
      { audit: actor },
    );
    expect(updated).toMatchObject({
      id: tenant.id,
      name: 'After',
      slug: tenant.slug,
      plan: tenant.plan,
      status: 'SUSPENDED',
    });
    expect(updated?.updatedAt.getTime()).toBeGreaterThanOrEqual(tenant.updatedAt.getTime());
    const [entry] = await db.auditLog.list(tenant.id);
    expect(entry?.data).toEqual({
      from: { name: 'Before', status: 'ACTIVE' },
      to: { name: 'After', status: 'SUSPENDED' },
    });
    expect(await db.tenants.findById(tenant.id)).toMatchObject({ status: 'SUSPENDED' });
  });

  it.each([
    ['an unknown id', randomUUID()],
    ['a malformed id', 'nope'],
  ])('update of %s is null and writes nothing', async (_, id) => {
    expect(await db.tenants.update(id, { name: 'x' }, { audit: actor })).toBeNull();
  });

  it('listPage walks every tenant oldest first by keyset', async () => {
    const mine = [await createTenant(db), await createTenant(db), await createTenant(db)];
    const seen: string[] = [];
    let after: { createdAt: Date; id: string } | undefined;
    for (;;) {
      const page = await db.tenants.listPage({ first: 2, ...(after ? { after } : {}) });
      if (page.length === 0) break;
      seen.push(...page.map((t) => t.id));
      const last = page.at(-1);
      if (!last) break;
      after = { createdAt: last.createdAt, id: last.id };
    }
    expect(new Set(seen).size).toBe(seen.length);
    const all = (await db.tenants.list()).map((t) => t.id);
    expect(seen).toEqual(all.filter((id) => seen.includes(id)));
    for (const t of mine) expect(seen).toContain(t.id);
    await expect(
      db.tenants.listPage({ first: 1, after: { createdAt: new Date(), id: 'bad' } }),
    ).rejects.toBeInstanceOf(DbError);
  });
});

describe('users', () => {
  it('create audits in the same transaction; a duplicate email or unknown tenant writes nothing', async () => {
    const tenant = await createTenant(db);
    const email = `${uniqueSlug('u')}@example.test`;
    const user = await db.users.create(
      { email, passwordHash: 'h', role: 'TENANT_VIEWER', tenantId: tenant.id },
      { audit: actor },
    );
    expect(await db.auditLog.list(tenant.id)).toEqual([
      expect.objectContaining({ tenantId: tenant.id, target: user.id }),
    ]);
    await expect(
      db.users.create(
        {
          email: email.toUpperCase(),
          passwordHash: 'h',
          role: 'TENANT_ADMIN',
          tenantId: tenant.id,
        },
        { audit: actor },
      ),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await db.auditLog.list(tenant.id)).toHaveLength(1);

    const orphan = `${uniqueSlug('o')}@example.test`;
    for (const tenantId of [randomUUID(), 'not-a-uuid']) {
      await expect(
        db.users.create(
          { email: orphan, passwordHash: 'h', role: 'TENANT_VIEWER', tenantId },
          { audit: actor },
        ),
      ).rejects.toMatchObject({ code: 'INVALID_REFERENCE' });
    }
    expect(await db.users.findForLogin(orphan)).toBeNull();
  });
});

describe('sessions', () => {
  it('authenticate returns the tenant summary, or null for a platform admin', async () => {
    const tenant = await createTenant(db, 'Session tenant');
    const member = await db.users.create({
      email: `${uniqueSlug('m')}@example.test`,
      passwordHash: 'h',
      role: 'TENANT_ADMIN',
      tenantId: tenant.id,
    });
    const root = await db.users.create({
      email: `${uniqueSlug('r')}@example.test`,
      passwordHash: 'h',
      role: 'PLATFORM_ADMIN',
      tenantId: null,
    });
    const expiresAt = new Date(Date.now() + 60_000);
    const memberHash = createHash('sha256').update(randomUUID()).digest('hex');
    const rootHash = createHash('sha256').update(randomUUID()).digest('hex');
    await db.sessions.create({ userId: member.id, tokenHash: memberHash, expiresAt });
    await db.sessions.create({ userId: root.id, tokenHash: rootHash, expiresAt });
    expect(await db.sessions.authenticate(memberHash)).toMatchObject({
      user: { id: member.id, role: 'TENANT_ADMIN', tenantId: tenant.id },
      tenantStatus: 'ACTIVE',
      tenant: { id: tenant.id, name: 'Session tenant', plan: tenant.plan, status: 'ACTIVE' },
    });
    expect(await db.sessions.authenticate(rootHash)).toMatchObject({
      user: { id: root.id, tenantId: null },
      tenantStatus: null,
      tenant: null,
    });
  });
});

describe('passwords', () => {
  it('verifies argon2id hashes; a malformed hash is a mismatch, not an exception', async () => {
    const hash = await hashPassword('a long enough password');
    expect(hash).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(hash, 'a long enough password')).toBe(true);
    expect(await verifyPassword(hash, 'a long enough passworD')).toBe(false);
    expect(await verifyPassword('not a hash', 'a long enough password')).toBe(false);
  });
});
