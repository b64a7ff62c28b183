import { randomBytes } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { hashPassword, verifyPassword, type Db } from '@likeness/db';
import { APP_CONFIG, type AppConfig } from '../config/config';
import { ForbiddenException, UnauthenticatedException } from '../errors/likeness.exception';
import { DB } from '../infra/infra.module';
import { LoginThrottle } from './login-throttle.service';
import { UserRole, type Session } from './identity.model';
import { generateSessionToken, hashSessionToken } from './session-token';

/** The one answer to a wrong email or a wrong password: callers cannot tell which. */
export const INVALID_CREDENTIALS = 'Invalid email or password';

@Injectable()
export class LoginService implements OnModuleInit {
  /** Verified against when the email is unknown, so both failures cost one argon2 verify. */
  private dummyHash: Promise<string> | undefined;

  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly throttle: LoginThrottle,
  ) {}

  /** Made at boot, so even the first unknown-email attempt costs exactly one verify. */
  async onModuleInit(): Promise<void> {
    await this.dummy();
  }

  async login(email: string, password: string, ip: string, now = new Date()): Promise<Session> {
    const attempt = await this.throttle.begin(email, ip);
    const user = await this.db.users.findForLogin(email.trim());
    const storedHash = user?.passwordHash ?? (await this.dummy());
    const matches = await verifyPassword(storedHash, password);
    if (!user || !matches) {
      await attempt.failed();
      throw new UnauthenticatedException(INVALID_CREDENTIALS);
    }
    await attempt.succeeded();
    // Told only to someone who knows the password: it reveals nothing to a guesser.
    if (user.tenantId !== null && user.tenantStatus !== 'ACTIVE') {
      throw new ForbiddenException('Tenant is suspended', 'TENANT_SUSPENDED');
    }
    const token = generateSessionToken();
    const expiresAt = new Date(now.getTime() + this.config.sessionTtlHours * 3_600_000);
    await this.db.sessions.create({
      userId: user.id,
      tokenHash: hashSessionToken(token),
      expiresAt,
    });
    return {
      token,
      expiresAt,
      user: { id: user.id, email: user.email, role: UserRole[user.role], tenantId: user.tenantId },
    };
  }

  /** Ends the session whose token is given; false when it was already ended or unknown. */
  logout(token: string): Promise<boolean> {
    return this.db.sessions.revoke(hashSessionToken(token));
  }

  private dummy(): Promise<string> {
    this.dummyHash ??= hashPassword(randomBytes(32).toString('base64url'));
    return this.dummyHash;
  }
}
