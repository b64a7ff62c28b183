import { SetMetadata } from '@nestjs/common';

/**
 * API-key scopes. A key holds a list of these (or `*`, every scope); an operation names the
 * scopes it needs with @Access. Adding a scope is fine; renaming one breaks partners' keys.
 */
export const SCOPES = [
  'assets:read',
  'assets:write',
  'avatars:read',
  'avatars:write',
  'renders:read',
  'renders:write',
  'usage:read',
  'webhooks:read',
  'webhooks:write',
  'keys:read',
  'keys:write',
] as const;
export type Scope = (typeof SCOPES)[number];
export const ALL_SCOPES = '*';

export const ROLES = ['PLATFORM_ADMIN', 'TENANT_ADMIN', 'TENANT_VIEWER'] as const;
export type Role = (typeof ROLES)[number];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/**
 * Who may call an operation. A signed-in user passes when `roles` lists their role; an API key
 * passes when `scopes` is given and the key holds every one of them (or `*`). An operation
 * without @Access is open to any authenticated caller (e.g. `viewer`); @Public() opens it to all.
 */
export interface AccessRule {
  roles?: readonly Role[];
  scopes?: readonly Scope[];
}

export const ACCESS_RULE = 'likeness:access-rule';
export const Access = (rule: AccessRule): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS_RULE, rule);

/** Tenant members who may read / change the tenant's things. */
export const TENANT_READERS: readonly Role[] = ['TENANT_ADMIN', 'TENANT_VIEWER'];
export const TENANT_WRITERS: readonly Role[] = ['TENANT_ADMIN'];
