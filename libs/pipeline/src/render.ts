import { encodeAudio, clipAudioWindows, type AudioFeatures } from './audio-windows';
import type { CheckpointStore } from './checkpoint-store';
import {
  buildCondition,
  crossFade,
  crossFadeWeights,
  latentFrame,
  videoFrame,
  type LatentGeometry,
} from './clip-tensors';
import { DenoiserBatch, UPDATE_SLICE, yieldToEventLoop } from './denoiser-batch';
import { chwToRgbFrame, videoFrameToRgb } from './media/frames';
import { ModelPackError, RenderCanceled } from './errors';
import { framesForDuration } from './frame-plan';
import { silentLogger, type ModelPack, type PipelineLogger } from './model-pack';
import { ProgressTracker, type ProgressListener } from './progress';
import { findResumePoint, loadClipFrames, saveClip, type OverlapState } from './render-checkpoints';
import { planRender, type RenderClip } from './render-plan';
import {
  normalizeRenderRequest,
  renderRequestHash,
  type NormalizedRenderRequest,
  type RenderRequest,
} from './render-request';
import { FlowMatchEulerScheduler } from './scheduler';
import { clipNoiseGenerator, fillStandardNormal } from './seeded-noise';
import { sharedFloat32, type HostTensor } from './stage';

/**
 * Where rendered frames go, in order: the MP4 encoder in production. `frames` holds whole
 * frames of packed RGB24 (frames · height · width · 3 bytes).
 */
export interface FrameSink {
  write(frames: Uint8Array, width: number, height: number): Promise<void>;
}

export interface RenderOptions {
  sink: FrameSink;
  onProgress?: ProgressListener;
  /** Checked between denoiser steps and phases; aborting throws RenderCanceled. */
  signal?: AbortSignal;
  /** Finished clips are saved here, and a render with the same request resumes from them. */
  checkpoints?: CheckpointStore;
  logger?: PipelineLogger;
  /** Audio tokens per audioEncoder run (default 1500 = 30 s at 50 Hz). */
  audioChunkTokens?: number;
  /**
   * Do the guided Euler update in the session thread (default true), so the batch-of-3
   * velocity never comes back to this thread; false does it here (the reference path).
   */
  guidanceInThread?: boolean;
}

export interface RenderTimings {
  totalMs: number;
  /** Preparation: audio, text and image encoders, reference latent. */
  prepareMs: number;
  /** Every denoiser step (session.run + guidance + Euler), in order. */
  stepMs: number[];
  /** The denoiser's session.run alone (in the session thread), per step. */
  stepRunMs: number[];
  decodeMs: number[];
  /** sink.write per clip (replayed clips included). */
  writeMs: number[];
  /** Time spent awaiting session.run of any stage. */
  sessionRunMs: number;
  /** Share of totalMs spent outside session.run and sink.write: the pipeline's own JS work. */
  outsideRunShare: number;
}

export interface RenderResult {
  requestHash: string;
  seed: number;
  fps: number;
  width: number;
  height: number;
  /** Frames written to the sink. */
  frames: number;
  clips: number;
  /** Clips taken from checkpoints instead of being rendered. */
  resumedClips: number;
  durationSeconds: number;
  timings: RenderTimings;
}

function totalRunMs(pack: ModelPack): number {
  return Object.values(pack.runStats()).reduce((n, s) => n + s.runMs, 0);
}

/**
 * Renders a talking-portrait video: plans overlapping clips over the audio, and for each clip
 * builds the condition (reference frame + overlap latents), draws its seeded noise, runs the
 * guided flow-matching loop (one batch-of-3 session.run per step), decodes, cross-fades the
 * overlap and streams frames to the sink, checkpointing each finished clip.
 */
export async function render(
  request: RenderRequest,
  options: RenderOptions,
): Promise<RenderResult> {
  const started = performance.now();
  const r = normalizeRenderRequest(request);
  const { pack } = r;
  const g = pack.geometry;
  const logger = options.logger ?? silentLogger;
  const runAtStart = totalRunMs(pack);
  const { width: W, height: H } = r.image;
  const frameBytes = W * H * 3;

  const totalFrames = framesForDuration(r.audio.samples.length / r.audio.sampleRate, g.fps);
  const plan = planRender(totalFrames, {
    maxFramesPerClip: g.maxFramesPerClip,
    temporalStride: g.temporalStride,
    overlapLatents: r.overlapLatents,
  });
  const requestHash = renderRequestHash(r);
  const tracker = new ProgressTracker(plan.length, r.steps, options.onProgress);
  const timings: RenderTimings = {
    totalMs: 0,
    prepareMs: 0,
    stepMs: [],
    stepRunMs: [],
    decodeMs: [],
    writeMs: [],
    sessionRunMs: 0,
    outsideRunShare: 0,
  };
  const checkAbort = (clip: number, step: number): void => {
    if (options.signal?.aborted) throw new RenderCanceled(clip, step);
  };
  const write = async (bytes: Uint8Array): Promise<void> => {
    const t0 = performance.now();
    await options.sink.write(bytes, W, H);
    const ms = performance.now() - t0;
    timings.writeMs.push(ms);
    tracker.written(ms);
  };

  checkAbort(0, 0);
  tracker.report('preparing', 0, 0);
  logger.info(
    { requestHash, frames: totalFrames, clips: plan.length, seed: r.seed },
    'render planned',
  );

  // Resume: replay the finished clips' frames into the (new) sink, then go on after them.
  const resume = options.checkpoints
    ? await findResumePoint(options.checkpoints, requestHash, plan.length, logger)
    : { clips: 0, records: [], state: undefined };
  if (resume.clips > 0)
    logger.info({ requestHash, clips: resume.clips }, 'resuming from checkpoints');
  let written = 0;
  for (const record of resume.records) {
    checkAbort(record.clip, r.steps);
    const bytes = await loadClipFrames(options.checkpoints as CheckpointStore, record);
    tracker.report('encoding', record.clip, r.steps);
    const t0 = performance.now();
    await options.sink.write(bytes, W, H);
    timings.writeMs.push(performance.now() - t0);
    written += bytes.byteLength / frameBytes;
  }
  tracker.skipClips(resume.clips);

  let state: OverlapState | undefined = resume.state;
  if (resume.clips < plan.length) {
    const first = resume.clips;
    checkAbort(first, 0);
    tracker.report('encoding-audio', first, 0);
    const prepareStarted = performance.now();
    const prepared = await prepare(r, options.audioChunkTokens);
    timings.prepareMs = performance.now() - prepareStarted;
    tracker.prepared();

    for (const clip of plan.slice(first)) {
      const result = await renderClip(r, clip, prepared, state, {
        tracker,
        timings,
        checkAbort,
        inThread: options.guidanceInThread ?? true,
      });
      const next = plan[clip.index + 1];
      const emitted = await emitFrames(clip, next, result.video, state, W, H);
      const newState: OverlapState = {
        latents: result.lastLatents,
        tail: emitted.tail,
      };
      if (options.checkpoints) {
        await saveClip(
          options.checkpoints,
          {
            format: 1,
            requestHash,
            clip: clip.index,
            clips: plan.length,
            width: W,
            height: H,
            emitStart: clip.emitStart,
            emitEnd: clip.emitEnd,
          },
          emitted.bytes,
          newState,
        );
      }
      tracker.report('encoding', clip.index, r.steps);
      await write(emitted.bytes);
      written += clip.emitEnd - clip.emitStart;
      state = newState;
    }
  } else {
    tracker.prepared();
  }
  const last = plan.length - 1;
  tracker.report('encoding', last, r.steps);

  timings.totalMs = performance.now() - started;
  timings.sessionRunMs = totalRunMs(pack) - runAtStart;
  const writeTotal = timings.writeMs.reduce((n, v) => n + v, 0);
  timings.outsideRunShare =
    Math.max(0, timings.totalMs - timings.sessionRunMs - writeTotal) / timings.totalMs;
  logger.info({ requestHash, frames: written, ms: Math.round(timings.totalMs) }, 'render finished');
  return {
    requestHash,
    seed: r.seed,
    fps: g.fps,
    width: W,
    height: H,
    frames: written,
    clips: plan.length,
    resumedClips: resume.clips,
    durationSeconds: written / g.fps,
    timings,
  };
}

/** What every clip of a render shares. */
interface Prepared {
  features: AudioFeatures;
  negativeContext: HostTensor;
  promptContext: HostTensor;
  imageTokens: HostTensor;
  /** The reference image's latent frame [C, h, w]. */
  reference: Float32Array;
  latentHeight: number;
  latentWidth: number;
}

async function prepare(
  r: NormalizedRenderRequest,
  chunkTokens: number | undefined,
): Promise<Prepared> {
  const { pack } = r;
  const g = pack.geometry;
  const { stages } = pack;
  const features = await encodeAudio(stages.audioEncoder, r.audio.samples, {
    hop: g.hop,
    ...(chunkTokens === undefined ? {} : { chunkTokens }),
  });
  const negativeContext = await pack.text.negative(r.negativePrompt);
  const promptContext = await pack.text.prompt(r.prompt);

  const { width: W, height: H } = r.image;
  const { tokens: imageTokens } = await stages.imageEncoder.run({
    image: { data: r.image.encoderPixels, dims: [1, 3, g.imageEncoderHeight, g.imageEncoderWidth] },
  });

  const { latent } = await stages.vaeEncoder.run({
    video: { data: r.image.pixels, dims: [1, 3, 1, H, W] },
  });
  const expected = [1, g.latentChannels, 1, H / g.spatialStride, W / g.spatialStride];
  if (!latent || latent.dims.join() !== expected.join()) {
    throw new ModelPackError(
      'run',
      `is [${latent?.dims.join(', ')}] for a 1-frame ${W}×${H} image, expected [${expected.join(', ')}]`,
      'vaeEncoder',
      'latent',
    );
  }
  return {
    features,
    negativeContext,
    promptContext,
    imageTokens: imageTokens as HostTensor,
    reference: latent.data,
    latentHeight: expected[3] as number,
    latentWidth: expected[4] as number,
  };
}

interface ClipHooks {
  tracker: ProgressTracker;
  timings: RenderTimings;
  checkAbort: (clip: number, step: number) => void;
  inThread: boolean;
}

async function renderClip(
  r: NormalizedRenderRequest,
  clip: RenderClip,
  prepared: Prepared,
  state: OverlapState | undefined,
  { tracker, timings, checkAbort, inThread }: ClipHooks,
): Promise<{ video: Float32Array; lastLatents: Float32Array[] }> {
  const { pack } = r;
  const g = pack.geometry;
  const denoiser = pack.stages.denoiser;
  const geometry: LatentGeometry = {
    channels: g.latentChannels,
    latentFrames: clip.latentFrames,
    height: prepared.latentHeight,
    width: prepared.latentWidth,
  };

  const known = new Map<number, Float32Array>([[0, prepared.reference]]);
  for (let i = 1; i <= clip.overlapLatents; i++) {
    const latent = state?.latents[i - 1];
    if (!latent)
      throw new Error(
        `clip ${clip.index} needs ${clip.overlapLatents} overlap latents from clip ${clip.index - 1}`,
      );
    known.set(i, latent);
  }
  // A pack without the identity capability may still declare the input: it gets zeros.
  const identity =
    r.identity ?? (denoiser.has('identity') ? new Float32Array(g.identityDim ?? 0) : undefined);
  if (identity && identity.length === 0) {
    throw new ModelPackError(
      'contract',
      'needs a fixed size to feed zeros',
      'denoiser',
      'identity',
    );
  }
  const windows = denoiser.has('audio')
    ? clipAudioWindows(prepared.features, clip, {
        tokens: g.audioWindow,
        fps: g.fps,
        featureRate: g.featureRate,
        temporalStride: g.temporalStride,
      })
    : undefined;
  const batch = await DenoiserBatch.create(denoiser, {
    latent: geometry,
    condition: await buildCondition(geometry, g.temporalStride, known),
    maskChannels: g.temporalStride,
    ...(windows
      ? {
          audio: {
            windows: windows.audio,
            mask: windows.mask,
            tokens: g.audioWindow,
            dim: prepared.features.dim,
          },
        }
      : {}),
    negativeContext: prepared.negativeContext,
    promptContext: prepared.promptContext,
    imageTokens: prepared.imageTokens,
    audioScale: r.audioScale,
    ...(identity ? { identity } : {}),
    motion: [r.expression, r.body],
    ...(r.faceBox ? { faceBox: r.faceBox } : {}),
    ...(r.faceKeypoints ? { faceKeypoints: r.faceKeypoints } : {}),
  });

  // The latent lives on a SharedArrayBuffer: the session thread reads it for each step without a
  // copy here, and the guidance + Euler update writes it in place, in slices between which the
  // event loop runs.
  const x = sharedFloat32(batch.size);
  // Same values as clipNoise(seed, clip, size): slices are even, so Box–Muller pairs stay whole.
  const rng = clipNoiseGenerator(r.seed, clip.index);
  for (let start = 0; start < batch.size; start += UPDATE_SLICE) {
    fillStandardNormal(rng, x.subarray(start, Math.min(batch.size, start + UPDATE_SLICE)));
    await yieldToEventLoop();
  }
  const scheduler = new FlowMatchEulerScheduler({ steps: r.steps, shift: r.shift });
  const scales = { promptCfg: r.promptCfg, audioCfg: r.audioCfg };
  try {
    for (let i = 0; i < r.steps; i++) {
      checkAbort(clip.index, i);
      const t0 = performance.now();
      const runBefore = denoiser.stats.runMs;
      await batch.step(x, scheduler, i, scales, inThread);
      const ms = performance.now() - t0;
      timings.stepMs.push(ms);
      timings.stepRunMs.push(denoiser.stats.runMs - runBefore);
      tracker.stepDone(ms);
      tracker.report('denoising', clip.index, i + 1);
    }
  } finally {
    await batch.dispose();
  }
  checkAbort(clip.index, r.steps);

  tracker.report('decoding', clip.index, r.steps);
  const t0 = performance.now();
  const latentDims = [1, geometry.channels, geometry.latentFrames, geometry.height, geometry.width];
  const { video } = await pack.stages.vaeDecoder.run({
    latent: { source: x, rows: 1, dims: latentDims },
  });
  await pack.stages.vaeDecoder.unpin([], true);
  const expected = [1, 3, clip.frames, r.image.height, r.image.width];
  if (!video || video.dims.join() !== expected.join()) {
    throw new ModelPackError(
      'run',
      `is [${video?.dims.join(', ')}], expected [${expected.join(', ')}]`,
      'vaeDecoder',
      'video',
    );
  }
  const ms = performance.now() - t0;
  timings.decodeMs.push(ms);
  tracker.decoded(ms);
  checkAbort(clip.index, r.steps);

  const lastLatents: Float32Array[] = [];
  const o = r.overlapLatents;
  for (let i = clip.latentFrames - o; i < clip.latentFrames; i++)
    lastLatents.push(await latentFrame(x, geometry, i));
  return { video: video.data, lastLatents };
}

/**
 * The frames a clip writes: global frames [emitStart, emitEnd) as RGB24, the first t·o of a
 * later clip cross-faded with the previous clip's held-back tail; and the clip's own tail (the
 * frames the next clip overlaps), kept as floats for that cross-fade.
 */
export async function emitFrames(
  clip: RenderClip,
  next: RenderClip | undefined,
  video: Float32Array,
  previous: OverlapState | undefined,
  width: number,
  height: number,
): Promise<{ bytes: Uint8Array; tail: Float32Array[] }> {
  const plane = width * height;
  const count = clip.emitEnd - clip.emitStart;
  const bytes = new Uint8Array(count * plane * 3);
  const weights = crossFadeWeights(clip.overlapFrames);
  const shape = { frames: clip.frames, height, width };
  for (let g = clip.emitStart; g < clip.emitEnd; g++) {
    const at = (g - clip.emitStart) * plane * 3;
    const k = g - clip.start;
    if (clip.index > 0 && k < clip.overlapFrames) {
      const held = previous?.tail[k];
      if (!held)
        throw new Error(`clip ${clip.index} has no held-back frame ${k} of the previous clip`);
      const frame = videoFrame(video, clip.frames, plane, g - clip.origin);
      bytes.set(
        chwToRgbFrame(crossFade(held, frame, weights[k] as number), width, height).data,
        at,
      );
    } else {
      // Straight from the decoded clip into the output: no per-frame copies.
      videoFrameToRgb(video, shape, g - clip.origin, bytes.subarray(at, at + plane * 3));
    }
    await yieldToEventLoop();
  }
  const tail: Float32Array[] = [];
  if (next) {
    for (let g = next.start; g < clip.end; g++)
      tail.push(videoFrame(video, clip.frames, plane, g - clip.origin));
  }
  return { bytes, tail };
}
