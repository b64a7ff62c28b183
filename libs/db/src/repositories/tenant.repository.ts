import type { DbContext } from '../db';
import { DbError, isUniqueViolation, isUuid } from '../errors';
import type { Prisma } from '../prisma';
import type { JsonObject, Tenant, TenantCursor, UpdateTenantInput } from '../types';
import { type AppendAuditInput, writeAuditEntry } from './audit-log.repository';
import { jsonInput, jsonObject } from './mappers';

type TenantRow = Prisma.TenantGetPayload<object>;

export function toTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    plan: row.plan,
    status: row.status,
    limits: jsonObject(row.limits),
    stripeCustomerId: row.stripeCustomerId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export interface CreateTenantInput {
  name: string;
  slug: string;
  plan: string;
  limits?: JsonObject;
}

export class TenantRepository {
  constructor(private readonly ctx: DbContext) {}

  /** The tenant itself, seen from inside its own scope. */
  async findById(tenantId: string): Promise<Tenant | null> {
    if (!isUuid(tenantId)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.tenant.findUnique({ where: { id: tenantId } }),
    );
    return row ? toTenant(row) : null;
  }

  /**
   * Privileged path. Throws DbError CONFLICT when the slug is taken. With `audit`, the audit-log
   * entry (its tenant and target = the new tenant) is written in the same transaction.
   */
  async create(input: CreateTenantInput, options?: { audit?: AppendAuditInput }): Promise<Tenant> {
    try {
      const row = await this.ctx.privileged(async (tx) => {
        const created = await tx.tenant.create({
          data: {
            name: input.name,
            slug: input.slug,
            plan: input.plan,
            limits: jsonInput(input.limits ?? {}),
          },
        });
        const audit = options?.audit;
        if (audit) {
          await writeAuditEntry(tx, created.id, { ...audit, target: audit.target ?? created.id });
        }
        return created;
      });
      return toTenant(row);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new DbError('CONFLICT', `tenant slug already exists: ${input.slug}`);
      throw error;
    }
  }

  /**
   * Privileged path. Null when no tenant has this id. With `audit`, the entry is written in the
   * same transaction, its `data` extended with `from` / `to`: the changed fields before and after.
   */
  async update(
    id: string,
    input: UpdateTenantInput,
    options?: { audit?: AppendAuditInput },
  ): Promise<Tenant | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.privileged(async (tx) => {
      const before = await tx.tenant.findUnique({ where: { id } });
      if (!before) return null;
      const after = await tx.tenant.update({
        where: { id },
        data: {
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.plan !== undefined ? { plan: input.plan } : {}),
          ...(input.status !== undefined ? { status: input.status } : {}),
        },
      });
      const audit = options?.audit;
      if (audit) {
        const from: JsonObject = {};
        const to: JsonObject = {};
        for (const key of ['name', 'plan', 'status'] as const) {
          if (input[key] !== undefined && before[key] !== after[key]) {
            from[key] = before[key];
            to[key] = after[key];
          }
        }
        await writeAuditEntry(tx, id, {
          ...audit,
          target: audit.target ?? id,
          data: { ...(audit.data ?? {}), from, to },
        });
      }
      return after;
    });
    return row ? toTenant(row) : null;
  }

  /**
   * Privileged path: one page of every tenant, oldest first (ties by id), starting after
   * `after` (keyset: stable while tenants are added).
   */
  async listPage(options: { first: number; after?: TenantCursor }): Promise<Tenant[]> {
    const take = Math.max(1, Math.min(500, options.first));
    const after = options.after;
    if (after && !isUuid(after.id))
      throw new DbError('INVALID_INPUT', `tenant cursor id is not a uuid: ${after.id}`);
    const rows = await this.ctx.privileged((tx) =>
      tx.tenant.findMany({
        ...(after
          ? {
              where: {
                OR: [
                  { createdAt: { gt: after.createdAt } },
                  { createdAt: after.createdAt, id: { gt: after.id } },
                ],
              },
            }
          : {}),
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take,
      }),
    );
    return rows.map(toTenant);
  }

  /** Privileged path: every tenant, oldest first. */
  async list(): Promise<Tenant[]> {
    const rows = await this.ctx.privileged((tx) =>
      tx.tenant.findMany({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
    );
    return rows.map(toTenant);
  }

  /** Privileged path. */
  async findBySlug(slug: string): Promise<Tenant | null> {
    const row = await this.ctx.privileged((tx) => tx.tenant.findUnique({ where: { slug } }));
    return row ? toTenant(row) : null;
  }
}
