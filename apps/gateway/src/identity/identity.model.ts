import { Field, ID, InputType, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Tenant, TenantStatus } from '../viewer/viewer.model';

export enum UserRole {
  PLATFORM_ADMIN = 'PLATFORM_ADMIN',
  TENANT_ADMIN = 'TENANT_ADMIN',
  TENANT_VIEWER = 'TENANT_VIEWER',
}
registerEnumType(UserRole, {
  name: 'UserRole',
  description:
    'PLATFORM_ADMIN runs the platform (no tenant); TENANT_ADMIN manages a tenant; TENANT_VIEWER reads it.',
});

@ObjectType({ description: 'A person who signs in (dashboard, CLI). Never carries the password.' })
export class User {
  @Field(() => ID) id!: string;
  @Field({ description: 'Stored lower-case.' }) email!: string;
  @Field(() => UserRole) role!: UserRole;
  /** Resolved by UserFieldsResolver (`tenant`); null for platform admins. */
  tenantId!: string | null;
}

@ObjectType({ description: 'A signed-in session, the answer to login.' })
export class Session {
  @Field({
    description:
      'Bearer token (lks_…) for `Authorization: Bearer`. Shown once; only its hash is stored.',
  })
  token!: string;
  @Field(() => User) user!: User;
  @Field({ description: 'When the token stops working; logout ends it earlier.' })
  expiresAt!: Date;
}

@InputType()
export class CreateTenantInput {
  @Field({ description: '1 to 100 characters.' }) name!: string;
  @Field({
    description:
      'Unique handle: 3 to 40 lower-case letters, digits and inner hyphens, e.g. acme-studio.',
  })
  slug!: string;
  @Field({ nullable: true, description: 'Plan id: free (default), starter, pro or enterprise.' })
  plan?: string;
}

@InputType({ description: 'Fields to change; absent fields stay as they are.' })
export class UpdateTenantInput {
  @Field({ nullable: true }) name?: string;
  @Field({ nullable: true, description: 'free, starter, pro or enterprise.' }) plan?: string;
  @Field(() => TenantStatus, {
    nullable: true,
    description: "SUSPENDED stops the tenant's API keys and users at once (FORBIDDEN).",
  })
  status?: TenantStatus;
}

@InputType()
export class CreateUserInput {
  @Field() email!: string;
  @Field({ description: 'At least 12 characters.' }) password!: string;
  @Field(() => UserRole, { description: 'TENANT_ADMIN or TENANT_VIEWER.' }) role!: UserRole;
  @Field(() => ID, {
    nullable: true,
    description: "The user's tenant. Required for platform admins; tenant admins may omit it.",
  })
  tenantId?: string;
}

@ObjectType({ description: 'Relay-style pagination state of a connection.' })
export class PageInfo {
  @Field() hasNextPage!: boolean;
  @Field() hasPreviousPage!: boolean;
  @Field(() => String, { nullable: true }) startCursor!: string | null;
  @Field(() => String, { nullable: true }) endCursor!: string | null;
}

@ObjectType()
export class TenantEdge {
  @Field() cursor!: string;
  @Field(() => Tenant) node!: Tenant;
}

@ObjectType({ description: 'Tenants, oldest first.' })
export class TenantConnection {
  @Field(() => [TenantEdge]) edges!: TenantEdge[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}

/** Default and largest page of `tenants`. */
export const TENANTS_PAGE = { default: 20, max: 100 } as const;
