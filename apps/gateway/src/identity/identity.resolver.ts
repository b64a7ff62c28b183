import {
  Args,
  Context,
  Int,
  Mutation,
  Parent,
  Query,
  ResolveField,
  Resolver,
} from '@nestjs/graphql';
import { Inject } from '@nestjs/common';
import { ID } from '@nestjs/graphql';
import type { Db } from '@likeness/db';
import { Access, ROLES } from '../auth/access';
import { bearerToken } from '../auth/auth.guard';
import { CurrentPrincipal } from '../auth/current.decorators';
import type { Principal, RequestWithPrincipal, UserPrincipal } from '../auth/principal';
import { Public } from '../auth/public.decorator';
import { UnauthenticatedException } from '../errors/likeness.exception';
import { DB } from '../infra/infra.module';
import { Tenant } from '../viewer/viewer.model';
import { IdentityAdminService } from './identity-admin.service';
import {
  CreateTenantInput,
  CreateUserInput,
  Session,
  TenantConnection,
  UpdateTenantInput,
  User,
} from './identity.model';
import { LoginService } from './login.service';
import { type TenantNode, toTenantNode } from './tenant-node';

/** The guard attached a user principal (the @Access rule admits users only). */
function asUser(principal: Principal): UserPrincipal {
  if (principal.kind !== 'USER') throw new Error('users-only operation reached by an API key');
  return principal;
}

@Resolver()
export class SessionResolver {
  constructor(private readonly logins: LoginService) {}

  @Public()
  @Mutation(() => Session, {
    description:
      'Signs in with email and password. Wrong email or password: UNAUTHENTICATED; repeated ' +
      'failures: RATE_LIMITED with retryAfterSeconds.',
  })
  login(
    @Args('email') email: string,
    @Args('password') password: string,
    @Context('req') req: RequestWithPrincipal,
  ): Promise<Session> {
    return this.logins.login(email, password, req.ip ?? 'unknown');
  }

  @Access({ roles: ROLES })
  @Mutation(() => Boolean, { description: 'Ends the session whose token made this request.' })
  async logout(@Context('req') req: RequestWithPrincipal): Promise<boolean> {
    const token = bearerToken(req.headers['authorization']);
    if (!token) throw new UnauthenticatedException();
    return this.logins.logout(token);
  }
}

@Resolver()
export class IdentityAdminResolver {
  constructor(private readonly admin: IdentityAdminService) {}

  @Access({ roles: ['PLATFORM_ADMIN'] })
  @Mutation(() => Tenant, { description: 'Creates a tenant. Platform admins only.' })
  async createTenant(
    @CurrentPrincipal() principal: Principal,
    @Args('input') input: CreateTenantInput,
  ): Promise<TenantNode> {
    return toTenantNode(await this.admin.createTenant(asUser(principal), input));
  }

  @Access({ roles: ['PLATFORM_ADMIN'] })
  @Mutation(() => Tenant, {
    description:
      'Renames a tenant, changes its plan, suspends or reactivates it. Platform admins only.',
  })
  async updateTenant(
    @CurrentPrincipal() principal: Principal,
    @Args('id', { type: () => ID }) id: string,
    @Args('input') input: UpdateTenantInput,
  ): Promise<TenantNode> {
    return toTenantNode(await this.admin.updateTenant(asUser(principal), id, input));
  }

  @Access({ roles: ['PLATFORM_ADMIN'] })
  @Query(() => TenantConnection, {
    description: 'Every tenant, oldest first. Platform admins only.',
  })
  tenants(
    @Args('first', { type: () => Int, nullable: true, description: '1 to 100, default 20.' })
    first: number | null,
    @Args('after', { type: () => String, nullable: true }) after: string | null,
  ): Promise<TenantConnection> {
    return this.admin.tenants(first, after);
  }

  @Access({ roles: ['PLATFORM_ADMIN', 'TENANT_ADMIN'] })
  @Mutation(() => User, {
    description:
      'Creates a TENANT_ADMIN or TENANT_VIEWER. Platform admins: in any tenant; tenant admins: in their own.',
  })
  createUser(
    @CurrentPrincipal() principal: Principal,
    @Args('input') input: CreateUserInput,
  ): Promise<User> {
    return this.admin.createUser(asUser(principal), input);
  }
}

/** Tenant fields beyond the viewer's summary; loaded when the parent does not carry them. */
@Resolver(() => Tenant)
export class TenantFieldsResolver {
  constructor(@Inject(DB) private readonly db: Db) {}

  @ResolveField(() => String, { description: 'Unique handle, e.g. acme-studio.' })
  async slug(@Parent() tenant: TenantNode): Promise<string> {
    return tenant.slug ?? (await this.load(tenant.id)).slug;
  }

  @ResolveField(() => Date)
  async createdAt(@Parent() tenant: TenantNode): Promise<Date> {
    return tenant.createdAt ?? (await this.load(tenant.id)).createdAt;
  }

  private async load(id: string): Promise<Required<TenantNode>> {
    const tenant = await this.db.tenants.findById(id);
    if (!tenant) throw new Error(`tenant ${id} vanished`);
    return toTenantNode(tenant) as Required<TenantNode>;
  }
}

@Resolver(() => User)
export class UserFieldsResolver {
  constructor(@Inject(DB) private readonly db: Db) {}

  @ResolveField(() => Tenant, { nullable: true, description: 'Null for platform admins.' })
  async tenant(@Parent() user: User): Promise<TenantNode | null> {
    if (user.tenantId === null) return null;
    const tenant = await this.db.tenants.findById(user.tenantId);
    if (!tenant) throw new Error(`tenant ${user.tenantId} of user ${user.id} vanished`);
    return toTenantNode(tenant);
  }
}
