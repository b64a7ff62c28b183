import { Global, Module } from '@nestjs/common';
import { SESSION_AUTHENTICATOR } from '../auth/auth.guard';
import { IdentityAdminService } from './identity-admin.service';
import {
  IdentityAdminResolver,
  SessionResolver,
  TenantFieldsResolver,
  UserFieldsResolver,
} from './identity.resolver';
import { LoginThrottle } from './login-throttle.service';
import { LoginService } from './login.service';
import { SessionAuthService } from './session-auth.service';

/**
 * Users, sessions and tenants: login/logout, the session authenticator the global AuthGuard
 * uses for non-API-key bearer tokens, and platform administration. Global so that the guard
 * (provided by AuthModule) sees SESSION_AUTHENTICATOR.
 */
@Global()
@Module({
  providers: [
    SessionAuthService,
    { provide: SESSION_AUTHENTICATOR, useExisting: SessionAuthService },
    LoginThrottle,
    LoginService,
    IdentityAdminService,
    SessionResolver,
    IdentityAdminResolver,
    TenantFieldsResolver,
    UserFieldsResolver,
  ],
  exports: [SESSION_AUTHENTICATOR],
})
export class IdentityModule {}
