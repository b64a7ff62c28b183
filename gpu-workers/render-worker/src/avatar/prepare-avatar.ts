import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import {
  AvatarFailureReason,
  JobName,
  avatarPreviewKey,
  type DetectedFaceV1,
  type JobPayload,
} from '@likeness/contracts';
import {
  FaceError,
  alignFace,
  chooseFace,
  detectFaces,
  embedFace,
  loadRgbImage,
  type DetectedFace,
} from '@likeness/pipeline';
import type { ObjectStorage } from '@likeness/storage';
import { UnrecoverableError } from 'bullmq';
import type { WorkerEventPublisher } from '../events';
import { defineHandler, type JobContext, type JobHandler } from '../handler-registry';
import type { FaceModels } from './face-models';
import { facePreview } from './preview';
import { MAX_INPUT_BYTES, readObjectBounded } from '../read-object';

type AvatarPrepareJob = JobPayload<typeof JobName.AvatarPrepare>;

export interface AvatarPrepareDeps {
  storage: ObjectStorage;
  events: WorkerEventPublisher;
  /** Face stages by model pack name (loaded and warmed at start). */
  faceModels: ReadonlyMap<string, FaceModels>;
  /** Where timings and retried failures are reported (pino's signature). */
  log?: (fields: Record<string, unknown>, message: string) => void;
}

export interface AvatarPrepared {
  avatarId: string;
  faceIndex: number;
  facesFound: number;
  previewKey: string;
  /** Milliseconds from reading the photo to the event appended. */
  ms: number;
}

/** A photo whose object is gone or unreadable in storage: our trouble, retried. */
class StorageTrouble extends Error {}

function faceV1(face: DetectedFace): DetectedFaceV1 {
  return {
    box: { x0: face.box.x0, y0: face.box.y0, x1: face.box.x1, y1: face.box.y1 },
    keypoints: face.keypoints.map((p) => ({ x: p.x, y: p.y })),
    score: Math.min(1, Math.max(0, face.score)),
  };
}

function readObject(storage: ObjectStorage, key: string): Promise<Buffer> {
  return readObjectBounded(
    storage,
    key,
    MAX_INPUT_BYTES,
    () => new FaceError('IMAGE_UNUSABLE', `the image is larger than ${MAX_INPUT_BYTES} bytes`),
  );
}

/**
 * `avatar.prepare`: reads the photo from storage, finds the faces (BlazeFace), takes the one
 * asked for (or the only usable one), aligns it, computes the identity embedding, stores a
 * 256 px preview under a per-run key and reports `avatar.prepared`. A photo that cannot make an
 * avatar is reported as `avatar.failed` with the precise reason (NO_FACE, SEVERAL_FACES with the
 * faces, FACE_INDEX_OUT_OF_RANGE, FACE_TOO_SMALL, IMAGE_UNUSABLE) and fails the job without
 * retries (UnrecoverableError); anything else (storage, Redis, the runtime) is reported as
 * INTERNAL with `willRetry` and rethrown, so BullMQ retries it with backoff.
 */
export function avatarPrepareHandler(
  deps: AvatarPrepareDeps,
): JobHandler<typeof JobName.AvatarPrepare> {
  return defineHandler({
    name: JobName.AvatarPrepare,
    handle: (payload, ctx) => prepareAvatar(deps, payload, ctx),
  });
}

export async function prepareAvatar(
  deps: AvatarPrepareDeps,
  payload: AvatarPrepareJob,
  ctx: Pick<JobContext, 'attempt' | 'maxAttempts'>,
): Promise<AvatarPrepared> {
  const started = performance.now();
  const run = deps.events.startRun();
  const subject = {
    tenantId: payload.tenantId,
    avatarId: payload.avatarId,
    attempt: ctx.attempt,
  };
  try {
    const models = deps.faceModels.get(payload.modelPack);
    if (!models) {
      // Another worker may have the pack: a retry can land there.
      throw new Error(`this worker has no model pack "${payload.modelPack}"`);
    }
    let bytes: Buffer;
    try {
      bytes = await readObject(deps.storage, payload.imageStorageKey);
    } catch (error) {
      if (error instanceof FaceError) throw error;
      throw new StorageTrouble(`cannot read the photo: ${(error as Error).message}`);
    }
    const image = await loadRgbImage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    const detection = await detectFaces(models.detector, image);
    const face = chooseFace(detection.faces, payload.faceIndex ?? undefined);
    const aligned = await alignFace(image, face);
    const embedding = await embedFace(models.encoder, aligned);
    const previewKey = avatarPreviewKey(payload.tenantId, payload.avatarId, run.run);
    await deps.storage.put(previewKey, Readable.from([await facePreview(image, face)]), {
      contentType: 'image/jpeg',
    });
    const faceIndex = detection.faces.indexOf(face);
    await run.emit({
      type: 'avatar.prepared',
      ...subject,
      face: faceV1(face),
      faceIndex,
      facesFound: detection.faces.length,
      imageWidth: detection.width,
      imageHeight: detection.height,
      previewKey,
      embedding: {
        model: models.embeddingModel,
        dim: embedding.length,
        values: Array.from(embedding),
      },
    });
    const ms = performance.now() - started;
    deps.log?.(
      { avatarId: payload.avatarId, faces: detection.faces.length, ms: Math.round(ms) },
      'avatar prepared',
    );
    return {
      avatarId: payload.avatarId,
      faceIndex,
      facesFound: detection.faces.length,
      previewKey,
      ms,
    };
  } catch (error) {
    if (error instanceof FaceError) {
      await run.emit({
        type: 'avatar.failed',
        ...subject,
        reason: error.code,
        message: error.message.slice(0, 2000),
        ...(error.faces.length > 0 ? { faces: error.faces.map(faceV1) } : {}),
        willRetry: false,
      });
      throw new UnrecoverableError(`${error.code}: ${error.message}`);
    }
    const willRetry = ctx.attempt < ctx.maxAttempts;
    const message = error instanceof Error ? error.message : String(error);
    deps.log?.(
      { avatarId: payload.avatarId, attempt: ctx.attempt, willRetry, err: message },
      'avatar preparation failed',
    );
    try {
      await run.emit({
        type: 'avatar.failed',
        ...subject,
        reason: AvatarFailureReason.Internal,
        message: `preparation failed: ${message}`.slice(0, 2000),
        willRetry,
      });
    } catch {
      // Redis is the likely trouble; the job's own failure is what matters now.
    }
    throw error;
  }
}
