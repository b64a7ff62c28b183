import type { Role } from './access';

/** Who is calling. Attached to the request by the AuthGuard; read through the decorators. */
export interface TenantSummary {
  id: string;
  name: string;
  plan: string;
  status: 'ACTIVE' | 'SUSPENDED';
}

export interface ApiKeyPrincipal {
  kind: 'API_KEY';
  apiKeyId: string;
  apiKeyName: string;
  apiKeyPrefix: string;
  scopes: readonly string[];
  tenant: TenantSummary;
}

/** A signed-in user (session token from `login`). Platform admins belong to no tenant. */
export interface UserPrincipal {
  kind: 'USER';
  userId: string;
  sessionId: string;
  email: string;
  role: Role;
  tenant: TenantSummary | null;
}

export type Principal = ApiKeyPrincipal | UserPrincipal;

export interface RequestWithPrincipal {
  principal?: Principal;
  headers: Record<string, string | string[] | undefined>;
  id?: string;
  ip?: string;
}
