import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createDb, Db } from '../db';
import { DbError } from '../errors';
import { testDatabaseUrls } from '../testing';
import { createTenant } from '../testing/fixtures';
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

const input = (tenantId: string) => ({
  kind: 'AUDIO' as const,
  mime: 'audio/wav',
  bytes: 64_078,
  sha256: randomBytes(32).toString('hex'),
  storageKey: `tenants/${tenantId}/assets/${randomUUID()}/original`,
  probe: { durationSeconds: 2, sampleRate: 16000, channels: 1, codec: 'pcm_s16le' },
});

describe('AssetRepository', () => {
  it('creates an asset under an id chosen by the caller', async () => {
    const id = randomUUID();
    const asset = await db.assets.create(a.id, { ...input(a.id), id });
    expect(asset.id).toBe(id);
    expect(await db.assets.findById(a.id, id)).toEqual(asset);
  });

  it('refuses a malformed chosen id, and a taken one', async () => {
    const malformed = db.assets.create(a.id, { ...input(a.id), id: 'nope' });
    await expect(malformed).rejects.toBeInstanceOf(DbError);
    await expect(malformed).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const taken = await db.assets.create(a.id, input(a.id));
    await expect(db.assets.create(b.id, { ...input(b.id), id: taken.id })).rejects.toThrow();
    expect(await db.assets.findById(a.id, taken.id)).toEqual(taken);
  });

  it('finds any tenant’s asset for a download by id alone, with its tenant', async () => {
    const ofA = await db.assets.create(a.id, input(a.id));
    const ofB = await db.assets.create(b.id, input(b.id));
    expect(await db.assets.findForDownload(ofA.id)).toEqual({
      id: ofA.id,
      tenantId: a.id,
      mime: 'audio/wav',
      bytes: 64_078,
      storageKey: ofA.storageKey,
      tenantStatus: 'ACTIVE',
    });
    expect((await db.assets.findForDownload(ofB.id))?.tenantId).toBe(b.id);
    expect(await db.assets.findForDownload(randomUUID())).toBeNull();
    expect(await db.assets.findForDownload('not-a-uuid')).toBeNull();
    expect(await db.assets.delete(a.id, ofA.id)).toBe(true);
    expect(await db.assets.findForDownload(ofA.id)).toBeNull();
  });

  it('reports a suspended tenant on a download lookup', async () => {
    const tenant = await createTenant(db, 'Suspended');
    const asset = await db.assets.create(tenant.id, input(tenant.id));
    const owner = new Client({ connectionString: url });
    await owner.connect();
    try {
      await owner.query(`UPDATE tenants SET status = 'SUSPENDED' WHERE id = $1`, [tenant.id]);
    } finally {
      await owner.end();
    }
    expect((await db.assets.findForDownload(asset.id))?.tenantStatus).toBe('SUSPENDED');
  });

  it('the app role cannot read assets without a tenant except through the lookup', async () => {
    const asset = await db.assets.create(a.id, input(a.id));
    const app = new Client({ connectionString: appUrl });
    await app.connect();
    try {
      const direct = await app.query('SELECT id FROM assets WHERE id = $1', [asset.id]);
      expect(direct.rows).toEqual([]);
      const viaFunction = await app.query(
        'SELECT storage_key FROM likeness_asset_for_download($1)',
        [asset.id],
      );
      expect(viaFunction.rows).toEqual([{ storage_key: asset.storageKey }]);
    } finally {
      await app.end();
    }
  });
});
