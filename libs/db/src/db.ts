import { APP_ROLE, DbConfig, PLATFORM_ROLE, deriveAppUrl } from './config';
import { DbError, isUuid } from './errors';
import { PooledClient, TransactionClient, createPooledClient } from './prisma';
import { ApiKeyRepository } from './repositories/api-key.repository';
import { AssetRepository } from './repositories/asset.repository';
import { AuditLogRepository } from './repositories/audit-log.repository';
import { AvatarRepository } from './repositories/avatar.repository';
import { ModelPackRepository } from './repositories/model-pack.repository';
import { RenderDispatchRepository } from './repositories/render-dispatch.repository';
import { RenderRepository } from './repositories/render.repository';
import { SessionRepository } from './repositories/session.repository';
import { TenantRepository } from './repositories/tenant.repository';
import { UserRepository } from './repositories/user.repository';
import { WebhookRepository } from './repositories/webhook.repository';

/**
 * A transaction scoped to one tenant (row-level security applies): raw SQL (`$queryRaw`,
 * `$executeRaw`) and the typed model delegates. Application code uses the repositories.
 */
export type TenantTx = TransactionClient;

export interface Db {
  /** Used by /readyz; rejects when Postgres is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** One transaction as likeness_app with `app.tenant_id` set for it only (set_config(..., true)). */
  withTenant<T>(
    tenantId: string,
    fn: (tx: TenantTx) => Promise<T>,
    options?: WithTenantOptions,
  ): Promise<T>;
  tenants: TenantRepository;
  users: UserRepository;
  sessions: SessionRepository;
  apiKeys: ApiKeyRepository;
  assets: AssetRepository;
  avatars: AvatarRepository;
  renders: RenderRepository;
  /** Cross-tenant admission and reconciliation of renders (the fair scheduler). */
  renderDispatch: RenderDispatchRepository;
  modelPacks: ModelPackRepository;
  webhooks: WebhookRepository;
  auditLog: AuditLogRepository;
}

export interface WithTenantOptions {
  /**
   * Also takes the transaction-scoped advisory lock named so (hashtextextended(lock, 0)), in
   * the same statement that sets the tenant: work of one tenant that must not interleave (quota
   * checks) without an extra round trip. Waits for the lock.
   */
  lock?: string;
}

/** What repositories get: the three ways into the database. */
export interface DbContext {
  withTenant<T>(
    tenantId: string,
    fn: (tx: TenantTx) => Promise<T>,
    options?: WithTenantOptions,
  ): Promise<T>;
  /**
   * Platform-wide work (create/list tenants, create users and sessions): the owner connection,
   * one transaction under `SET LOCAL ROLE likeness_platform`, the only role with a policy that
   * spans tenants. likeness_app is not a member of it.
   */
  privileged<T>(fn: (tx: TransactionClient) => Promise<T>): Promise<T>;
  /** likeness_app outside any tenant: sees no tenant rows; calls the SECURITY DEFINER functions. */
  app(): TransactionClient;
}

export function createDb(config: DbConfig): Db {
  const poolMax = config.poolMax ?? 10;
  const appUrl = config.appUrl ?? deriveAppUrl(config.url, config.appPassword);
  const app = createPooledClient(appUrl, poolMax);
  // Opened on first privileged call, so processes that never need it never connect as owner.
  let owner: PooledClient | undefined;
  const ownerClient = (): PooledClient =>
    (owner ??= createPooledClient(config.url, Math.min(2, poolMax)));

  const ctx: DbContext = {
    async withTenant(tenantId, fn, options) {
      if (!isUuid(tenantId))
        throw new DbError('INVALID_INPUT', `tenant id is not a uuid: ${tenantId}`);
      const lock = options?.lock;
      return app.prisma.$transaction(async (tx) => {
        if (lock === undefined) {
          await tx.$executeRaw`SELECT set_config('app.tenant_id', ${tenantId}, true)`;
        } else {
          await tx.$executeRaw`SELECT set_config('app.tenant_id', ${tenantId}, true),
            pg_advisory_xact_lock(hashtextextended(${lock}, 0))`;
        }
        return fn(tx);
      });
    },
    privileged(fn) {
      return ownerClient().prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(`SET LOCAL ROLE ${PLATFORM_ROLE}`);
        return fn(tx);
      });
    },
    app: () => app.prisma,
  };

  return {
    async ping() {
      await app.pool.query('SELECT 1');
    },
    async close() {
      await Promise.all([app.close(), owner?.close()]);
    },
    withTenant: ctx.withTenant,
    tenants: new TenantRepository(ctx),
    users: new UserRepository(ctx),
    sessions: new SessionRepository(ctx),
    apiKeys: new ApiKeyRepository(ctx),
    assets: new AssetRepository(ctx),
    avatars: new AvatarRepository(ctx),
    renders: new RenderRepository(ctx),
    renderDispatch: new RenderDispatchRepository(ctx),
    modelPacks: new ModelPackRepository(ctx),
    webhooks: new WebhookRepository(ctx),
    auditLog: new AuditLogRepository(ctx),
  };
}

export { APP_ROLE };
