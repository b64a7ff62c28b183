import { UnknownPlanError } from './errors';

export const planIds = ['free', 'starter', 'pro', 'enterprise'] as const;
export type PlanId = (typeof planIds)[number];

/**
 * What a plan allows and costs. Every number is an integer; money is in US cents (the unit of
 * `Render.costCents`, `ApiKey.spendCapCents` and Stripe), never a float.
 */
export interface Plan {
  readonly id: PlanId;
  readonly name: string;
  /** Renders of one tenant running at the same time; the fair scheduler admits up to this. */
  readonly maxConcurrentRenders: number;
  /** Longest audio track (hence video) one render may use, in seconds. */
  readonly maxAudioSeconds: number;
  /** Billed video seconds included per calendar month; the monthly quota. */
  readonly monthlyVideoSeconds: number;
  /** Largest upload accepted by `POST /v1/assets`. */
  readonly maxUploadBytes: number;
  /** Largest portrait accepted, width × height / 1,000,000. */
  readonly maxImageMegapixels: number;
  /** Longest audio asset accepted at upload, in seconds. */
  readonly maxAudioUploadSeconds: number;
  /** Price of one billed video second (see `priceRender` for the rounding). */
  readonly pricePerVideoSecondCents: number;
  /** API requests per minute per tenant. */
  readonly requestsPerMinute: number;
}

const MB = 1024 * 1024;

/** The catalogue. The demo tenant (and every new tenant, by the schema default) is on `free`. */
export const plans: Readonly<Record<PlanId, Plan>> = Object.freeze({
  free: Object.freeze({
    id: 'free',
    name: 'Free',
    maxConcurrentRenders: 1,
    maxAudioSeconds: 15,
    monthlyVideoSeconds: 60,
    maxUploadBytes: 20 * MB,
    maxImageMegapixels: 12,
    maxAudioUploadSeconds: 60,
    pricePerVideoSecondCents: 0,
    requestsPerMinute: 60,
  }),
  starter: Object.freeze({
    id: 'starter',
    name: 'Starter',
    maxConcurrentRenders: 2,
    maxAudioSeconds: 60,
    monthlyVideoSeconds: 600,
    maxUploadBytes: 100 * MB,
    maxImageMegapixels: 24,
    maxAudioUploadSeconds: 300,
    pricePerVideoSecondCents: 10,
    requestsPerMinute: 300,
  }),
  pro: Object.freeze({
    id: 'pro',
    name: 'Pro',
    maxConcurrentRenders: 5,
    maxAudioSeconds: 300,
    monthlyVideoSeconds: 6_000,
    maxUploadBytes: 500 * MB,
    maxImageMegapixels: 50,
    maxAudioUploadSeconds: 900,
    pricePerVideoSecondCents: 8,
    requestsPerMinute: 1_200,
  }),
  enterprise: Object.freeze({
    id: 'enterprise',
    name: 'Enterprise',
    maxConcurrentRenders: 20,
    maxAudioSeconds: 600,
    monthlyVideoSeconds: 60_000,
    maxUploadBytes: 2_048 * MB,
    maxImageMegapixels: 100,
    maxAudioUploadSeconds: 3_600,
    pricePerVideoSecondCents: 6,
    requestsPerMinute: 6_000,
  }),
});

export function isPlanId(value: unknown): value is PlanId {
  // Own keys only: "toString" or "__proto__" are not plans.
  return typeof value === 'string' && Object.hasOwn(plans, value);
}

/** The plan of a tenant (`Tenant.plan`); throws `UnknownPlanError` for anything else. */
export function getPlan(id: string): Plan {
  if (!isPlanId(id)) throw new UnknownPlanError(id);
  return plans[id];
}
