import { z } from 'zod';

/**
 * What workers tell the gateway. Workers never write the database (DESIGN.md, request flow
 * step 5): they append these events to one Redis stream, `WORKER_EVENTS_STREAM`, and the
 * gateway consumes it with a consumer group, writes `RenderEvent` rows, usage and webhooks,
 * and acknowledges. Delivery is at least once, so every event carries what makes it unique:
 * the job (`renderId`/`avatarId`), the `run` (a fresh id each time a worker starts the job: a
 * stalled job re-run after a crash keeps BullMQ's attempt number, so the attempt alone is not
 * unique) and the worker's own `seq` within that run (0, 1, 2 … in emission order). Payloads are
 * versioned like job payloads.
 */
export const WORKER_EVENTS_STREAM = 'worker-events';
/** Key prefix of worker advertisements (one key per worker, expiring unless renewed). */
export const WORKER_HEARTBEAT_PREFIX = 'workers:';

const id = z.string().uuid();
const isoTime = z.string().datetime({ offset: true });

/** Pipeline phases, in the order a render goes through them. */
export const RenderPhase = {
  Preparing: 'preparing',
  EncodingAudio: 'encoding-audio',
  Denoising: 'denoising',
  Decoding: 'decoding',
  Encoding: 'encoding',
  Uploading: 'uploading',
} as const;
export type RenderPhase = (typeof RenderPhase)[keyof typeof RenderPhase];
export const renderPhases = Object.values(RenderPhase) as [RenderPhase, ...RenderPhase[]];

/**
 * Why a job failed, as workers report it. `ourFault` failures cost the partner nothing;
 * `retryable` ones are infrastructure trouble that BullMQ retries with backoff.
 */
export const WorkerFailureCode = {
  /** The input cannot work (bad media, unsupported control): not retried, billed nothing. */
  BadInput: 'BAD_INPUT',
  UnsupportedByModel: 'UNSUPPORTED_BY_MODEL',
  /** Storage, Redis or a crashed runtime: retried. */
  Infrastructure: 'INFRASTRUCTURE',
  /** A bug or an exhausted retry budget. */
  Internal: 'INTERNAL',
  DeadlineExceeded: 'DEADLINE_EXCEEDED',
} as const;
export type WorkerFailureCode = (typeof WorkerFailureCode)[keyof typeof WorkerFailureCode];

const failure = z.object({
  code: z.enum(Object.values(WorkerFailureCode) as [WorkerFailureCode, ...WorkerFailureCode[]]),
  message: z.string().min(1).max(2000),
  /** The request field at fault, for BAD_INPUT / UNSUPPORTED_BY_MODEL. */
  field: z.string().min(1).optional(),
  retryable: z.boolean(),
  ourFault: z.boolean(),
});

const renderBase = {
  v: z.literal(1),
  tenantId: id,
  renderId: id,
  attempt: z.number().int().min(1),
  run: z.string().min(8).max(64),
  seq: z.number().int().min(0),
  workerId: z.string().min(1),
  at: isoTime,
};

export const RenderStartedEventV1 = z.object({
  ...renderBase,
  type: z.literal('render.started'),
  /** Clips already done when a retried render resumes from its checkpoints. */
  resumedFromClip: z.number().int().min(0),
  clips: z.number().int().min(1),
  /** The version of the job's model pack this worker runs (added later, optional). */
  packVersion: z.string().min(1).optional(),
});

export const RenderProgressEventV1 = z.object({
  ...renderBase,
  type: z.literal('render.progress'),
  phase: z.enum(renderPhases),
  clip: z.number().int().min(0),
  clips: z.number().int().min(1),
  step: z.number().int().min(0),
  totalSteps: z.number().int().min(0),
  fraction: z.number().min(0).max(1),
  etaSeconds: z.number().min(0).nullable(),
  /** Storage key of a low-resolution preview frame, when the worker made one. */
  previewKey: z.string().min(1).optional(),
});

export const RenderClipFinishedEventV1 = z.object({
  ...renderBase,
  type: z.literal('render.clip-finished'),
  clip: z.number().int().min(0),
  clips: z.number().int().min(1),
  checkpointKey: z.string().min(1),
});

export const RenderSucceededEventV1 = z.object({
  ...renderBase,
  type: z.literal('render.succeeded'),
  output: z.object({
    storageKey: z.string().min(1),
    posterKey: z.string().min(1),
    mime: z.literal('video/mp4'),
    bytes: z.number().int().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    durationSeconds: z.number().positive(),
    width: z.number().int().min(1),
    height: z.number().int().min(1),
    fps: z.number().int().min(1),
    frames: z.number().int().min(1),
  }),
  seed: z.number().int().min(0),
  /** Cosine similarity of output frames' identity embeddings with the avatar's, 0..1. */
  identityScore: z.number().min(0).max(1).nullable(),
  /** Seconds the model ran (denoiser + VAE), for ETA estimates and billing audits. */
  modelSeconds: z.number().min(0),
  /** The version of the job's model pack that rendered the video (added later, optional). */
  packVersion: z.string().min(1).optional(),
});

export const RenderFailedEventV1 = z.object({
  ...renderBase,
  type: z.literal('render.failed'),
  error: failure,
  /** True when BullMQ will run the job again (the render is not finished). */
  willRetry: z.boolean(),
});

export const RenderCanceledEventV1 = z.object({
  ...renderBase,
  type: z.literal('render.canceled'),
});

/** Why a worker put a running render back in the waiting list without failing it. */
export const RenderRequeueReason = {
  /** The worker is shutting down (SIGTERM); the render resumes from its checkpoints. */
  WorkerShutdown: 'worker-shutdown',
} as const;
export type RenderRequeueReason = (typeof RenderRequeueReason)[keyof typeof RenderRequeueReason];

/**
 * The worker stopped the render (after a finished clip's checkpoint) and put its job back in the
 * waiting list, under the same attempt, for this or another worker to resume: the last event of
 * its run. No attempt is used up; the next run begins with `render.started`.
 */
export const RenderRequeuedEventV1 = z.object({
  ...renderBase,
  type: z.literal('render.requeued'),
  reason: z.enum(
    Object.values(RenderRequeueReason) as [RenderRequeueReason, ...RenderRequeueReason[]],
  ),
  /** Clips checkpointed so far (what the next run resumes from; it re-checks them). */
  resumableClips: z.number().int().min(0),
  clips: z.number().int().min(1),
});

const point = z.object({ x: z.number(), y: z.number() });
const faceBox = z.object({ x0: z.number(), y0: z.number(), x1: z.number(), y1: z.number() });

/** A detected face in image pixels (after EXIF orientation), as avatars store it. */
export const DetectedFaceV1 = z.object({
  box: faceBox,
  keypoints: z.array(point).length(6),
  score: z.number().min(0).max(1),
});
export type DetectedFaceV1 = z.infer<typeof DetectedFaceV1>;

const avatarBase = {
  v: z.literal(1),
  tenantId: id,
  avatarId: id,
  attempt: z.number().int().min(1),
  run: z.string().min(8).max(64),
  seq: z.number().int().min(0),
  workerId: z.string().min(1),
  at: isoTime,
};

/**
 * Where a worker stores an avatar's preview image: a fresh key per run (so a late, losing run
 * never overwrites the preview the gateway kept), inside the avatar's own folder, which is the
 * only place the gateway accepts a `previewKey` from and deletes media in.
 */
export function avatarMediaPrefix(tenantId: string, avatarId: string): string {
  return `tenants/${tenantId}/avatars/${avatarId}/`;
}
export function avatarPreviewKey(tenantId: string, avatarId: string, run: string): string {
  return `${avatarMediaPrefix(tenantId, avatarId)}preview-${run}.jpg`;
}

export const AvatarPreparedEventV1 = z.object({
  ...avatarBase,
  type: z.literal('avatar.prepared'),
  face: DetectedFaceV1,
  faceIndex: z.number().int().min(0),
  facesFound: z.number().int().min(1),
  imageWidth: z.number().int().min(1),
  imageHeight: z.number().int().min(1),
  previewKey: z.string().min(1),
  embedding: z.object({
    model: z.string().min(1),
    dim: z.number().int().min(1),
    values: z.array(z.number()).min(1),
  }),
});

/** Precise reasons an avatar cannot be used (issue: "FAILED with a precise reason"). */
export const AvatarFailureReason = {
  NoFace: 'NO_FACE',
  SeveralFaces: 'SEVERAL_FACES',
  FaceIndexOutOfRange: 'FACE_INDEX_OUT_OF_RANGE',
  FaceTooSmall: 'FACE_TOO_SMALL',
  ImageUnusable: 'IMAGE_UNUSABLE',
  Internal: 'INTERNAL',
} as const;
export type AvatarFailureReason = (typeof AvatarFailureReason)[keyof typeof AvatarFailureReason];

export const AvatarFailedEventV1 = z.object({
  ...avatarBase,
  type: z.literal('avatar.failed'),
  reason: z.enum(
    Object.values(AvatarFailureReason) as [AvatarFailureReason, ...AvatarFailureReason[]],
  ),
  message: z.string().min(1).max(2000),
  /** The faces found, so a caller can pick one with `faceIndex` (SEVERAL_FACES, FACE_INDEX_OUT_OF_RANGE). */
  faces: z.array(DetectedFaceV1).optional(),
  willRetry: z.boolean(),
});

export const WorkerEventV1 = z.discriminatedUnion('type', [
  RenderStartedEventV1,
  RenderProgressEventV1,
  RenderClipFinishedEventV1,
  RenderSucceededEventV1,
  RenderFailedEventV1,
  RenderCanceledEventV1,
  RenderRequeuedEventV1,
  AvatarPreparedEventV1,
  AvatarFailedEventV1,
]);
export type WorkerEvent = z.infer<typeof WorkerEventV1>;
export type WorkerEventType = WorkerEvent['type'];
export type WorkerEventOf<T extends WorkerEventType> = Extract<WorkerEvent, { type: T }>;

/** A worker event as emitted, before the stream gives it an id: workers fill these fields. */
export type WorkerEventInput = WorkerEvent extends infer E
  ? E extends WorkerEvent
    ? Omit<E, 'v' | 'run' | 'seq' | 'at' | 'workerId'>
    : never
  : never;

export class InvalidWorkerEventError extends Error {
  constructor(readonly issues: readonly { path: string; message: string }[]) {
    super(
      `invalid worker event: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
    );
    this.name = 'InvalidWorkerEventError';
  }
}

/** Parses one event where it is consumed; throws InvalidWorkerEventError naming each field. */
export function parseWorkerEvent(data: unknown): WorkerEvent {
  const result = WorkerEventV1.safeParse(data);
  if (!result.success) {
    throw new InvalidWorkerEventError(
      result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  return result.data;
}

/** The identity of an event for de-duplication: the same event delivered twice has the same key. */
export function workerEventKey(event: WorkerEvent): string {
  const subject = 'renderId' in event ? event.renderId : event.avatarId;
  return `${subject}:${event.run}:${event.seq}`;
}

/** What each worker advertises under `WORKER_HEARTBEAT_PREFIX + workerId`, renewed every few seconds. */
export const WorkerHeartbeatV1 = z.object({
  v: z.literal(1),
  workerId: z.string().min(1),
  provider: z.enum(['cpu', 'cuda']),
  /** Why the worker runs on a different provider than configured (e.g. CUDA absent), if it does. */
  providerNote: z.string().optional(),
  packs: z.array(
    z.object({
      name: z.string().min(1),
      version: z.string().min(1),
      capabilities: z.object({
        identity: z.boolean(),
        motion: z.boolean(),
        maxSide: z.number().int().min(16),
      }),
      fps: z.number().int().min(1),
      maxFramesPerClip: z.number().int().min(1),
    }),
  ),
  capacity: z.number().int().min(1),
  currentJobs: z.array(z.object({ queue: z.string(), jobId: z.string(), since: isoTime })),
  startedAt: isoTime,
  at: isoTime,
});
export type WorkerHeartbeat = z.infer<typeof WorkerHeartbeatV1>;
