// Builders for libs/db's own tests: every test makes its own tenants.
import { randomBytes } from 'node:crypto';
import { generateApiKeySecret } from '../api-key-secret';
import type { Db } from '../db';
import type { ApiKey, Asset, Avatar, Render, Tenant } from '../types';

export function uniqueSlug(prefix = 't'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export function createTenant(db: Db, name = 'Test tenant'): Promise<Tenant> {
  return db.tenants.create({ name, slug: uniqueSlug(), plan: 'free' });
}

export function createAsset(
  db: Db,
  tenantId: string,
  kind: Asset['kind'] = 'IMAGE',
): Promise<Asset> {
  return db.assets.create(tenantId, {
    kind,
    mime: kind === 'IMAGE' ? 'image/png' : kind === 'AUDIO' ? 'audio/wav' : 'video/mp4',
    bytes: 1234,
    sha256: randomBytes(32).toString('hex'),
    storageKey: `${tenantId}/${randomBytes(8).toString('hex')}`,
    probe: { width: 512, height: 512 },
  });
}

export async function createAvatar(db: Db, tenantId: string): Promise<Avatar> {
  const image = await createAsset(db, tenantId, 'IMAGE');
  return db.avatars.create(tenantId, {
    name: 'Ada',
    imageAssetId: image.id,
    consentAttestation: 'I have the consent of the person shown.',
    consentAt: new Date(),
    modelPack: 'reference',
  });
}

export async function createApiKey(
  db: Db,
  tenantId: string,
): Promise<{ key: ApiKey; secret: string }> {
  const generated = generateApiKeySecret('test');
  const key = await db.apiKeys.create(tenantId, {
    name: 'test key',
    prefix: generated.prefix,
    secretHash: generated.secretHash,
    scopes: ['renders:write'],
    expiresAt: null,
  });
  return { key, secret: generated.secret };
}

export async function createRender(db: Db, tenantId: string, avatar?: Avatar): Promise<Render> {
  const forAvatar = avatar ?? (await createAvatar(db, tenantId));
  const audio = await createAsset(db, tenantId, 'AUDIO');
  return db.renders.create(tenantId, {
    avatarId: forAvatar.id,
    audioAssetId: audio.id,
    prompt: 'a person talking',
    seed: 42,
    modelPack: 'reference',
    modelPackVersion: '1.0.0',
    inputHash: randomBytes(16).toString('hex'),
  });
}

/**
 * One row in every tenant-owned table for `tenantId` (repositories where they exist, raw SQL in
 * the tenant's scope for the rest). The RLS tests check the list against the catalog, so a new
 * tenant-owned table fails them until it is added here.
 */
export async function populateTenant(db: Db, tenantId: string): Promise<void> {
  const avatar = await createAvatar(db, tenantId);
  await db.avatars.setEmbedding(tenantId, avatar.id, { model: 'test', vector: [1, 0, 0] });
  const { key } = await createApiKey(db, tenantId);
  const render = await createRender(db, tenantId, avatar);
  await db.renders.appendEvent(tenantId, render.id, 'render.queued', {});
  await db.users.create({
    email: `${uniqueSlug('u')}@example.test`,
    passwordHash: 'x',
    role: 'TENANT_VIEWER',
    tenantId,
  });
  await db.auditLog.append(tenantId, { actor: 'system', action: 'test.populate' });
  await db.withTenant(tenantId, async (tx) => {
    await tx.$executeRaw`INSERT INTO usage_events (tenant_id, api_key_id, render_id, quantity, unit)
      VALUES (${tenantId}::uuid, ${key.id}::uuid, ${render.id}::uuid, 1.5, 'video_second')`;
    await tx.$executeRaw`INSERT INTO stripe_outbox (tenant_id, kind, payload) VALUES (${tenantId}::uuid, 'meter_event', '{}')`;
    const endpoints = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret)
      VALUES (${tenantId}::uuid, 'https://example.test/hook', ARRAY['render.succeeded'], 'whsec') RETURNING id`;
    const deliveries = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_type, payload)
      VALUES (${tenantId}::uuid, ${endpoints[0]?.id}::uuid, 'render.succeeded', '{}') RETURNING id`;
    await tx.$executeRaw`INSERT INTO webhook_delivery_attempts (tenant_id, delivery_id, attempt, started_at, duration_ms, response_status)
      VALUES (${tenantId}::uuid, ${deliveries[0]?.id}::uuid, 1, now(), 12, 500)`;
  });
}

export const POPULATED_TABLES = [
  'api_keys',
  'assets',
  'audit_log',
  'avatars',
  'identity_embeddings',
  'render_events',
  'renders',
  'stripe_outbox',
  'usage_events',
  'users',
  'webhook_deliveries',
  'webhook_delivery_attempts',
  'webhook_endpoints',
] as const;
