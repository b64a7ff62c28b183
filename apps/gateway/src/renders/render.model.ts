import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { SignedUrl } from '../assets/asset.model';
import { PageInfo } from '../identity/identity.model';

export enum RenderStatus {
  QUEUED = 'QUEUED',
  RUNNING = 'RUNNING',
  ENCODING = 'ENCODING',
  SUCCEEDED = 'SUCCEEDED',
  FAILED = 'FAILED',
  CANCELED = 'CANCELED',
}
registerEnumType(RenderStatus, {
  name: 'RenderStatus',
  description: 'QUEUED → RUNNING → ENCODING → SUCCEEDED, or FAILED / CANCELED (final).',
  valuesMap: {
    QUEUED: { description: 'Waiting for its turn (fair across tenants) or for a worker.' },
    RUNNING: { description: 'A worker renders it (see progress).' },
    ENCODING: { description: 'The frames are done; the video is being encoded and stored.' },
    SUCCEEDED: { description: 'The video is ready (output).' },
    FAILED: { description: 'See error; failures that are ours cost nothing.' },
    CANCELED: { description: 'Cancelled (cancelRender) before it finished; costs nothing.' },
  },
});

export enum RenderPhase {
  PREPARING = 'PREPARING',
  ENCODING_AUDIO = 'ENCODING_AUDIO',
  DENOISING = 'DENOISING',
  DECODING = 'DECODING',
  ENCODING = 'ENCODING',
  UPLOADING = 'UPLOADING',
}
registerEnumType(RenderPhase, {
  name: 'RenderPhase',
  description: 'What the worker is doing, in this order.',
});

@InputType({ description: 'How strongly the face and the body move, each 0..1.' })
export class MotionInput {
  @Field(() => Float, { nullable: true, description: 'Facial motion, 0..1 (default 1).' })
  expression?: number | null;
  @Field(() => Float, { nullable: true, description: 'Head and body motion, 0..1 (default 1).' })
  body?: number | null;
}

@InputType({ description: 'Classifier-free guidance scales (recommended 3–7).' })
export class GuidanceInput {
  @Field(() => Float, { nullable: true, description: 'Prompt guidance, 0..20 (default 5).' })
  prompt?: number | null;
  @Field(() => Float, { nullable: true, description: 'Audio guidance, 0..20 (default 5).' })
  audio?: number | null;
}

@InputType({ description: 'What to render. Unsupported controls are errors, never ignored.' })
export class RenderInput {
  @Field(() => ID, { description: 'A READY avatar of yours.' }) avatarId!: string;
  @Field(() => ID, { description: 'An AUDIO asset of yours (POST /v1/assets).' })
  audioAssetId!: string;
  @Field(() => String, {
    nullable: true,
    description: 'At most 2000 characters; default "A person is talking.".',
  })
  prompt?: string | null;
  @Field(() => MotionInput, {
    nullable: true,
    description: 'Only for model packs with the motion capability (UNSUPPORTED_BY_MODEL else).',
  })
  motion?: MotionInput | null;
  @Field(() => GuidanceInput, { nullable: true }) guidance?: GuidanceInput | null;
  @Field(() => Int, {
    nullable: true,
    description:
      'Long side of the output in pixels: a multiple of 16, 64 … the pack’s maxSide (default 512, or the pack’s maxSide if smaller).',
  })
  maxSide?: number | null;
  @Field(() => Int, {
    nullable: true,
    description: 'Frames per second; only the model pack’s own fps is supported (the default).',
  })
  fps?: number | null;
  @Field(() => Int, { nullable: true, description: 'Denoising steps, 1–100 (default 30).' })
  steps?: number | null;
  @Field(() => Int, {
    nullable: true,
    description: '0 … 2147483647; random if absent. Always recorded on the Render.',
  })
  seed?: number | null;
  @Field(() => String, {
    nullable: true,
    description: 'A model pack name (modelPacks); default pack if absent.',
  })
  modelPack?: string | null;
  @Field(() => Int, {
    nullable: true,
    description:
      'Order among your own waiting renders, −10 … 10 (default 0, higher first). Other tenants are unaffected.',
  })
  priority?: number | null;
}

@ObjectType()
export class Motion {
  @Field(() => Float) expression!: number;
  @Field(() => Float) body!: number;
}

@ObjectType()
export class Guidance {
  @Field(() => Float) prompt!: number;
  @Field(() => Float) audio!: number;
}

@ObjectType({ description: 'The input as the render runs it, every default filled in.' })
export class RenderInputEcho {
  @Field(() => ID) avatarId!: string;
  @Field(() => ID) audioAssetId!: string;
  @Field() prompt!: string;
  @Field(() => Motion, { nullable: true, description: 'Null for packs without motion.' })
  motion!: Motion | null;
  @Field(() => Guidance) guidance!: Guidance;
  @Field(() => Int) maxSide!: number;
  @Field(() => Int) fps!: number;
  @Field(() => Int) steps!: number;
  @Field(() => Int) seed!: number;
  @Field() modelPack!: string;
  @Field(() => Int) priority!: number;
}

@ObjectType({ description: 'Where a running render is.' })
export class RenderProgress {
  @Field(() => RenderPhase) phase!: RenderPhase;
  @Field(() => Int, { description: 'Clip being rendered (0-based); long audio is several clips.' })
  clip!: number;
  @Field(() => Int) clips!: number;
  @Field(() => Int, { description: 'Denoising step within the clip.' }) step!: number;
  @Field(() => Int) totalSteps!: number;
  @Field(() => Float, { description: 'Of the whole render, 0..1.' }) fraction!: number;
  @Field(() => Float, { nullable: true, description: 'Seconds until done, as the worker sees it.' })
  etaSeconds!: number | null;
  /** The storage key of the latest preview frame and the render: `preview` is resolved from them. */
  previewKey!: string | null;
  renderId!: string;
}

@ObjectType({ description: 'The finished video.' })
export class RenderOutput {
  @Field(() => ID, { description: 'The VIDEO asset holding it.' }) assetId!: string;
  @Field({ description: 'A signed download link (MP4).' }) url!: string;
  @Field({ description: 'The link answers 410 after this; read the render again for a new one.' })
  expiresAt!: Date;
  @Field(() => Float) durationSeconds!: number;
  @Field(() => Int) width!: number;
  @Field(() => Int) height!: number;
  @Field(() => Int) fps!: number;
  @Field(() => Int) frames!: number;
  @Field(() => Float) bytes!: number;
}

@ObjectType({ description: 'Why a render failed.' })
export class RenderError {
  @Field({
    description:
      'BAD_INPUT, UNSUPPORTED_BY_MODEL, INFRASTRUCTURE, INTERNAL, DEADLINE_EXCEEDED, WORKER_LOST.',
  })
  code!: string;
  @Field() message!: string;
  @Field(() => String, { nullable: true, description: 'The RenderInput field at fault.' })
  field!: string | null;
  @Field({ description: 'True when the failure is ours (never charged).' }) ourFault!: boolean;
}

@ObjectType({ description: 'An amount of money.' })
export class Money {
  @Field(() => Int, { description: 'In the smallest unit of the currency (cents).' })
  amountCents!: number;
  @Field({ description: 'ISO 4217, e.g. USD.' }) currency!: string;
}

/**
 * A render as the API shows it. Built from a render row or from the snapshot of a RenderEvent;
 * `avatar`, `output`, `progress.preview`, `queuePosition` are resolved by RenderFieldsResolver.
 */
@ObjectType({ description: 'One video being made from an avatar and an audio track.' })
export class Render {
  @Field(() => ID) id!: string;
  @Field(() => RenderStatus) status!: RenderStatus;
  @Field() createdAt!: Date;
  @Field(() => Date, { nullable: true }) startedAt!: Date | null;
  @Field(() => Date, { nullable: true }) finishedAt!: Date | null;
  @Field(() => Int) seed!: number;
  @Field() modelPack!: string;
  @Field({ description: 'The pack version recorded at creation.' }) modelPackVersion!: string;
  @Field(() => RenderInputEcho) input!: RenderInputEcho;
  @Field(() => RenderProgress, { nullable: true, description: 'While RUNNING or ENCODING.' })
  progress!: RenderProgress | null;
  @Field(() => Int, { description: 'Frames the audio makes at the pack’s fps.' }) frames!: number;
  @Field(() => Float, { description: 'Length of the audio track.' }) audioSeconds!: number;
  @Field(() => Float, {
    nullable: true,
    description: 'Identity of the output vs the avatar, 0..1.',
  })
  identityScore!: number | null;
  @Field(() => Money, { description: 'The price quoted at creation (the most it costs).' })
  quote!: Money;
  @Field(() => Money, {
    nullable: true,
    description: 'Charged, once finished: failures and cancellations cost nothing.',
  })
  cost!: Money | null;
  @Field(() => RenderError, { nullable: true }) error!: RenderError | null;
  @Field(() => Int, { description: 'Times a worker started it (retries after failures count).' })
  attempts!: number;
  @Field(() => Date, {
    nullable: true,
    description: 'When cancelRender was asked while it ran (the worker stops between steps).',
  })
  cancelRequestedAt!: Date | null;
  @Field(() => Date, { nullable: true, description: 'It fails if not finished by then.' })
  deadlineAt!: Date | null;
  @Field(() => String, { nullable: true }) idempotencyKey!: string | null;

  /** For the field resolvers. */
  tenantId!: string;
  avatarId!: string;
  outputAssetId!: string | null;
  admittedAt!: Date | null;
}

@ObjectType({ description: 'One change of a render, in order (sequence 1, 2, 3 … per render).' })
export class RenderEvent {
  @Field(() => Int) sequence!: number;
  @Field({
    description:
      'render.queued, render.started, render.progress, render.clip-finished, render.encoding, render.retrying, render.requeued, render.cancel-requested, render.succeeded, render.failed, render.canceled.',
  })
  type!: string;
  @Field() at!: Date;
  @Field(() => Render, { description: 'The render as it was right after this event.' })
  render!: Render;
}

@ObjectType()
export class RenderEdge {
  @Field() cursor!: string;
  @Field(() => Render) node!: Render;
}

@ObjectType({ description: 'Renders, newest first.' })
export class RenderConnection {
  @Field(() => [RenderEdge]) edges!: RenderEdge[];
  @Field(() => [Render], { description: 'The nodes of `edges`, for callers without cursors.' })
  nodes!: Render[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}

@ObjectType({ description: 'Why createRender would be refused now.' })
export class RenderRefusal {
  @Field({ description: 'QUOTA_EXCEEDED or SPEND_CAP_EXCEEDED.' }) code!: string;
  @Field({ description: 'maxAudioSeconds, monthlyVideoSeconds, spendCap, maxUnfinishedRenders.' })
  limit!: string;
  @Field() message!: string;
  @Field(() => String, { nullable: true }) field!: string | null;
}

@ObjectType({ description: 'What a render would be and cost, without creating it.' })
export class RenderEstimate {
  @Field() modelPack!: string;
  @Field() modelPackVersion!: string;
  @Field(() => Int) fps!: number;
  @Field(() => Int, { description: 'Frames the audio makes at the pack’s fps.' }) frames!: number;
  @Field(() => Float, { description: 'frames / fps.' }) videoSeconds!: number;
  @Field(() => Int, { description: 'Every started second is billed.' }) billedSeconds!: number;
  @Field(() => Money) price!: Money;
  @Field(() => Int, {
    description: 'Renders expected to start before it (all tenants, round-robin), plus one.',
  })
  queuePosition!: number;
  @Field(() => Float, {
    nullable: true,
    description: 'Seconds until done, from recent throughput; null when there is none to go by.',
  })
  etaSeconds!: number | null;
  @Field({ description: 'Whether createRender would accept it now (quotas, spend cap).' })
  allowed!: boolean;
  @Field(() => RenderRefusal, { nullable: true }) refusal!: RenderRefusal | null;
  @Field({ description: 'Whether a live worker has the pack now (else it waits for one).' })
  workersAvailable!: boolean;
}

/** Default and largest page of `renders`. */
export const RENDERS_PAGE = { default: 20, max: 100 } as const;
/** The currency of every price (plans are priced in US cents). */
export const CURRENCY = 'USD';
export { SignedUrl };
