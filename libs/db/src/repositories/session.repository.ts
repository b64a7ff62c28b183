import type { DbContext } from '../db';
import { DbError, isUniqueViolation } from '../errors';
import type { Session, SessionAuth, TenantStatus, UserRole } from '../types';

interface SessionAuthRow {
  session_id: string;
  user_id: string;
  expires_at: Date;
  revoked_at: Date | null;
  email: string;
  role: UserRole;
  tenant_id: string | null;
  tenant_status: TenantStatus | null;
  tenant_name: string | null;
  tenant_plan: string | null;
}

/** The LEFT JOINed tenant columns: all null for a platform admin, all set otherwise (NOT NULL). */
function tenantOf(row: SessionAuthRow): SessionAuth['tenant'] {
  const { tenant_id: id, tenant_name: name, tenant_plan: plan, tenant_status: status } = row;
  return id !== null && name !== null && plan !== null && status !== null
    ? { id, name, plan, status }
    : null;
}

/** Dashboard sessions. Not tenant-owned (platform admins have sessions), so no tenantId argument. */
export class SessionRepository {
  constructor(private readonly ctx: DbContext) {}

  /** Privileged path, after the password was verified. `tokenHash` = sha256 hex of the cookie token. */
  async create(input: { userId: string; tokenHash: string; expiresAt: Date }): Promise<Session> {
    try {
      const row = await this.ctx.privileged((tx) => tx.session.create({ data: input }));
      return {
        id: row.id,
        userId: row.userId,
        expiresAt: row.expiresAt,
        revokedAt: row.revokedAt,
        createdAt: row.createdAt,
      };
    } catch (error) {
      if (isUniqueViolation(error)) throw new DbError('CONFLICT', 'session token already exists');
      throw error;
    }
  }

  /** Through the SECURITY DEFINER function; null when unknown. Expiry and revocation are reported, not judged. */
  async authenticate(tokenHash: string): Promise<SessionAuth | null> {
    const rows = await this.ctx.app().$queryRaw<
      SessionAuthRow[]
    >`SELECT * FROM likeness_authenticate_session(${tokenHash})`;
    const row = rows[0];
    if (!row) return null;
    return {
      sessionId: row.session_id,
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
      user: { id: row.user_id, email: row.email, role: row.role, tenantId: row.tenant_id },
      tenantStatus: row.tenant_status,
      tenant: tenantOf(row),
    };
  }

  /** Logout; true when a live session was revoked. */
  async revoke(tokenHash: string): Promise<boolean> {
    const rows = await this.ctx.app().$queryRaw<
      { revoked: boolean }[]
    >`SELECT likeness_revoke_session(${tokenHash}) AS revoked`;
    return rows[0]?.revoked === true;
  }
}
