import { Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
// One PageInfo type for every connection of the schema (GraphQL type names are global).
import { PageInfo } from '../identity/identity.model';

export enum WebhookDeliveryStatus {
  PENDING = 'PENDING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
}
registerEnumType(WebhookDeliveryStatus, {
  name: 'WebhookDeliveryStatus',
  description:
    'PENDING: not yet delivered, more attempts to come; SUCCEEDED: an attempt got a 2xx; FAILED: the retry window (24 h by default) passed, or the endpoint was disabled.',
});

export enum WebhookEndpointDisabledReason {
  USER = 'USER',
  FAILING = 'FAILING',
}
registerEnumType(WebhookEndpointDisabledReason, {
  name: 'WebhookEndpointDisabledReason',
  description:
    'USER: disabled with updateWebhookEndpoint; FAILING: disabled after failing for too long (see consecutiveFailures).',
});

@ObjectType({
  description:
    "A tenant's webhook endpoint. Its signing secret is shown only at creation and rotation.",
})
export class WebhookEndpoint {
  @Field(() => ID) id!: string;
  @Field() url!: string;
  @Field(() => String, { nullable: true }) description!: string | null;
  @Field(() => [String], { description: 'The event types delivered to it.' })
  eventTypes!: string[];
  @Field({ description: 'False once disabled (by a user, or after failing for too long).' })
  enabled!: boolean;
  @Field(() => Date, { nullable: true }) disabledAt!: Date | null;
  @Field(() => WebhookEndpointDisabledReason, { nullable: true })
  disabledReason!: WebhookEndpointDisabledReason | null;
  @Field(() => Int, {
    description: 'Failed attempts in a row across its deliveries; any 2xx resets it.',
  })
  consecutiveFailures!: number;
  @Field(() => Date, { nullable: true, description: 'When the current run of failures began.' })
  failingSince!: Date | null;
  @Field(() => Date, {
    nullable: true,
    description:
      'During a secret rotation: until when the previous secret still signs (a second v1= in Likeness-Signature).',
  })
  previousSecretExpiresAt!: Date | null;
  @Field() createdAt!: Date;
  @Field() updatedAt!: Date;
}

@ObjectType({ description: 'A webhook endpoint and its signing secret, which is not shown again.' })
export class CreatedWebhookEndpoint {
  @Field(() => WebhookEndpoint) endpoint!: WebhookEndpoint;
  @Field({
    description:
      'The signing secret (whsec_…): verify Likeness-Signature with it (HMAC-SHA256 of "<t>.<raw body>"). Store it now.',
  })
  secret!: string;
}

@InputType()
export class CreateWebhookEndpointInput {
  @Field({
    description:
      'Absolute https:// URL of a public host (http:// only for localhost where the operator allows it). Redirects are not followed.',
  })
  url!: string;
  @Field(() => [String], {
    description:
      'At least one of: render.succeeded, render.failed, render.canceled, render.updated, avatar.ready, avatar.failed, webhook.endpoint.disabled, test.ping.',
  })
  eventTypes!: string[];
  @Field(() => String, { nullable: true, description: 'Up to 500 characters.' })
  description?: string | null;
}

@InputType({ description: 'Absent fields stay as they are.' })
export class UpdateWebhookEndpointInput {
  @Field(() => String, { nullable: true }) url?: string | null;
  @Field(() => [String], { nullable: true }) eventTypes?: string[] | null;
  @Field(() => String, { nullable: true, description: 'Empty or null clears it.' })
  description?: string | null;
  @Field(() => Boolean, {
    nullable: true,
    description:
      'false disables the endpoint (its pending deliveries fail); true enables it again and clears its failure count.',
  })
  enabled?: boolean | null;
}

@ObjectType({ description: 'One HTTP attempt of a delivery.' })
export class WebhookDeliveryAttempt {
  @Field(() => Int, { description: '1 for the first attempt.' }) attempt!: number;
  @Field() startedAt!: Date;
  @Field(() => Int) durationMs!: number;
  @Field(() => Int, { nullable: true, description: 'Null when no response arrived.' })
  responseStatus!: number | null;
  @Field(() => String, {
    nullable: true,
    description: 'Why it failed (HTTP status, timeout, connection error); null for a 2xx.',
  })
  error!: string | null;
  @Field(() => Date, { nullable: true, description: 'When the next attempt was scheduled.' })
  nextAttemptAt!: Date | null;
}

@ObjectType({ description: 'One event sent (or to be sent) to one endpoint, with its attempts.' })
export class WebhookDelivery {
  @Field(() => ID, { description: 'Sent as the Likeness-Delivery header.' }) id!: string;
  @Field(() => ID) endpointId!: string;
  @Field(() => ID, {
    description: 'The `id` of the body: the same for every endpoint and every redelivery.',
  })
  eventId!: string;
  @Field() eventType!: string;
  @Field(() => WebhookDeliveryStatus) status!: WebhookDeliveryStatus;
  @Field(() => Int, { description: 'Attempts so far.' }) attempts!: number;
  @Field(() => Date, { nullable: true, description: 'PENDING: when the next attempt is due.' })
  nextAttemptAt!: Date | null;
  @Field(() => Int, { nullable: true, description: 'Of the last attempt.' })
  responseStatus!: number | null;
  @Field(() => String, { nullable: true, description: 'Of the last attempt.' })
  lastError!: string | null;
  @Field(() => Date, { nullable: true }) deliveredAt!: Date | null;
  @Field() createdAt!: Date;
  @Field({ description: 'The JSON body: {"id","type","createdAt","data"}.' }) payload!: string;
  @Field(() => [WebhookDeliveryAttempt], { description: 'Every attempt, oldest first.' })
  attemptLog!: WebhookDeliveryAttempt[];
}

@ObjectType()
export class WebhookDeliveryEdge {
  @Field() cursor!: string;
  @Field(() => WebhookDelivery) node!: WebhookDelivery;
}

@ObjectType({ description: 'Webhook deliveries, newest first.' })
export class WebhookDeliveryConnection {
  @Field(() => [WebhookDeliveryEdge]) edges!: WebhookDeliveryEdge[];
  @Field(() => [WebhookDelivery]) nodes!: WebhookDelivery[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}
