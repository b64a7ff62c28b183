import type { Principal } from '../auth/principal';

/** The GraphQL operation a request ran, for its access-log line. */
const operations = new WeakMap<object, string>();

export function setRequestOperation(request: object, operation: string): void {
  operations.set(request, operation);
}

export function requestOperationOf(request: object): string | undefined {
  return operations.get(request);
}

/** Who made a request, as log fields: tenant and API key or user ids, never secrets. */
export function principalLogFields(principal: Principal | undefined): Record<string, string> {
  if (!principal) return {};
  const tenant: Record<string, string> = principal.tenant ? { tenantId: principal.tenant.id } : {};
  switch (principal.kind) {
    case 'API_KEY':
      return { ...tenant, apiKeyId: principal.apiKeyId };
    case 'USER':
      return { ...tenant, userId: principal.userId };
  }
}
