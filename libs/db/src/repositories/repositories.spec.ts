import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hashApiKeySecret } from '../api-key-secret';
import { createDb, Db } from '../db';
import { DbError } from '../errors';
import { seedDemo } from '../seed';
import { testDatabaseUrls } from '../testing';
import {
  createApiKey,
  createAsset,
  createAvatar,
  createRender,
  createTenant,
  uniqueSlug,
} from '../testing/fixtures';
import type { Tenant } from '../types';

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

describe('tenant isolation through the repositories', () => {
  it('tenants: A sees only itself', async () => {
    expect(await db.tenants.findById(a.id)).toMatchObject({
      id: a.id,
      name: 'A',
      status: 'ACTIVE',
      limits: {},
    });
    expect(
      await db.withTenant(a.id, (tx) => tx.tenant.findUnique({ where: { id: b.id } })),
    ).toBeNull();
    expect((await db.tenants.list()).map((t) => t.id)).toEqual(
      expect.arrayContaining([a.id, b.id]),
    );
  });

  it('assets', async () => {
    const asset = await createAsset(db, b.id);
    expect(asset.bytes).toBe(1234);
    expect(await db.assets.findById(b.id, asset.id)).toEqual(asset);
    expect(await db.assets.findById(a.id, asset.id)).toBeNull();
    expect((await db.assets.list(a.id)).map((x) => x.id)).not.toContain(asset.id);
    expect(await db.assets.delete(a.id, asset.id)).toBe(false);
    expect(await db.assets.findById(b.id, asset.id)).not.toBeNull();
    expect(await db.assets.delete(b.id, asset.id)).toBe(true);
    expect(await db.assets.findById(b.id, 'not-a-uuid')).toBeNull();
  });

  it('avatars (and references to another tenant are refused)', async () => {
    const avatar = await createAvatar(db, b.id);
    expect(await db.avatars.findById(a.id, avatar.id)).toBeNull();
    expect((await db.avatars.list(a.id)).map((x) => x.id)).not.toContain(avatar.id);
    expect(await db.avatars.update(a.id, avatar.id, { status: 'READY' })).toBeNull();
    expect(await db.avatars.delete(a.id, avatar.id)).toBeNull();
    expect((await db.avatars.findById(b.id, avatar.id))?.status).toBe('PROCESSING');
    await expect(
      db.avatars.create(a.id, {
        name: 'x',
        imageAssetId: avatar.imageAssetId,
        consentAttestation: 'y',
        consentAt: new Date(),
        modelPack: 'reference',
      }),
    ).rejects.toMatchObject({ code: 'INVALID_REFERENCE' });
    await expect(
      db.avatars.setEmbedding(a.id, avatar.id, { model: 'm', vector: [1, 2] }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const updated = await db.avatars.update(b.id, avatar.id, {
      status: 'READY',
      faceBox: { x: 1, y: 2, w: 3, h: 4 },
    });
    expect(updated).toMatchObject({ status: 'READY', faceBox: { x: 1, y: 2, w: 3, h: 4 } });
  });

  it('api keys', async () => {
    const { key } = await createApiKey(db, b.id);
    expect(await db.apiKeys.findById(a.id, key.id)).toBeNull();
    expect((await db.apiKeys.list(a.id)).map((x) => x.id)).not.toContain(key.id);
    expect(await db.apiKeys.revoke(a.id, key.id)).toBeNull();
    expect(await db.apiKeys.touchLastUsed(a.id, [key.id])).toBe(0);
    expect((await db.apiKeys.findById(b.id, key.id))?.revokedAt).toBeNull();
  });

  it('renders and their events', async () => {
    const render = await createRender(db, b.id);
    expect(await db.renders.findById(a.id, render.id)).toBeNull();
    expect((await db.renders.list(a.id)).map((x) => x.id)).not.toContain(render.id);
    expect(await db.renders.update(a.id, render.id, { status: 'CANCELED' })).toBeNull();
    await expect(db.renders.appendEvent(a.id, render.id, 'x', {})).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await db.renders.listEvents(a.id, render.id)).toEqual([]);
    expect((await db.renders.findById(b.id, render.id))?.status).toBe('QUEUED');
    const avatarOfB = render.avatarId;
    const audioOfA = await createAsset(db, a.id, 'AUDIO');
    await expect(
      db.renders.create(a.id, {
        avatarId: avatarOfB,
        audioAssetId: audioOfA.id,
        seed: 1,
        modelPack: 'reference',
        modelPackVersion: '1',
        inputHash: 'h',
      }),
    ).rejects.toMatchObject({ code: 'INVALID_REFERENCE' });
  });

  it('users and the audit log', async () => {
    const user = await db.users.create({
      email: `${uniqueSlug('u')}@Example.test`,
      passwordHash: 'h',
      role: 'TENANT_ADMIN',
      tenantId: b.id,
    });
    expect(user.email).toBe(user.email.toLowerCase());
    expect(await db.users.findById(a.id, user.id)).toBeNull();
    expect(await db.users.delete(a.id, user.id)).toBe(false);
    expect(await db.users.findById(b.id, user.id)).toMatchObject({
      id: user.id,
      role: 'TENANT_ADMIN',
    });
    const entry = await db.auditLog.append(b.id, {
      actor: `user:${user.id}`,
      action: 'api_key.create',
      data: { n: 1 },
    });
    expect((await db.auditLog.list(a.id)).map((x) => x.id)).not.toContain(entry.id);
    expect((await db.auditLog.list(b.id)).map((x) => x.id)).toContain(entry.id);
  });
});

describe('lists', () => {
  it('pages newest first with a cursor; a foreign or malformed cursor yields nothing', async () => {
    const tenant = await createTenant(db, 'pages');
    const created = [];
    for (let i = 0; i < 3; i += 1) created.push(await createAsset(db, tenant.id));
    // Reference order from one full page (rows created in the same millisecond tie-break by id).
    const newestFirst = (await db.assets.list(tenant.id)).map((x) => x.id);
    expect([...newestFirst].sort()).toEqual(created.map((x) => x.id).sort());
    const firstPage = await db.assets.list(tenant.id, { first: 2 });
    expect(firstPage.map((x) => x.id)).toEqual(newestFirst.slice(0, 2));
    const secondPage = await db.assets.list(tenant.id, { first: 2, before: firstPage[1]?.id });
    expect(secondPage.map((x) => x.id)).toEqual(newestFirst.slice(2));
    const foreign = await createAsset(db, b.id);
    expect(await db.assets.list(tenant.id, { before: foreign.id })).toEqual([]);
    expect(await db.assets.list(tenant.id, { before: 'garbage' })).toEqual([]);
  });
});

describe('renders', () => {
  it('appendEvent hands out gapless sequences under 20 concurrent appends', async () => {
    const render = await createRender(db, a.id);
    const events = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        db.renders.appendEvent(a.id, render.id, 'render.progress', { i }),
      ),
    );
    expect(events.map((e) => e.sequence).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const stored = await db.renders.listEvents(a.id, render.id);
    expect(stored.map((e) => e.sequence)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await db.renders.listEvents(a.id, render.id, 18)).map((e) => e.sequence)).toEqual([
      19, 20,
    ]);
  });

  it('change() sees the locked render as findById reads it, and records the next sequence', async () => {
    const render = await createRender(db, a.id);
    const output = await createAsset(db, a.id, 'VIDEO');
    const at = new Date('2026-11-26T01:02:03.456Z');
    const first = await db.renders.change(a.id, render.id, () => ({
      eventType: 'render.started',
      patch: {
        status: 'RUNNING',
        progress: { phase: 'DENOISING', step: 3, fraction: 0.25, nested: { ok: [1, 'x'] } },
        outputAssetId: output.id,
        identityScore: 0.8125,
        costCents: 12,
        error: { code: 'X', message: 'y' },
        attempts: 2,
        startedAt: at,
        deadlineAt: new Date(at.getTime() + 60_000),
        admittedAt: at,
        runId: 'run-1',
        runSeq: 4,
        runAt: at,
        runs: 1,
        workerId: 'w-1',
        lastEventAt: at,
        cancelRequestedAt: at,
        billedSeconds: 3,
      },
    }));
    expect(first?.event).toMatchObject({ sequence: 1, type: 'render.started' });
    let seen: unknown;
    const second = await db.renders.change(a.id, render.id, (current) => {
      seen = current;
      return { eventType: 'render.progress', patch: { runSeq: 5 } };
    });
    // Every column, as Prisma reads it (types included: dates, JSON, floats, nulls).
    expect(seen).toEqual(first?.render);
    expect(seen).toEqual({
      ...(await db.renders.findById(a.id, render.id)),
      runSeq: 4,
      updatedAt: expect.any(Date),
    });
    expect(second?.event).toMatchObject({ sequence: 2, type: 'render.progress' });
    expect(second?.render.runSeq).toBe(5);
    expect((await db.renders.listEvents(a.id, render.id)).map((e) => [e.sequence, e.type])).toEqual(
      [
        [1, 'render.started'],
        [2, 'render.progress'],
      ],
    );
    // The recorded payload is the render as changed.
    const [, stored] = await db.renders.listEvents(a.id, render.id);
    expect(stored?.payload).toMatchObject({ id: render.id, runSeq: 5, status: 'RUNNING' });
    // Another tenant's render: nothing to change, nothing decided.
    const decide = jest.fn(() => ({ eventType: 'x', patch: {} }));
    expect(await db.renders.change(b.id, render.id, decide)).toBeNull();
    expect(decide).not.toHaveBeenCalled();
  });

  it('idempotency keys are unique per tenant', async () => {
    const avatar = await createAvatar(db, a.id);
    const audio = await createAsset(db, a.id, 'AUDIO');
    const input = {
      avatarId: avatar.id,
      audioAssetId: audio.id,
      seed: 7,
      modelPack: 'reference',
      modelPackVersion: '1',
      inputHash: 'h',
      idempotencyKey: 'k-1',
    };
    const first = await db.renders.create(a.id, input);
    await expect(db.renders.create(a.id, input)).rejects.toBeInstanceOf(DbError);
    expect((await db.renders.findByIdempotencyKey(a.id, 'k-1'))?.id).toBe(first.id);
    const avatarB = await createAvatar(db, b.id);
    const audioB = await createAsset(db, b.id, 'AUDIO');
    await expect(
      db.renders.create(b.id, { ...input, avatarId: avatarB.id, audioAssetId: audioB.id }),
    ).resolves.toMatchObject({ idempotencyKey: 'k-1' });
  });
});

describe('api key authentication', () => {
  it('finds a key, returns null for an unknown one, reports revocation', async () => {
    const { key, secret } = await createApiKey(db, a.id);
    const auth = await db.apiKeys.authenticate(hashApiKeySecret(secret));
    expect(auth).toMatchObject({
      apiKeyId: key.id,
      tenantId: a.id,
      scopes: ['renders:write'],
      revokedAt: null,
      tenant: { id: a.id, name: 'A', status: 'ACTIVE', plan: 'free' },
    });
    expect(await db.apiKeys.authenticate(hashApiKeySecret(`${secret}x`))).toBeNull();
    const revoked = await db.apiKeys.revoke(a.id, key.id);
    expect(revoked?.revokedAt).toBeInstanceOf(Date);
    expect((await db.apiKeys.authenticate(hashApiKeySecret(secret)))?.revokedAt).toEqual(
      revoked?.revokedAt,
    );
    expect(await db.apiKeys.touchLastUsed(a.id, [key.id])).toBe(1);
    expect((await db.apiKeys.findById(a.id, key.id))?.lastUsedAt).toBeInstanceOf(Date);
  });
});

describe('login and sessions', () => {
  it('finds users by email through the definer function and authenticates sessions', async () => {
    const email = `${uniqueSlug('admin')}@example.test`;
    const user = await db.users.create({
      email,
      passwordHash: 'hash',
      role: 'PLATFORM_ADMIN',
      tenantId: null,
    });
    expect(await db.users.findForLogin(email.toUpperCase())).toMatchObject({
      id: user.id,
      passwordHash: 'hash',
      tenantId: null,
      tenantStatus: null,
    });
    expect(await db.users.findForLogin(`nobody-${email}`)).toBeNull();
    const tokenHash = hashApiKeySecret(uniqueSlug('token'));
    await db.sessions.create({
      userId: user.id,
      tokenHash,
      expiresAt: new Date(Date.now() + 60_000),
    });
    expect(await db.sessions.authenticate(tokenHash)).toMatchObject({
      user: { id: user.id, role: 'PLATFORM_ADMIN' },
      revokedAt: null,
    });
    expect(await db.sessions.revoke(tokenHash)).toBe(true);
    expect(await db.sessions.revoke(tokenHash)).toBe(false);
    expect((await db.sessions.authenticate(tokenHash))?.revokedAt).toBeInstanceOf(Date);
    expect(await db.sessions.authenticate('unknown')).toBeNull();
  });
});

describe('identity embeddings', () => {
  it('similar() orders the tenant avatars by cosine similarity', async () => {
    const tenant = await createTenant(db, 'vectors');
    const [target, close, middle, far, otherModel] = await Promise.all(
      [1, 2, 3, 4, 5].map(() => createAvatar(db, tenant.id)),
    );
    if (!target || !close || !middle || !far || !otherModel) throw new Error('fixture');
    await db.avatars.setEmbedding(tenant.id, target.id, { model: 'm', vector: [1, 0, 0] });
    await db.avatars.setEmbedding(tenant.id, far.id, { model: 'm', vector: [-1, 0.1, 0] });
    await db.avatars.setEmbedding(tenant.id, close.id, { model: 'm', vector: [10, 1, 0] }); // scale does not matter
    await db.avatars.setEmbedding(tenant.id, middle.id, { model: 'm', vector: [1, 1, 0] });
    await db.avatars.setEmbedding(tenant.id, otherModel.id, { model: 'other', vector: [1, 0, 0] });
    const similar = await db.avatars.similar(tenant.id, target.id, 10);
    expect(similar.map((s) => s.avatarId)).toEqual([close.id, middle.id, far.id]);
    expect(similar[0]?.similarity).toBeCloseTo(10 / Math.sqrt(101), 5);
    expect(similar[1]?.similarity).toBeCloseTo(Math.SQRT1_2, 5);
    expect(await db.avatars.similar(tenant.id, target.id, 1)).toHaveLength(1);
    expect(await db.avatars.similar(a.id, target.id, 10)).toEqual([]);
    expect(await db.avatars.getEmbedding(tenant.id, close.id)).toEqual({
      model: 'm',
      vector: [10, 1, 0],
    });
  });

  it('uses the HNSW index for 512-d embeddings', async () => {
    const tenant = await createTenant(db, 'hnsw');
    const avatars = await Promise.all([0, 1, 2].map(() => createAvatar(db, tenant.id)));
    for (const [i, avatar] of avatars.entries()) {
      const vector = Array.from({ length: 512 }, (_, j) => (j === i ? 1 : 0.01));
      await db.avatars.setEmbedding(tenant.id, avatar.id, { model: 'arcface', vector });
    }
    const [first, second, third] = avatars;
    if (!first || !second || !third) throw new Error('fixture');
    const similar = await db.avatars.similar(tenant.id, first.id, 5);
    expect(similar.map((s) => s.avatarId).sort()).toEqual([second.id, third.id].sort());
  });
});

describe('seedDemo', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'likeness-seed-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is idempotent and keeps the same key; replaces a revoked or lost one', async () => {
    // The demo tenant is shared by every seed in this database: run these seeds one at a time.
    const opts = {
      adminEmail: `${uniqueSlug('root')}@example.test`,
      adminPassword: 'correct horse battery',
      dataDir,
    };
    const first = await seedDemo(db, opts);
    const second = await seedDemo(db, opts);
    expect(second).toEqual(first);
    expect(first.apiKey.secret).toMatch(/^lk_test_[0-9A-Za-z]{8}_[0-9A-Za-z]{32}$/);
    const file = path.join(dataDir, 'demo-api-key');
    expect((await readFile(file, 'utf8')).trim()).toBe(first.apiKey.secret);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const auth = await db.apiKeys.authenticate(hashApiKeySecret(first.apiKey.secret));
    expect(auth).toMatchObject({ apiKeyId: first.apiKey.id, tenant: { slug: 'demo' } });
    const admin = await db.users.findForLogin(opts.adminEmail);
    expect(admin).toMatchObject({ role: 'PLATFORM_ADMIN' });
    expect(admin?.passwordHash).toMatch(/^\$argon2id\$/);

    await db.apiKeys.revoke(first.tenant.id, first.apiKey.id);
    const third = await seedDemo(db, opts);
    expect(third.apiKey.id).not.toBe(first.apiKey.id);
    expect(third.tenant).toEqual(first.tenant);

    await writeFile(file, 'garbage');
    const fourth = await seedDemo(db, opts);
    expect(fourth.apiKey.id).not.toBe(third.apiKey.id);
    expect((await readFile(file, 'utf8')).trim()).toBe(fourth.apiKey.secret);
  });
});

describe('Db', () => {
  it('ping resolves against Postgres and rejects when it is unreachable', async () => {
    await expect(db.ping()).resolves.toBeUndefined();
    const down = createDb({ url: 'postgresql://postgres@127.0.0.1:1/postgres' });
    try {
      await expect(down.ping()).rejects.toThrow();
    } finally {
      await down.close();
    }
  });

  it('withTenant with a lock runs transactions holding the same lock one after the other', async () => {
    const log: string[] = [];
    const run = (name: string, lock: string, delayMs: number) =>
      new Promise((r) => setTimeout(r, delayMs)).then(() =>
        db.withTenant(
          a.id,
          async (tx) => {
            log.push(`${name} in`);
            // The tenant is set in the same statement as the lock: RLS shows A's row.
            const rows = await tx.$queryRaw<{ id: string }[]>`SELECT id::text AS id FROM tenants`;
            expect(rows.map((r) => r.id)).toEqual([a.id]);
            await new Promise((r) => setTimeout(r, 150));
            log.push(`${name} out`);
          },
          { lock },
        ),
      );
    const lock = `test-lock-${uniqueSlug('l')}`;
    await Promise.all([run('one', lock, 0), run('two', lock, 30)]);
    expect(log).toEqual(['one in', 'one out', 'two in', 'two out']);
    log.length = 0;
    await Promise.all([run('one', `${lock}-a`, 0), run('two', `${lock}-b`, 30)]);
    expect(log).toEqual(['one in', 'two in', 'one out', 'two out']);
  });

  it('withTenant rejects a malformed tenant id', async () => {
    await expect(db.withTenant('nope', () => Promise.resolve(1))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
  });
});
