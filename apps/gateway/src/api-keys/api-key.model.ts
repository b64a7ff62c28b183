import { Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
// One PageInfo type for every connection of the schema (GraphQL type names are global).
import { PageInfo } from '../identity/identity.model';

export enum ApiKeyEnvironment {
  LIVE = 'LIVE',
  TEST = 'TEST',
}
registerEnumType(ApiKeyEnvironment, {
  name: 'ApiKeyEnvironment',
  description: 'Which kind of secret a key has: lk_live_… or lk_test_….',
});

export enum ApiKeyStatus {
  ACTIVE = 'ACTIVE',
  EXPIRED = 'EXPIRED',
  REVOKED = 'REVOKED',
}
registerEnumType(ApiKeyStatus, {
  name: 'ApiKeyStatus',
  description:
    'ACTIVE keys authenticate (including rotated ones whose revokedAt is still ahead); EXPIRED and REVOKED keys do not.',
});

@ObjectType({ description: "A tenant's API key. The secret is shown only once, at creation." })
export class ApiKey {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field({ description: 'Visible part of the secret, e.g. lk_live_Ab12Cd34.' }) prefix!: string;
  @Field(() => ApiKeyEnvironment) environment!: ApiKeyEnvironment;
  @Field(() => [String], { description: 'Granted scopes, or ["*"] for every scope.' })
  scopes!: string[];
  @Field(() => ApiKeyStatus) status!: ApiKeyStatus;
  @Field() createdAt!: Date;
  @Field(() => Date, { nullable: true }) expiresAt!: Date | null;
  @Field(() => Date, {
    nullable: true,
    description: 'When the key stops (or stopped) working; in the future during a rotation grace.',
  })
  revokedAt!: Date | null;
  @Field(() => Date, {
    nullable: true,
    description: 'Last authenticated use, recorded at most about once a minute.',
  })
  lastUsedAt!: Date | null;
  @Field(() => Int, { nullable: true, description: 'Spending limit of this key, in cents.' })
  spendCapCents!: number | null;
}

@ObjectType({ description: 'A new API key and its secret, which is never shown again.' })
export class CreatedApiKey {
  @Field(() => ApiKey) apiKey!: ApiKey;
  @Field({ description: 'The full secret (lk_live_… / lk_test_…). Store it now.' })
  secret!: string;
}

@InputType()
export class CreateApiKeyInput {
  @Field({ description: '1–100 characters, to recognise the key in listings.' }) name!: string;
  @Field(() => [String], {
    description:
      'Scopes such as avatars:read, renders:write, keys:read, or "*" for all. An API key can only grant scopes it holds.',
  })
  scopes!: string[];
  @Field(() => Date, { nullable: true, description: 'Must be in the future. Never, if absent.' })
  expiresAt?: Date | null;
  @Field(() => ApiKeyEnvironment, { nullable: true, description: 'Default LIVE.' })
  environment?: ApiKeyEnvironment | null;
  @Field(() => Int, { nullable: true, description: 'Spending limit in cents, ≥ 0.' })
  spendCapCents?: number | null;
}

@ObjectType()
export class ApiKeyEdge {
  @Field() cursor!: string;
  @Field(() => ApiKey) node!: ApiKey;
}

@ObjectType({ description: 'API keys, newest first.' })
export class ApiKeyConnection {
  @Field(() => [ApiKeyEdge]) edges!: ApiKeyEdge[];
  @Field(() => [ApiKey]) nodes!: ApiKey[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}
