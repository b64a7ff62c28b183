import type { AdmissionCandidate, AdmissionTenant } from '@likeness/db';

/**
 * The admission order of one pass: round-robin across tenants — every tenant's next render,
 * then every tenant's second, and so on — with the tenants served longest ago first in each
 * round (never admitted before: first of all; ties by id, so the order is stable). Within a
 * tenant, candidates come in their own order (priority, then age: `rank`). At most `limit`.
 */
export function roundRobin(
  tenants: readonly AdmissionTenant[],
  candidates: readonly AdmissionCandidate[],
  limit: number,
): string[] {
  const byTenant = new Map<string, AdmissionCandidate[]>();
  for (const candidate of candidates) {
    const list = byTenant.get(candidate.tenantId) ?? [];
    list.push(candidate);
    byTenant.set(candidate.tenantId, list);
  }
  for (const list of byTenant.values()) list.sort((a, b) => a.rank - b.rank);
  const order = [...tenants]
    .filter((t) => byTenant.has(t.tenantId))
    .sort((a, b) => {
      const at = a.lastAdmittedAt?.getTime() ?? -Infinity;
      const bt = b.lastAdmittedAt?.getTime() ?? -Infinity;
      if (at !== bt) return at - bt;
      return a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0;
    });
  const chosen: string[] = [];
  for (let round = 0; chosen.length < limit; round++) {
    let any = false;
    for (const tenant of order) {
      const next = byTenant.get(tenant.tenantId)?.[round];
      if (!next) continue;
      any = true;
      chosen.push(next.renderId);
      if (chosen.length >= limit) break;
    }
    if (!any) break;
  }
  return chosen;
}
