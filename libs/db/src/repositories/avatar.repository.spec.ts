import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createDb, type Db } from '../db';
import { testDatabaseUrls } from '../testing';
import { createAsset, createAvatar, createRender, createTenant } from '../testing/fixtures';
import type { Tenant } from '../types';
import { similarQuery } from './avatar.repository';

const { url, appUrl } = testDatabaseUrls();
let db: Db;
let owner: Client;
let tenant: Tenant;

beforeAll(async () => {
  db = createDb({ url, appUrl });
  owner = new Client({ connectionString: url });
  await owner.connect();
  tenant = await createTenant(db, 'avatars');
});

afterAll(async () => {
  await db.close();
  await owner.end();
});

function prepared(tenantId: string, vector: number[] = [0.6, 0.8, 0]) {
  return {
    faceBox: { x0: 1, y0: 2, x1: 30, y1: 40 },
    keypoints: [{ x: 5, y: 6 }],
    preview: {
      mime: 'image/jpeg',
      bytes: 321,
      sha256: randomBytes(32).toString('hex'),
      storageKey: `tenants/${tenantId}/avatars/${randomBytes(4).toString('hex')}/preview.jpg`,
      probe: { width: 256, height: 256 },
    },
    embedding: { model: 'm', vector },
  };
}

describe('AvatarRepository.create', () => {
  it('writes the consent record in the same transaction, with the photo’s sha256', async () => {
    const image = await createAsset(db, tenant.id, 'IMAGE');
    const avatar = await db.avatars.create(
      tenant.id,
      {
        name: 'Ada',
        imageAssetId: image.id,
        faceIndex: 2,
        consentAttestation: 'She agreed in writing.',
        consentAt: new Date('2026-01-02T03:04:05.000Z'),
        modelPack: 'reference',
      },
      { actor: 'api_key:k1', data: { requestId: 'r1' } },
    );
    const entries = await db.auditLog.list(tenant.id);
    const entry = entries.find((e) => e.target === avatar.id);
    expect(entry).toMatchObject({
      actor: 'api_key:k1',
      action: 'avatar.create',
      data: {
        requestId: 'r1',
        imageAssetId: image.id,
        imageSha256: image.sha256,
        faceIndex: 2,
        consent: { attestation: 'She agreed in writing.', at: '2026-01-02T03:04:05.000Z' },
      },
    });
  });

  it('refuses an audio asset (INVALID_INPUT) and writes nothing', async () => {
    const audio = await createAsset(db, tenant.id, 'AUDIO');
    const before = (await db.auditLog.list(tenant.id)).length;
    await expect(
      db.avatars.create(
        tenant.id,
        {
          name: 'x',
          imageAssetId: audio.id,
          consentAttestation: 'y',
          consentAt: new Date(),
          modelPack: 'reference',
        },
        { actor: 'system' },
      ),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect((await db.auditLog.list(tenant.id)).length).toBe(before);
  });
});

describe('AvatarRepository terminal transitions', () => {
  it('markPrepared stores preview asset, embedding and face once; later events change nothing', async () => {
    const avatar = await createAvatar(db, tenant.id);
    let calls = 0;
    const first = await db.avatars.markPrepared(tenant.id, avatar.id, prepared(tenant.id), {
      inTransaction: async () => {
        calls++;
      },
    });
    expect(first.applied).toBe(true);
    expect(first.avatar).toMatchObject({
      status: 'READY',
      faceBox: { x0: 1, y0: 2, x1: 30, y1: 40 },
    });
    const preview = await db.assets.findById(tenant.id, first.avatar?.previewAssetId ?? '');
    expect(preview).toMatchObject({ kind: 'IMAGE', mime: 'image/jpeg', bytes: 321 });
    expect(await db.avatars.getEmbedding(tenant.id, avatar.id)).toEqual({
      model: 'm',
      vector: [0.6, 0.8, 0],
    });

    const again = await db.avatars.markPrepared(
      tenant.id,
      avatar.id,
      prepared(tenant.id, [1, 0, 0]),
    );
    const failed = await db.avatars.markFailed(tenant.id, avatar.id, {
      reason: 'NO_FACE',
      message: 'none',
    });
    expect(again.applied).toBe(false);
    expect(failed.applied).toBe(false);
    expect(calls).toBe(1);
    expect((await db.avatars.findById(tenant.id, avatar.id))?.status).toBe('READY');
    expect((await db.avatars.getEmbedding(tenant.id, avatar.id))?.vector).toEqual([0.6, 0.8, 0]);
    const previews = await owner.query('SELECT id FROM assets WHERE tenant_id = $1 AND mime = $2', [
      tenant.id,
      'image/jpeg',
    ]);
    expect(previews.rows.filter((r: { id: string }) => r.id === preview?.id)).toHaveLength(1);
  });

  it('a rollback inside inTransaction leaves the avatar PROCESSING', async () => {
    const avatar = await createAvatar(db, tenant.id);
    await expect(
      db.avatars.markFailed(
        tenant.id,
        avatar.id,
        { reason: 'NO_FACE', message: 'no face', faces: [] },
        { inTransaction: () => Promise.reject(new Error('outbox down')) },
      ),
    ).rejects.toThrow('outbox down');
    expect((await db.avatars.findById(tenant.id, avatar.id))?.status).toBe('PROCESSING');
  });

  it('refuses a preview stored under another tenant’s prefix', async () => {
    const avatar = await createAvatar(db, tenant.id);
    const other = await createTenant(db, 'other');
    await expect(
      db.avatars.markPrepared(tenant.id, avatar.id, prepared(other.id)),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('AvatarRepository.delete', () => {
  it('refuses while a render is not finished; tombstones when finished renders remain', async () => {
    const avatar = await createAvatar(db, tenant.id);
    await db.avatars.markPrepared(tenant.id, avatar.id, prepared(tenant.id));
    const render = await createRender(db, tenant.id, avatar);
    await expect(db.avatars.delete(tenant.id, avatar.id)).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await db.renders.update(tenant.id, render.id, { status: 'SUCCEEDED' });
    const deleted = await db.avatars.delete(tenant.id, avatar.id, { actor: 'system' });
    expect(deleted).toMatchObject({ tombstone: true });
    expect(deleted?.previewStorageKey).toMatch(/preview\.jpg$/);
    expect(await db.avatars.findById(tenant.id, avatar.id)).toBeNull();
    expect(await db.avatars.getEmbedding(tenant.id, avatar.id)).toBeNull();
    expect(await db.avatars.findByIdIncludingDeleted(tenant.id, avatar.id)).toMatchObject({
      faceBox: null,
      previewAssetId: null,
    });
    expect(await db.avatars.delete(tenant.id, avatar.id)).toBeNull();
  });

  it('removes the row when no render references it, keeping the photo asset', async () => {
    const avatar = await createAvatar(db, tenant.id);
    await db.avatars.markPrepared(tenant.id, avatar.id, prepared(tenant.id));
    expect(await db.avatars.delete(tenant.id, avatar.id)).toMatchObject({ tombstone: false });
    expect(await db.avatars.findByIdIncludingDeleted(tenant.id, avatar.id)).toBeNull();
    expect(await db.assets.findById(tenant.id, avatar.imageAssetId)).not.toBeNull();
  });
});

describe('AvatarRepository.staleProcessing', () => {
  it('lists PROCESSING avatars of every tenant older than the cutoff', async () => {
    const other = await createTenant(db, 'stale');
    const old = await createAvatar(db, other.id);
    const ready = await createAvatar(db, other.id);
    await db.avatars.markFailed(other.id, ready.id, { reason: 'NO_FACE', message: 'x' });
    await owner.query(
      `UPDATE avatars SET updated_at = now() - interval '1 hour' WHERE id = ANY($1::uuid[])`,
      [[old.id, ready.id]],
    );
    const fresh = await createAvatar(db, other.id);
    const stale = await db.avatars.staleProcessing(new Date(Date.now() - 60_000), 1000);
    const ids = stale.map((s) => s.avatarId);
    expect(stale).toContainEqual({ avatarId: old.id, tenantId: other.id });
    expect(ids).not.toContain(ready.id);
    expect(ids).not.toContain(fresh.id);
  });
});

describe('AvatarRepository.similar', () => {
  it('orders by the HNSW index of 128-d embeddings (EXPLAIN) and filters the tenant', async () => {
    const t = await createTenant(db, 'hnsw-128');
    const avatars = await Promise.all([0, 1, 2, 3].map(() => createAvatar(db, t.id)));
    const unit = (i: number, noise: number) =>
      Array.from({ length: 128 }, (_, j) => (j === 0 ? 1 : j === i ? noise : 0.001));
    const vectors = [unit(1, 0), unit(2, 0.1), unit(3, 0.5), unit(4, 2)];
    for (const [i, avatar] of avatars.entries()) {
      await db.avatars.setEmbedding(t.id, avatar.id, { model: 'dlib', vector: vectors[i] ?? [] });
    }
    const [target, near, middle, far] = avatars;
    if (!target || !near || !middle || !far) throw new Error('fixture');
    const similar = await db.avatars.similar(t.id, target.id, 10);
    expect(similar.map((s) => s.avatarId)).toEqual([near.id, middle.id, far.id]);

    // With a handful of rows the planner rightly sorts them; with planner alternatives off it
    // shows whether the query's expression matches the partial HNSW index at all.
    const query = similarQuery(
      t.id,
      target.id,
      { model: 'dlib', dim: 128, embedding: `[${vectors[0]?.join(',')}]` },
      5,
    );
    await owner.query('BEGIN');
    try {
      await owner.query('SET LOCAL enable_seqscan = off');
      await owner.query('SET LOCAL enable_bitmapscan = off');
      await owner.query('SET LOCAL enable_sort = off');
      const plan = await owner.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN ${query.text}`,
        query.values as unknown[],
      );
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain(
        'Index Scan using identity_embeddings_embedding_128_hnsw_idx',
      );
    } finally {
      await owner.query('ROLLBACK');
    }
    // Through the repository (iterative scan, RLS): still the 5 nearest of the tenant.
    const top = await db.avatars.similar(t.id, target.id, 2);
    expect(top.map((m) => m.avatarId)).toEqual([near.id, middle.id]);
  });
});
