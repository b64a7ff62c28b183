import type { DbContext } from '../db';
import type { TransactionClient } from '../prisma';
import type { Prisma } from '../prisma';
import type { AuditLogEntry, JsonObject, ListOptions } from '../types';
import { jsonInput, jsonObject, page } from './mappers';

type AuditRow = Prisma.AuditLogGetPayload<object>;

function toEntry(row: AuditRow): AuditLogEntry {
  return {
    id: row.id,
    tenantId: row.tenantId,
    actor: row.actor,
    action: row.action,
    target: row.target,
    data: jsonObject(row.data),
    createdAt: row.createdAt,
  };
}

export interface AppendAuditInput {
  /** `user:<id>`, `api_key:<id>`, `system`. */
  actor: string;
  /** e.g. `api_key.revoke`. */
  action: string;
  target?: string | null;
  data?: JsonObject;
}

/**
 * Writes one audit-log row inside the caller's transaction, so the entry and the change it
 * records commit or roll back together. Every repository that audits goes through here.
 */
export function writeAuditEntry(
  tx: TransactionClient,
  tenantId: string | null,
  input: AppendAuditInput,
): Promise<AuditRow> {
  return tx.auditLog.create({
    data: {
      tenantId,
      actor: input.actor,
      action: input.action,
      target: input.target ?? null,
      data: jsonInput(input.data ?? {}),
    },
  });
}

export class AuditLogRepository {
  constructor(private readonly ctx: DbContext) {}

  async append(tenantId: string, input: AppendAuditInput): Promise<AuditLogEntry> {
    const row = await this.ctx.withTenant(tenantId, (tx) => writeAuditEntry(tx, tenantId, input));
    return toEntry(row);
  }

  /** Platform-level entry (no tenant, e.g. tenant created or suspended): privileged path. */
  async appendPlatform(
    input: AppendAuditInput & { tenantId?: string | null },
  ): Promise<AuditLogEntry> {
    const row = await this.ctx.privileged((tx) =>
      writeAuditEntry(tx, input.tenantId ?? null, input),
    );
    return toEntry(row);
  }

  /** Newest first. */
  async list(tenantId: string, options?: ListOptions): Promise<AuditLogEntry[]> {
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.auditLog.findMany({
        where: { tenantId },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        ...page(options),
      }),
    );
    return rows.map(toEntry);
  }
}
