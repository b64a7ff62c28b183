import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline as pipe } from 'node:stream/promises';
import {
  JobName,
  RENDER_CANCEL_REASON,
  RenderRequeueReason,
  WorkerFailureCode,
  renderMediaPrefix,
  type JobPayload,
  type RenderCancelSignal,
  type RenderPhase,
  type WorkerEventInput,
} from '@likeness/contracts';
import {
  FaceError,
  Mp4Encoder,
  RenderCanceled,
  alignFace,
  chooseFace,
  cosineSimilarity,
  decodeAudio,
  detectFaces,
  embedFace,
  framesForDuration,
  loadRgbImage,
  normalizeRenderRequest,
  planRender,
  prepareImage,
  previewJpeg,
  render,
  renderRequestHash,
  sourceToPrepared,
  writePoster,
  type CheckpointStore,
  clipName,
  type FrameSink,
  type ModelPack,
  type PreparedImage,
  type RenderProgress,
  type RenderRequest,
  type RgbFrame,
  type X264Preset,
} from '@likeness/pipeline';
import { ObjectNotFoundError, type ObjectStorage } from '@likeness/storage';
import { UnrecoverableError } from 'bullmq';
import type { FaceModels } from '../avatar/face-models';
import type { RunEvents, WorkerEventPublisher } from '../events';
import { defineHandler, type JobContext, type JobHandler } from '../handler-registry';
import type { RenderCancelWatcher } from './cancel-watcher';
import {
  RenderDeadlineError,
  RenderInputError,
  classifyRenderError,
  type RenderFailure,
} from './render-failure';
import { MAX_INPUT_BYTES, readObjectBounded } from '../read-object';
import { StorageCheckpointStore } from './storage-checkpoints';

type RenderJob = JobPayload<typeof JobName.Render>;

/** Output frames whose faces are compared with the avatar for the identity score. */
const IDENTITY_SAMPLES = 3;

/**
 * Set when the worker is shutting down (SIGTERM): running renders stop after the clip they are
 * on has been checkpointed and go back to the waiting list, for this or another worker to resume.
 */
export class Drain {
  private listeners = new Set<() => void>();
  requested = false;

  request(): void {
    if (this.requested) return;
    this.requested = true;
    for (const listener of this.listeners) listener();
  }

  onRequest(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface RenderDeps {
  storage: ObjectStorage;
  events: WorkerEventPublisher;
  /** Loaded, warmed model packs by name. */
  packs: ReadonlyMap<string, ModelPack>;
  /** The face stages (avatar.prepare's) by pack name: face detection and the identity score. */
  faceModels: ReadonlyMap<string, FaceModels>;
  cancels: RenderCancelWatcher;
  drain: Drain;
  /** Where the audio, the MP4 and the poster are written while a render runs. */
  workDir: string;
  /** Least time between two `render.progress` events of a render (default 1000 ms). */
  progressIntervalMs?: number;
  /** Least time between two preview frames (default 10 s; one per finished clip at most). */
  previewIntervalMs?: number;
  /** x264 settings of the output (default medium / 18). */
  encoder?: { preset?: X264Preset; crf?: number };
  /**
   * The render's checkpoints (default: in object storage, in the render's media folder). Keyed
   * by render, so any run of any attempt resumes from them.
   */
  checkpointsFor?: (
    job: RenderJob,
  ) => CheckpointStore & { keyOf(name: string): string; clear(): Promise<void> };
  log?: (fields: Record<string, unknown>, message: string) => void;
  /** Sees every pipeline progress report (tests, benchmarks). */
  onPipelineProgress?: (renderId: string, progress: RenderProgress) => void;
}

export type RenderOutcome =
  | {
      status: 'succeeded';
      renderId: string;
      storageKey: string;
      posterKey: string;
      frames: number;
      resumedClips: number;
      identityScore: number | null;
      ms: number;
    }
  | { status: 'canceled'; renderId: string; reason: RenderCancelSignal['reason'] };

export function renderHandler(deps: RenderDeps): JobHandler<typeof JobName.Render> {
  return defineHandler({
    name: JobName.Render,
    handle: (payload, ctx) => runRender(deps, payload, ctx),
  });
}

/** Why this run's pipeline was told to stop. */
type StopReason = { kind: 'cancel'; reason: RenderCancelSignal['reason'] } | { kind: 'drain' };

/**
 * `render`: reads the avatar photo and the audio from storage, renders with the pipeline into an
 * MP4 (clip by clip, each finished clip checkpointed in the render's media folder so a re-run
 * resumes after it), stores the video and a poster there and reports `render.succeeded`; reports
 * `render.started`, throttled `render.progress` (with a preview frame now and then) and
 * `render.clip-finished` on the way. A cancel signal (key at start, pub/sub while running, key
 * again between clips) stops it between steps → `render.canceled`, job completed. Bad input →
 * `render.failed` (willRetry false) and an UnrecoverableError; other trouble → `render.failed`
 * with willRetry while BullMQ has attempts left, rethrown (also when this worker runs another
 * version of the pack than `modelPackVersion`, the one the gateway validated against). On
 * shutdown (`Drain`) the render stops after its current clip's checkpoint, reports
 * `render.requeued` (reason `worker-shutdown`, the clips it resumes from) and is put back in the
 * waiting list; a job that had not started yet goes back silently (its run reported nothing).
 */
export async function runRender(
  deps: RenderDeps,
  payload: RenderJob,
  ctx: Pick<JobContext, 'attempt' | 'maxAttempts' | 'signal' | 'requeue'>,
): Promise<RenderOutcome> {
  const started = performance.now();
  const run = deps.events.startRun();
  const emitter = new SerialEmitter(run);
  const subject = {
    tenantId: payload.tenantId,
    renderId: payload.renderId,
    attempt: payload.attempt,
  };
  const log = deps.log ?? (() => undefined);
  const mediaPrefix = payload.mediaPrefix ?? renderMediaPrefix(payload.tenantId, payload.renderId);
  const stop = new AbortController();
  let stopReason: StopReason | undefined;
  const stopWith = (reason: StopReason): void => {
    if (stopReason) return;
    stopReason = reason;
    stop.abort(reason);
  };
  let drainAtClipEnd = false;
  /** Clips of the plan, and clips checkpointed (this run's or resumed), once known. */
  let plannedClips = 0;
  let checkpointedClips = 0;
  const cleanups: (() => unknown)[] = [];
  let encoder: Mp4Encoder | undefined;
  let workDir: string | undefined;
  /** Set once the render has a checkpoint store; cleared when the render can never resume. */
  let store: ReturnType<NonNullable<RenderDeps['checkpointsFor']>> | undefined;
  const dropCheckpoints = async (): Promise<void> => {
    await store
      ?.clear()
      .catch((error: unknown) =>
        log({ renderId: payload.renderId, err: String(error) }, 'could not delete checkpoints'),
      );
  };

  try {
    // Cancelled while it waited: nothing to do but confirm.
    const early = await deps.cancels.stored(payload.renderId);
    if (early) {
      await emitter.emit({ type: 'render.canceled', ...subject });
      await emitter.flush();
      log({ renderId: payload.renderId, reason: early.reason }, 'render canceled before start');
      return { status: 'canceled', renderId: payload.renderId, reason: early.reason };
    }
    if (payload.deadlineAt !== undefined && Date.parse(payload.deadlineAt) <= Date.now()) {
      throw new RenderDeadlineError(payload.deadlineAt);
    }
    if (deps.drain.requested && ctx.requeue) return await ctx.requeue();

    cleanups.push(
      deps.cancels.watch(payload.renderId, (signal) =>
        stopWith({ kind: 'cancel', reason: signal.reason }),
      ),
    );
    const onWorkerAbort = (): void => {
      // BullMQ's Worker.cancelJob(id, RENDER_CANCEL_REASON) is a cancel; any other abort of the
      // job's signal (the worker going away) must not be reported as one.
      if (ctx.signal.reason === RENDER_CANCEL_REASON)
        stopWith({ kind: 'cancel', reason: 'CANCELED' });
      else drainAtClipEnd = true;
    };
    if (ctx.signal.aborted) onWorkerAbort();
    else ctx.signal.addEventListener('abort', onWorkerAbort, { once: true });
    cleanups.push(() => ctx.signal.removeEventListener('abort', onWorkerAbort));
    cleanups.push(deps.drain.onRequest(() => (drainAtClipEnd = true)));
    if (deps.drain.requested) drainAtClipEnd = true;

    const pack = deps.packs.get(payload.modelPack);
    if (!pack) {
      // Another worker may have it: infrastructure, retried (maybe elsewhere).
      throw new Error(`this worker has no model pack "${payload.modelPack}"`);
    }
    if (payload.modelPackVersion !== undefined && payload.modelPackVersion !== pack.version) {
      // The gateway validated the render against that version: this worker cannot honour the
      // validation, another worker may. Infrastructure, retried (maybe elsewhere), then INTERNAL.
      throw new Error(
        `this worker runs model pack "${pack.name}" ${pack.version}, ` +
          `not ${payload.modelPackVersion} which the render was validated against`,
      );
    }
    if (payload.fps !== pack.geometry.fps) {
      throw new RenderInputError(
        WorkerFailureCode.UnsupportedByModel,
        'fps',
        `model pack "${pack.name}" renders at ${pack.geometry.fps} fps, not ${payload.fps}`,
      );
    }

    workDir = await mkdtemp(
      path.join(await ensureDir(deps.workDir), `render-${payload.renderId}-`),
    );
    const imageBytes = await readInput(deps.storage, payload.imageStorageKey, 'avatarId', 'photo');
    const audioPath = path.join(workDir, 'audio');
    await downloadInput(deps.storage, payload.audioStorageKey, audioPath);

    const image = await prepareImage(imageBytes, { maxSide: payload.maxSide });
    const audio = await decodeAudio(audioPath, { sampleRate: pack.geometry.sampleRate });
    const face = await faceOf(deps, payload, pack, imageBytes, image);

    const request: RenderRequest = {
      pack,
      image,
      audio,
      faceBox: face.box,
      faceKeypoints: face.keypoints,
      identity: face.identity,
      prompt: payload.prompt,
      seed: payload.seed,
      steps: payload.steps,
      promptCfg: payload.guidance.prompt,
      audioCfg: payload.guidance.audio,
      maxSide: payload.maxSide,
      ...(payload.motion
        ? { expression: payload.motion.expression, body: payload.motion.body }
        : {}),
    };
    const checkpoints = deps.checkpointsFor
      ? deps.checkpointsFor(payload)
      : new StorageCheckpointStore(deps.storage, mediaPrefix);
    store = checkpoints;
    const plan = planOf(request);
    const resumedFromClip = await resumableClips(checkpoints, plan.hash, plan.clips);
    plannedClips = plan.clips;
    checkpointedClips = resumedFromClip;
    await emitter.emit({
      type: 'render.started',
      ...subject,
      resumedFromClip,
      clips: plan.clips,
      packVersion: pack.version,
    });

    const videoPath = path.join(workDir, 'video.mp4');
    encoder = new Mp4Encoder({
      path: videoPath,
      width: image.width,
      height: image.height,
      fps: pack.geometry.fps,
      audioPath,
      // Known from the plan: the audio goes into the same ffmpeg run as the video.
      expectedFrames: plan.frames,
      ...(deps.encoder?.preset ? { preset: deps.encoder.preset } : {}),
      ...(deps.encoder?.crf !== undefined ? { crf: deps.encoder.crf } : {}),
    });
    const sink = new CapturingSink(encoder, plan.frames);
    const progress = new ProgressReporter(emitter, subject, deps.progressIntervalMs ?? 1000);
    const previewKey = `${mediaPrefix}preview-${run.run}.jpg`;
    const previewEvery = deps.previewIntervalMs ?? 10_000;
    let lastPreviewAt = -Infinity;
    sink.afterWrite = async (frame) => {
      // Preview of the newest frame, once a clip's frames are out (never during replay).
      if (performance.now() - lastPreviewAt < previewEvery || !progress.last) return;
      if (progress.last.clip < resumedFromClip) return;
      lastPreviewAt = performance.now();
      await deps.storage.put(previewKey, Readable.from([await previewJpeg(frame)]), {
        contentType: 'image/jpeg',
      });
      // Sent with the clip's last reported phase (decoding), not the per-clip `encoding`.
      progress.report(progress.last, previewKey, true);
    };

    const announced = new Set<number>();
    let checkingKey: Promise<void> = Promise.resolve();
    const result = await render(request, {
      sink,
      signal: stop.signal,
      checkpoints,
      logger: {
        info: (fields, message) => log({ renderId: payload.renderId, ...fields }, message),
        warn: (fields, message) => log({ renderId: payload.renderId, ...fields }, message),
      },
      onProgress: (p) => {
        deps.onPipelineProgress?.(payload.renderId, p);
        // The pipeline reports `encoding` for each clip as it writes it: only the last clip's is
        // the render's encoding phase (else the gateway would flap RUNNING ↔ ENCODING).
        if (p.phase !== 'encoding' || p.clip === p.clips - 1) progress.report(p);
        // `encoding` at the last step comes right after the clip's checkpoint was saved.
        if (p.phase === 'encoding' && p.step === p.steps && p.clip >= resumedFromClip) {
          if (!announced.has(p.clip)) {
            announced.add(p.clip);
            checkpointedClips = Math.max(checkpointedClips, p.clip + 1);
            void emitter.emit({
              type: 'render.clip-finished',
              ...subject,
              clip: p.clip,
              clips: p.clips,
              checkpointKey: checkpoints.keyOf(clipName(p.clip, 'json')),
            });
            // The pub/sub message may have been lost (reconnect): look at the key too.
            checkingKey = checkingKey.then(async () => {
              const signal = await deps.cancels.stored(payload.renderId).catch(() => null);
              if (signal) stopWith({ kind: 'cancel', reason: signal.reason });
            });
          }
        }
        if (
          drainAtClipEnd &&
          p.phase === 'encoding' &&
          p.step === p.steps &&
          p.clip < p.clips - 1
        ) {
          stopWith({ kind: 'drain' });
        }
      },
    });
    await checkingKey;

    const last = {
      clip: result.clips - 1,
      clips: result.clips,
      step: payload.steps,
      steps: payload.steps,
    };
    progress.report({ ...last, phase: 'encoding', fraction: 1, etaSeconds: 0 }, undefined, true);
    const mp4 = await encoder.finish();
    encoder = undefined;
    progress.report({ ...last, phase: 'uploading', fraction: 1, etaSeconds: 0 }, undefined, true);

    const posterPath = path.join(workDir, 'poster.jpg');
    const posterFrame = sink.samples.get(0);
    if (!posterFrame) throw new Error('the first frame never reached the encoder');
    await writePoster(posterFrame, posterPath);
    const storageKey = `${mediaPrefix}video-${run.run}.mp4`;
    const posterKey = `${mediaPrefix}poster-${run.run}.jpg`;
    const video = await deps.storage.put(storageKey, createReadStream(mp4.path), {
      contentType: 'video/mp4',
    });
    await deps.storage.put(posterKey, createReadStream(posterPath), { contentType: 'image/jpeg' });

    const identityScore =
      payload.identityEmbedding !== null
        ? await scoreIdentity(deps, payload, [...sink.samples.values()])
        : null;

    await emitter.emit({
      type: 'render.succeeded',
      ...subject,
      output: {
        storageKey,
        posterKey,
        mime: 'video/mp4',
        bytes: video.bytes,
        sha256: video.sha256,
        durationSeconds: mp4.durationSeconds,
        width: result.width,
        height: result.height,
        fps: result.fps,
        frames: mp4.frames,
      },
      seed: result.seed,
      identityScore,
      modelSeconds: result.timings.sessionRunMs / 1000,
      packVersion: pack.version,
    });
    await emitter.flush();
    // Only now: a crash before the event would re-run the job, which then resumes from them.
    await dropCheckpoints();
    const ms = performance.now() - started;
    log(
      {
        renderId: payload.renderId,
        frames: mp4.frames,
        clips: result.clips,
        resumedClips: result.resumedClips,
        identityScore,
        ms: Math.round(ms),
        modelMs: Math.round(result.timings.sessionRunMs),
      },
      'render succeeded',
    );
    return {
      status: 'succeeded',
      renderId: payload.renderId,
      storageKey,
      posterKey,
      frames: mp4.frames,
      resumedClips: result.resumedClips,
      identityScore,
      ms,
    };
  } catch (error) {
    if (encoder) await encoder.abort().catch(() => undefined);
    const reason = stopReason;
    if (error instanceof RenderCanceled && reason?.kind === 'cancel') {
      await emitter.flush().catch(() => undefined);
      await emitter.emit({ type: 'render.canceled', ...subject });
      await emitter.flush();
      // A canceled render never resumes.
      await dropCheckpoints();
      log({ renderId: payload.renderId, clip: error.clip, step: error.step }, 'render canceled');
      return { status: 'canceled', renderId: payload.renderId, reason: reason.reason };
    }
    if (error instanceof RenderCanceled && reason?.kind === 'drain') {
      await emitter.flush().catch(() => undefined);
      log(
        { renderId: payload.renderId, clip: error.clip, resumableClips: checkpointedClips },
        'render stopped for shutdown; requeued',
      );
      if (ctx.requeue) {
        // The run's last event, right before the job goes back to waiting: the gateway shows the
        // render queued (still admitted) until the next run's `render.started`.
        try {
          await emitter.emit({
            type: 'render.requeued',
            ...subject,
            reason: RenderRequeueReason.WorkerShutdown,
            resumableClips: checkpointedClips,
            clips: plannedClips,
          });
          await emitter.flush();
        } catch (emitError) {
          // Redis trouble: requeue all the same (the next run's render.started still comes).
          log({ renderId: payload.renderId, err: String(emitError) }, 'could not report requeue');
        }
        return await ctx.requeue();
      }
      throw new Error('the worker is shutting down; the render resumes from its checkpoints');
    }
    const attemptsLeft = ctx.attempt < ctx.maxAttempts;
    const failure: RenderFailure = classifyRenderError(error, attemptsLeft);
    const willRetry = failure.retryable;
    log(
      {
        renderId: payload.renderId,
        attempt: ctx.attempt,
        code: failure.code,
        willRetry,
        err: failure.message,
      },
      'render failed',
    );
    try {
      await emitter.flush().catch(() => undefined);
      await emitter.emit({ type: 'render.failed', ...subject, error: failure, willRetry });
      await emitter.flush();
    } catch {
      // Redis is the likely trouble; the job's own failure is what matters now.
    }
    if (!willRetry) {
      await dropCheckpoints();
      throw new UnrecoverableError(`${failure.code}: ${failure.message}`);
    }
    throw error;
  } finally {
    for (const cleanup of cleanups) cleanup();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}

/** Appends a run's events strictly in order, without making the pipeline wait for Redis. */
class SerialEmitter {
  private chain: Promise<unknown> = Promise.resolve();
  private failure: unknown;

  constructor(private readonly run: RunEvents) {}

  emit(event: WorkerEventInput): Promise<void> {
    const next = this.chain.then(() => this.run.emit(event));
    this.chain = next.catch((error: unknown) => {
      this.failure ??= error;
    });
    return next.then(() => undefined);
  }

  /** Waits for every event so far; rejects with the first that failed. */
  async flush(): Promise<void> {
    await this.chain;
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      throw failure;
    }
  }
}

type ProgressFields = Omit<RenderProgress, 'phase'> & { phase: RenderPhase };

/** `render.progress` at most every `intervalMs`, and at every phase change; fraction never falls. */
class ProgressReporter {
  /** The newest report sent (or throttled away). */
  last: ProgressFields | undefined;
  private lastAt = -Infinity;
  private lastPhase: RenderPhase | undefined;
  private fraction = 0;

  constructor(
    private readonly emitter: SerialEmitter,
    private readonly subject: { tenantId: string; renderId: string; attempt: number },
    private readonly intervalMs: number,
  ) {}

  report(p: ProgressFields, previewKey?: string, force = false): void {
    this.last = p;
    const now = performance.now();
    if (!force && p.phase === this.lastPhase && now - this.lastAt < this.intervalMs) return;
    this.lastAt = now;
    this.lastPhase = p.phase;
    this.fraction = Math.max(this.fraction, Math.min(1, Math.max(0, p.fraction)));
    void this.emitter.emit({
      type: 'render.progress',
      ...this.subject,
      phase: p.phase,
      clip: p.clip,
      clips: p.clips,
      step: p.step,
      totalSteps: p.steps,
      fraction: this.fraction,
      etaSeconds: p.etaSeconds === null ? null : Math.max(0, p.etaSeconds),
      ...(previewKey !== undefined ? { previewKey } : {}),
    });
  }
}

/**
 * Forwards frames to the encoder and keeps a few of them: the first (poster) and evenly spaced
 * ones for the identity score; `afterWrite` sees the newest frame of each write.
 */
class CapturingSink implements FrameSink {
  readonly samples = new Map<number, RgbFrame>();
  afterWrite: ((frame: RgbFrame) => Promise<void>) | undefined;
  private readonly wanted: Set<number>;
  private written = 0;

  constructor(
    private readonly target: FrameSink,
    totalFrames: number,
  ) {
    const n = Math.min(IDENTITY_SAMPLES, totalFrames);
    this.wanted = new Set(
      Array.from({ length: n }, (_, k) =>
        n === 1 ? 0 : Math.round((k * (totalFrames - 1)) / (n - 1)),
      ),
    );
  }

  async write(frames: Uint8Array, width: number, height: number): Promise<void> {
    await this.target.write(frames, width, height);
    const size = width * height * 3;
    const count = frames.byteLength / size;
    for (let k = 0; k < count; k++) {
      if (this.wanted.has(this.written + k)) {
        this.samples.set(this.written + k, {
          width,
          height,
          data: frames.slice(k * size, (k + 1) * size),
        });
      }
    }
    this.written += count;
    if (count > 0 && this.afterWrite) {
      await this.afterWrite({
        width,
        height,
        data: frames.subarray((count - 1) * size, count * size),
      });
    }
  }
}

/** Frames, clips and request hash of a render, as the pipeline will plan it. */
function planOf(request: RenderRequest): { frames: number; clips: number; hash: string } {
  const normalized = normalizeRenderRequest(request);
  const g = request.pack.geometry;
  const frames = framesForDuration(request.audio.samples.length / request.audio.sampleRate, g.fps);
  const clips = planRender(frames, {
    maxFramesPerClip: g.maxFramesPerClip,
    temporalStride: g.temporalStride,
    overlapLatents: normalized.overlapLatents,
  }).length;
  return { frames, clips, hash: renderRequestHash(normalized) };
}

/**
 * Finished clips of this very request in the store (their records, in order): what the pipeline
 * will resume from, for `render.started`. The pipeline re-checks the frames themselves.
 */
async function resumableClips(
  store: CheckpointStore,
  hash: string,
  clips: number,
): Promise<number> {
  let count = 0;
  for (; count < clips; count++) {
    const bytes = await store.get(clipName(count, 'json'));
    if (!bytes) break;
    try {
      const record = JSON.parse(Buffer.from(bytes).toString('utf8')) as {
        requestHash?: unknown;
        clips?: unknown;
      };
      if (record.requestHash !== hash || record.clips !== clips) break;
    } catch {
      break;
    }
  }
  return count;
}

interface RenderFace {
  box: [number, number, number, number];
  keypoints: [number, number][];
  identity: number[] | null;
}

/**
 * The face box and keypoints in the prepared image's 0..1 coordinates (from the avatar, else
 * found again), and the identity embedding (the avatar's, else computed from the photo when the
 * pack needs one).
 */
async function faceOf(
  deps: RenderDeps,
  payload: RenderJob,
  pack: ModelPack,
  imageBytes: Uint8Array,
  image: PreparedImage,
): Promise<RenderFace> {
  const needsIdentity = pack.manifest.capabilities.identity && pack.denoiserTakes('identity');
  let identity = payload.identityEmbedding;
  let known = payload.face ?? null;
  if (!known || (needsIdentity && identity === null)) {
    const models = deps.faceModels.get(pack.name);
    if (!models) throw new Error(`this worker has no face models for pack "${pack.name}"`);
    const photo = await loadRgbImage(imageBytes);
    const detection = await detectFaces(models.detector, photo);
    const face = chooseFace(detection.faces);
    if (!known) known = { box: face.box, keypoints: face.keypoints };
    if (needsIdentity && identity === null) {
      identity = Array.from(await embedFace(models.encoder, await alignFace(photo, face)));
    }
  }
  const map = (x: number, y: number): [number, number] => {
    const [u, v] = sourceToPrepared(image, x / image.source.width, y / image.source.height);
    return [clamp01(u), clamp01(v)];
  };
  const [x0, y0] = map(known.box.x0, known.box.y0);
  const [x1, y1] = map(known.box.x1, known.box.y1);
  if (!(x0 < x1 && y0 < y1)) {
    throw new FaceError('IMAGE_UNUSABLE', 'the avatar face lies outside the rendered picture');
  }
  return {
    box: [x0, y0, x1, y1],
    keypoints: known.keypoints.map((p) => map(p.x, p.y)),
    identity: needsIdentity ? identity : null,
  };
}

function clamp01(value: number): number {
  return Math.min(1, Math.max(0, value));
}

/**
 * Cosine similarity, clamped to 0..1, of the avatar's embedding with the embeddings of faces in a
 * few output frames (mean; a frame without a face counts 0). Null when this worker's encoder
 * makes embeddings of another size (another model: not comparable).
 */
async function scoreIdentity(
  deps: RenderDeps,
  payload: RenderJob,
  frames: RgbFrame[],
): Promise<number | null> {
  const models = deps.faceModels.get(payload.modelPack);
  const avatar = payload.identityEmbedding;
  if (!models || !avatar || avatar.length !== models.embeddingDim || frames.length === 0) {
    return null;
  }
  let sum = 0;
  for (const frame of frames) {
    const detection = await detectFaces(models.detector, frame);
    const face = detection.faces[0];
    if (!face) continue;
    const embedding = await embedFace(models.encoder, await alignFace(frame, face));
    sum += Math.max(0, cosineSimilarity(avatar, embedding));
  }
  return Math.min(1, sum / frames.length);
}

async function ensureDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return dir;
}

async function readInput(
  storage: ObjectStorage,
  key: string,
  field: string,
  what: string,
): Promise<Uint8Array> {
  try {
    const bytes = await readObjectBounded(
      storage,
      key,
      MAX_INPUT_BYTES,
      () =>
        new RenderInputError(
          WorkerFailureCode.BadInput,
          field,
          `the ${what} is larger than ${MAX_INPUT_BYTES} bytes`,
        ),
    );
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) {
      throw new RenderInputError(
        WorkerFailureCode.BadInput,
        field,
        `the ${what} is not in storage (${key})`,
      );
    }
    throw error;
  }
}

async function downloadInput(storage: ObjectStorage, key: string, file: string): Promise<void> {
  try {
    await pipe(await storage.get(key), createWriteStream(file));
  } catch (error) {
    if (error instanceof ObjectNotFoundError) {
      throw new RenderInputError(
        WorkerFailureCode.BadInput,
        'audioAssetId',
        `the audio is not in storage (${key})`,
      );
    }
    throw error;
  }
}
