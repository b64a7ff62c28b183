import { z } from 'zod';
import { JobName } from './queues';
import { DetectedFaceV1 } from './worker-events';

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
  /**
   * Added later (optional, so older payloads stay valid). The storage folder this render's
   * media must go to (output, poster, previews, checkpoints): `renderMediaPrefix(...)`; the
   * gateway refuses an output key outside it.
   */
  mediaPrefix: z.string().min(1).optional(),
  /** The avatar's chosen face in its image's pixels (after EXIF orientation), when known. */
  face: DetectedFaceV1.pick({ box: true, keypoints: true }).nullable().optional(),
  /** When the gateway gives up on the render (it is then failed, and cancelled if running). */
  deadlineAt: z.string().datetime({ offset: true }).optional(),
  /**
   * The version of `modelPack` the render was validated against at creation (the render's
   * `modelPackVersion`). A worker running another version of the pack fails the job as
   * infrastructure trouble (retried while attempts remain: another worker may run that version);
   * absent (older payloads): any version.
   */
  modelPackVersion: z.string().min(1).optional(),
});

/** The one folder of a render's media in object storage (see RenderJobV1.mediaPrefix). */
export function renderMediaPrefix(tenantId: string, renderId: string): string {
  return `tenants/${tenantId}/renders/${renderId}/`;
}

/**
 * The BullMQ job id of a render's `attempt`-th admission (BullMQ ids may not contain `:`).
 * Re-adding the same attempt is a no-op; a re-admission after a lost worker is a new attempt.
 */
export function renderJobId(renderId: string, attempt: number): string {
  return `${renderId}_${attempt}`;
}

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
