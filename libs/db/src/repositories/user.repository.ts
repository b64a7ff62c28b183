import type { DbContext } from '../db';
import { DbError, isUniqueViolation, isUuid, sqlState } from '../errors';
import type { Prisma } from '../prisma';
import type { LoginUser, TenantStatus, User, UserRole } from '../types';
import { hasPrismaCode } from './asset.repository';
import { type AppendAuditInput, writeAuditEntry } from './audit-log.repository';

type UserRow = Prisma.UserGetPayload<object>;

function toUser(row: UserRow): User {
  return {
    id: row.id,
    tenantId: row.tenantId,
    email: row.email,
    role: row.role,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export interface CreateUserInput {
  email: string;
  /** argon2id hash, never the password. */
  passwordHash: string;
  role: UserRole;
  /** Required for tenant roles, null for PLATFORM_ADMIN. */
  tenantId: string | null;
}

interface LoginRow {
  user_id: string;
  email: string;
  password_hash: string;
  role: UserRole;
  tenant_id: string | null;
  tenant_status: TenantStatus | null;
}

export class UserRepository {
  constructor(private readonly ctx: DbContext) {}

  /**
   * Privileged path (platform admins have no tenant). Emails are stored lower-case. Throws
   * DbError CONFLICT when the email is taken, INVALID_REFERENCE when the tenant does not exist.
   * With `audit`, the entry (tenant = the user's, target = the new user) is written in the same
   * transaction.
   */
  async create(input: CreateUserInput, options?: { audit?: AppendAuditInput }): Promise<User> {
    if ((input.role === 'PLATFORM_ADMIN') !== (input.tenantId === null)) {
      throw new DbError(
        'INVALID_INPUT',
        'PLATFORM_ADMIN users have no tenant; every other role has one',
      );
    }
    if (input.tenantId !== null && !isUuid(input.tenantId)) {
      throw new DbError('INVALID_REFERENCE', `tenant id is not a uuid: ${input.tenantId}`);
    }
    try {
      const row = await this.ctx.privileged(async (tx) => {
        const created = await tx.user.create({
          data: {
            email: input.email.toLowerCase(),
            passwordHash: input.passwordHash,
            role: input.role,
            tenantId: input.tenantId,
          },
        });
        const audit = options?.audit;
        if (audit) {
          await writeAuditEntry(tx, created.tenantId, {
            ...audit,
            target: audit.target ?? created.id,
          });
        }
        return created;
      });
      return toUser(row);
    } catch (error) {
      if (isUniqueViolation(error))
        throw new DbError('CONFLICT', `user already exists: ${input.email}`);
      if (sqlState(error) === '23503' || hasPrismaCode(error, 'P2003'))
        throw new DbError('INVALID_REFERENCE', `no tenant ${input.tenantId ?? ''}`);
      throw error;
    }
  }

  /** Login lookup through the SECURITY DEFINER function; null when unknown. */
  async findForLogin(email: string): Promise<LoginUser | null> {
    const rows = await this.ctx.app().$queryRaw<
      LoginRow[]
    >`SELECT * FROM likeness_find_user_for_login(${email})`;
    const row = rows[0];
    if (!row) return null;
    return {
      id: row.user_id,
      email: row.email,
      passwordHash: row.password_hash,
      role: row.role,
      tenantId: row.tenant_id,
      tenantStatus: row.tenant_status,
    };
  }

  async findById(tenantId: string, id: string): Promise<User | null> {
    if (!isUuid(id)) return null;
    const row = await this.ctx.withTenant(tenantId, (tx) =>
      tx.user.findFirst({ where: { id, tenantId } }),
    );
    return row ? toUser(row) : null;
  }

  async list(tenantId: string): Promise<User[]> {
    const rows = await this.ctx.withTenant(tenantId, (tx) =>
      tx.user.findMany({ where: { tenantId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] }),
    );
    return rows.map(toUser);
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const { count } = await this.ctx.withTenant(tenantId, (tx) =>
      tx.user.deleteMany({ where: { id, tenantId } }),
    );
    return count > 0;
  }
}
