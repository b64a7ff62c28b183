import { Inject, Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import { planIds } from '@likeness/billing';
import { DbError, hashPassword, type Db, type Tenant, type User as DbUser } from '@likeness/db';
import { ApiKeyCache } from '../api-keys/api-key-cache';
import type { UserPrincipal } from '../auth/principal';
import { DB } from '../infra/infra.module';
import { TenantEvents } from '../realtime/tenant-events';
import { TenantStatus } from '../viewer/viewer.model';
import {
  BadUserInputException,
  ConflictException,
  NotFoundException,
} from '../errors/likeness.exception';
import {
  type CreateTenantInput,
  type CreateUserInput,
  type TenantConnection,
  TENANTS_PAGE,
  type UpdateTenantInput,
  type User,
  UserRole,
} from './identity.model';
import { decodeTenantCursor, encodeTenantCursor, toTenantNode } from './tenant-node';
import { parseInput } from './validation';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'must be at most 100 characters');
const slug = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$/,
    'must be 3 to 40 lower-case letters, digits and inner hyphens',
  );
const plan = z.enum(planIds, { error: `must be one of ${planIds.join(', ')}` });
const status = z.enum(TenantStatus);
const email = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .toLowerCase()
  .pipe(z.email('must be an email address'));
const password = z
  .string()
  .min(12, 'must be at least 12 characters')
  .max(1024, 'must be at most 1024 characters');
// Platform admins are made by the operator (LIKENESS_ADMIN_EMAIL), never through the API.
const tenantRole = z.enum([UserRole.TENANT_ADMIN, UserRole.TENANT_VIEWER], {
  error: 'must be TENANT_ADMIN or TENANT_VIEWER',
});
const uuid = z
  .string()
  .regex(UUID, 'must be an id (uuid)')
  .transform((s) => s.toLowerCase());

const createTenantSchema = z.object({ name, slug, plan: plan.default('free') });
const updateTenantSchema = z
  .object({ name: name.optional(), plan: plan.optional(), status: status.optional() })
  .refine((v) => v.name !== undefined || v.plan !== undefined || v.status !== undefined, {
    message: 'give at least one of name, plan, status',
  });
const createUserSchema = z.object({
  email,
  password,
  role: tenantRole,
  tenantId: uuid.optional(),
});
const listSchema = z.object({
  first: z
    .number()
    .int()
    .min(1, 'must be at least 1')
    .max(TENANTS_PAGE.max, `must be at most ${TENANTS_PAGE.max}`),
  after: z.string().optional(),
});

/** GraphQL gives null for an omitted nullable argument or field; zod's optional wants undefined. */
function withoutNulls<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], null> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null)) as {
    [K in keyof T]: Exclude<T[K], null>;
  };
}

function actorOf(principal: UserPrincipal): string {
  return `user:${principal.userId}`;
}

/** Platform administration (tenants) and user accounts. */
@Injectable()
export class IdentityAdminService {
  private readonly logger = new Logger(IdentityAdminService.name);

  constructor(
    @Inject(DB) private readonly db: Db,
    private readonly apiKeyCache: ApiKeyCache,
    private readonly tenantEvents: TenantEvents,
  ) {}

  async createTenant(actor: UserPrincipal, input: CreateTenantInput): Promise<Tenant> {
    const v = parseInput(createTenantSchema, withoutNulls(input));
    try {
      return await this.db.tenants.create(v, {
        audit: { actor: actorOf(actor), action: 'tenant.create', data: { ...v } },
      });
    } catch (error) {
      if (error instanceof DbError && error.code === 'CONFLICT') {
        throw new ConflictException(`A tenant with the slug ${v.slug} already exists`, 'slug');
      }
      throw error;
    }
  }

  async updateTenant(actor: UserPrincipal, id: string, input: UpdateTenantInput): Promise<Tenant> {
    const tenantId = parseInput(z.object({ id: uuid }), { id }).id;
    const v = parseInput(updateTenantSchema, withoutNulls(input));
    const patch = {
      ...(v.name !== undefined ? { name: v.name } : {}),
      ...(v.plan !== undefined ? { plan: v.plan } : {}),
      ...(v.status !== undefined ? { status: v.status } : {}),
    };
    const updated = await this.db.tenants.update(tenantId, patch, {
      audit: { actor: actorOf(actor), action: 'tenant.update', data: { ...patch } },
    });
    if (!updated) throw new NotFoundException('Tenant not found', 'id');
    // API key principals carry the tenant's status, name and plan: drop cached keys everywhere.
    // Sessions are judged against the database on every request and need nothing.
    await this.apiKeyCache.invalidateTenant(updated.id);
    // `tenantUpdated` subscribers (the tenant's own sessions and keys) hear of it; the change is
    // committed, so a Redis hiccup here is logged rather than failing the mutation.
    const summary = {
      id: updated.id,
      name: updated.name,
      plan: updated.plan,
      status: updated.status,
    };
    await this.tenantEvents.tenantUpdated(summary).catch((err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      this.logger.warn(`could not publish tenantUpdated for ${updated.id}: ${reason}`);
    });
    return updated;
  }

  async tenants(
    first: number | null | undefined,
    after: string | null | undefined,
  ): Promise<TenantConnection> {
    const v = parseInput(listSchema, withoutNulls({ first: first ?? TENANTS_PAGE.default, after }));
    const cursor = v.after === undefined ? undefined : decodeTenantCursor(v.after);
    if (cursor === null) {
      throw new BadUserInputException('after', 'after: not a cursor from this connection');
    }
    const rows = await this.db.tenants.listPage({
      first: v.first + 1,
      ...(cursor ? { after: cursor } : {}),
    });
    const page = rows.slice(0, v.first);
    const edges = page.map((t) => ({ cursor: encodeTenantCursor(t), node: toTenantNode(t) }));
    return {
      edges,
      pageInfo: {
        hasNextPage: rows.length > v.first,
        hasPreviousPage: cursor !== undefined,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
    };
  }

  /**
   * Platform admins create users in any tenant (`tenantId` required); tenant admins only in
   * their own (another tenant's id is NOT_FOUND). Nobody creates platform admins here.
   */
  async createUser(actor: UserPrincipal, input: CreateUserInput): Promise<User> {
    const v = parseInput(createUserSchema, withoutNulls(input));
    const tenantId = await this.tenantForNewUser(actor, v.tenantId);
    const passwordHash = await hashPassword(v.password);
    let created: DbUser;
    try {
      created = await this.db.users.create(
        { email: v.email, passwordHash, role: v.role, tenantId },
        {
          audit: {
            actor: actorOf(actor),
            action: 'user.create',
            data: { email: v.email, role: v.role },
          },
        },
      );
    } catch (error) {
      if (error instanceof DbError && error.code === 'CONFLICT') {
        throw new ConflictException(`A user with the email ${v.email} already exists`, 'email');
      }
      if (error instanceof DbError && error.code === 'INVALID_REFERENCE') {
        throw new BadUserInputException('tenantId', 'tenantId: no tenant has this id');
      }
      throw error;
    }
    return {
      id: created.id,
      email: created.email,
      role: UserRole[created.role],
      tenantId: created.tenantId,
    };
  }

  private async tenantForNewUser(actor: UserPrincipal, given: string | undefined): Promise<string> {
    switch (actor.role) {
      case 'PLATFORM_ADMIN': {
        if (given === undefined) {
          throw new BadUserInputException('tenantId', 'tenantId: required for platform admins');
        }
        if (!(await this.db.tenants.findById(given))) {
          throw new BadUserInputException('tenantId', 'tenantId: no tenant has this id');
        }
        return given;
      }
      case 'TENANT_ADMIN': {
        const own = actor.tenant?.id;
        if (!own) throw new Error(`tenant admin ${actor.userId} has no tenant`);
        if (given !== undefined && given !== own) {
          throw new NotFoundException('Tenant not found', 'tenantId');
        }
        return own;
      }
      case 'TENANT_VIEWER':
        // The @Access rule already refuses viewers; reaching here is a wiring bug.
        throw new Error('tenant viewers cannot create users');
    }
  }
}
