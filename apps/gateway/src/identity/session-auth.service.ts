import { Inject, Injectable } from '@nestjs/common';
import type { Db } from '@likeness/db';
import type { SessionAuthenticator } from '../auth/auth.guard';
import type { UserPrincipal } from '../auth/principal';
import { ForbiddenException, UnauthenticatedException } from '../errors/likeness.exception';
import { DB } from '../infra/infra.module';
import { hashSessionToken, isSessionTokenFormat } from './session-token';

/**
 * Turns a session token from `login` into a user principal: one SECURITY DEFINER lookup by the
 * token's sha256 (the function also returns the tenant summary), then expiry, revocation and
 * tenant suspension are judged here.
 */
@Injectable()
export class SessionAuthService implements SessionAuthenticator {
  constructor(@Inject(DB) private readonly db: Db) {}

  async authenticate(token: string, now = new Date()): Promise<UserPrincipal> {
    if (!isSessionTokenFormat(token)) {
      throw new UnauthenticatedException(
        'Malformed bearer token (expected an API key lk_live_… / lk_test_… or a session token lks_…)',
      );
    }
    const session = await this.db.sessions.authenticate(hashSessionToken(token));
    if (!session) throw new UnauthenticatedException('Unknown session token; sign in again');
    if (session.revokedAt && session.revokedAt <= now) {
      throw new UnauthenticatedException('Session ended (signed out); sign in again');
    }
    if (session.expiresAt <= now) {
      throw new UnauthenticatedException('Session expired; sign in again');
    }
    const { user, tenant } = session;
    if (user.tenantId !== null && !tenant) {
      // The definer function joins the tenant; a member without one is a broken row.
      throw new Error(`session ${session.sessionId}: user ${user.id} has no tenant row`);
    }
    if (tenant && tenant.status !== 'ACTIVE') {
      throw new ForbiddenException('Tenant is suspended', 'TENANT_SUSPENDED');
    }
    return {
      kind: 'USER',
      userId: user.id,
      sessionId: session.sessionId,
      email: user.email,
      role: user.role,
      tenant: tenant
        ? { id: tenant.id, name: tenant.name, plan: tenant.plan, status: tenant.status }
        : null,
    };
  }
}
