import { Field, ID, ObjectType, registerEnumType } from '@nestjs/graphql';

export enum ViewerKind {
  API_KEY = 'API_KEY',
  USER = 'USER',
}
registerEnumType(ViewerKind, {
  name: 'ViewerKind',
  description: 'What authenticated the request.',
});

export enum TenantStatus {
  ACTIVE = 'ACTIVE',
  SUSPENDED = 'SUSPENDED',
}
registerEnumType(TenantStatus, { name: 'TenantStatus' });

@ObjectType({
  description: 'An organisation using Likeness; owns keys, media, avatars and renders.',
})
export class Tenant {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field({ description: 'Billing plan, one of free, starter, pro, enterprise.' }) plan!: string;
  @Field(() => TenantStatus) status!: TenantStatus;
}

@ObjectType({ description: 'The API key that authenticated the request (never its secret).' })
export class ViewerApiKey {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field({ description: 'Visible part of the key, e.g. lk_live_Ab12Cd34.' }) prefix!: string;
  @Field(() => [String]) scopes!: string[];
}

@ObjectType({ description: 'The signed-in user (session token from login).' })
export class ViewerUser {
  @Field(() => ID) id!: string;
  @Field() email!: string;
  @Field({ description: 'PLATFORM_ADMIN, TENANT_ADMIN or TENANT_VIEWER.' }) role!: string;
}

@ObjectType({ description: 'Who am I: the caller, its tenant and its plan.' })
export class Viewer {
  @Field(() => ViewerKind) kind!: ViewerKind;
  @Field(() => Tenant, { nullable: true, description: 'Null only for platform administrators.' })
  tenant!: Tenant | null;
  @Field(() => ViewerApiKey, { nullable: true }) apiKey!: ViewerApiKey | null;
  @Field(() => ViewerUser, { nullable: true }) user!: ViewerUser | null;
}
