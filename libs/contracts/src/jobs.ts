import { z } from 'zod';
import { JobName } from './queues';

const id = z.string().uuid();
const motion = z.object({
  expression: z.number().min(0).max(1),
  body: z.number().min(0).max(1),
});

/**
 * Versioned job payloads. Payloads outlive deploys, so each carries `v` and every one carries
 * `tenantId`; consumers parse with these schemas and reject what they do not understand.
 */
export const AvatarPrepareJobV1 = z.object({
  v: z.literal(1),
  tenantId: id,
  avatarId: id,
  imageStorageKey: z.string().min(1),
  faceIndex: z.number().int().min(0).nullable(),
  modelPack: z.string().min(1),
});

export const RenderJobV1 = z.object({
  v: z.literal(1),
  tenantId: id,
  renderId: id,
  attempt: z.number().int().min(1),
  imageStorageKey: z.string().min(1),
  audioStorageKey: z.string().min(1),
  identityEmbedding: z.array(z.number()).nullable(),
  prompt: z.string().max(2000),
  motion: motion.nullable(),
  guidance: z.object({ prompt: z.number().min(0).max(20), audio: z.number().min(0).max(20) }),
  maxSide: z.number().int().min(64).max(2048),
  fps: z.number().int().min(1).max(60),
  steps: z.number().int().min(1).max(100),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  modelPack: z.string().min(1),
});

export const WebhookDeliverJobV1 = z.object({
  v: z.literal(1),
  tenantId: id,
  deliveryId: id,
});

export const BillingMeterJobV1 = z.object({
  v: z.literal(1),
  tenantId: id,
  outboxId: id,
});

export const jobPayloadSchemas = {
  [JobName.AvatarPrepare]: AvatarPrepareJobV1,
  [JobName.Render]: RenderJobV1,
  [JobName.WebhookDeliver]: WebhookDeliverJobV1,
  [JobName.BillingMeter]: BillingMeterJobV1,
} as const satisfies Record<JobName, z.ZodType>;

export interface JobPayloads {
  [JobName.AvatarPrepare]: z.infer<typeof AvatarPrepareJobV1>;
  [JobName.Render]: z.infer<typeof RenderJobV1>;
  [JobName.WebhookDeliver]: z.infer<typeof WebhookDeliverJobV1>;
  [JobName.BillingMeter]: z.infer<typeof BillingMeterJobV1>;
}
export type JobPayload<N extends JobName> = JobPayloads[N];

export class InvalidJobPayloadError extends Error {
  constructor(
    readonly jobName: string,
    readonly issues: readonly { path: string; message: string }[],
  ) {
    super(
      `invalid payload for job ${jobName}: ` +
        issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; '),
    );
    this.name = 'InvalidJobPayloadError';
  }
}

/** Validates a payload where it is consumed; throws InvalidJobPayloadError naming each field. */
export function parseJobPayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  const schema: z.ZodType = jobPayloadSchemas[name];
  const result = schema.safeParse(data);
  if (!result.success) {
    throw new InvalidJobPayloadError(
      name,
      result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  return result.data as JobPayload<N>;
}
