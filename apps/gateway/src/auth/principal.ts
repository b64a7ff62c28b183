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

export type Principal = ApiKeyPrincipal;

export interface RequestWithPrincipal {
  principal?: Principal;
  headers: Record<string, string | string[] | undefined>;
  id?: string;
}
