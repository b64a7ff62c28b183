import type { Tenant as DbTenant, TenantCursor } from '@likeness/db';
import { type Tenant, TenantStatus } from '../viewer/viewer.model';

/**
 * A GraphQL Tenant as the identity resolvers produce it: the viewer's fields plus what the
 * `slug` / `createdAt` field resolvers can answer without another query.
 */
export type TenantNode = Tenant & { slug?: string; createdAt?: Date };

export function toTenantNode(t: DbTenant): TenantNode {
  return {
    id: t.id,
    name: t.name,
    plan: t.plan,
    status: t.status === 'ACTIVE' ? TenantStatus.ACTIVE : TenantStatus.SUSPENDED,
    slug: t.slug,
    createdAt: t.createdAt,
  };
}

// Opaque cursors: base64url of `t1:<created-at ms>:<uuid>` (keyset position, not an offset).
const CURSOR_RE = /^t1:(\d{1,15}):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export function encodeTenantCursor(t: { createdAt: Date; id: string }): string {
  return Buffer.from(`t1:${t.createdAt.getTime()}:${t.id}`, 'utf8').toString('base64url');
}

/** Null when the string is not a cursor this server made. */
export function decodeTenantCursor(cursor: string): TenantCursor | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  const match = CURSOR_RE.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match?.[1] || !match[2]) return null;
  return { createdAt: new Date(Number(match[1])), id: match[2] };
}
