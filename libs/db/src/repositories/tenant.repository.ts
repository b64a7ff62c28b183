import type { DbContext } from '../db';
import { DbError, isUniqueViolation, isUuid } from '../errors';
import type { Prisma } from '../prisma';
import type { JsonObject, Tenant } from '../types';
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

  /** Privileged path. Throws DbError CONFLICT when the slug is taken. */
  async create(input: CreateTenantInput): Promise<Tenant> {
    try {
      const row = await this.ctx.privileged((tx) =>
        tx.tenant.create({
          data: {
            name: input.name,
            slug: input.slug,
            plan: input.plan,
            limits: jsonInput(input.limits ?? {}),
          },
        }),
      );
      return toTenant(row);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new DbError('CONFLICT', `tenant slug already exists: ${input.slug}`);
      throw error;
    }
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
