import { PipelineInputError, requireInteger, requirePositiveFinite } from './errors';

/** Video frame rate of the FantasyTalking release. */
export const FPS = 23;
/** Longest clip the denoiser is run on at once (a `4n+1` count). */
export const MAX_FRAMES_PER_CLIP = 81;
/** Video frames per latent frame (after the first, which stands alone). */
export const TEMPORAL_STRIDE = 4;

/** Frames needed to cover `seconds` of audio at `fps`: ceil(seconds·fps), at least 1. */
export function framesForDuration(seconds: number, fps: number = FPS): number {
  requirePositiveFinite('seconds', seconds);
  requirePositiveFinite('fps', fps);
  const exact = seconds * fps;
  // Absorb floating-point noise such as 3 * 23.000000000000004, so whole frame counts stay whole.
  const frames = Math.ceil(exact - 1e-9 * Math.max(1, exact));
  if (!Number.isSafeInteger(frames)) {
    throw new PipelineInputError('seconds', `is too long: ${seconds}s at ${fps} fps`);
  }
  return Math.max(1, frames);
}

/** Latent frames of a `4n+1` clip: F' = (F − 1)/4 + 1. */
export function latentFramesOf(frames: number): number {
  requireInteger('frames', frames, 1);
  if ((frames - 1) % TEMPORAL_STRIDE !== 0) {
    throw new PipelineInputError('frames', `must be of the form 4n+1, got ${frames}`);
  }
  return (frames - 1) / TEMPORAL_STRIDE + 1;
}

/** The smallest `4n+1` ≥ `frames` (for an integer `frames` ≥ 1). */
function roundUpTo4nPlus1(frames: number): number {
  return TEMPORAL_STRIDE * Math.ceil((frames - 1) / TEMPORAL_STRIDE) + 1;
}

/** The largest `4n+1` ≤ `frames` (for an integer `frames` ≥ 1). */
function roundDownTo4nPlus1(frames: number): number {
  return TEMPORAL_STRIDE * Math.floor((frames - 1) / TEMPORAL_STRIDE) + 1;
}

export interface SingleClipPlan {
  /** Frames asked for. */
  requestedFrames: number;
  /** Frames rendered: `requestedFrames` rounded up to `4n+1`; the extra (≤ 3) are trimmed. */
  frames: number;
  /** F' = (frames − 1)/4 + 1. */
  latentFrames: number;
}

/**
 * One clip of `frameCount` frames: rounded up to `4n+1`. Throws if that exceeds `maxFrames`
 * (default 81): longer renders are split by `planClips`, never silently shortened.
 */
export function planClip(
  frameCount: number,
  maxFrames: number = MAX_FRAMES_PER_CLIP,
): SingleClipPlan {
  requireInteger('frameCount', frameCount, 1);
  requireInteger('maxFrames', maxFrames, 1);
  const frames = roundUpTo4nPlus1(frameCount);
  if (frames > maxFrames) {
    throw new PipelineInputError(
      'frameCount',
      `${frameCount} frames need a ${frames}-frame clip, more than the ${maxFrames} allowed; use planClips`,
    );
  }
  return { requestedFrames: frameCount, frames, latentFrames: latentFramesOf(frames) };
}

export interface ClipPlan {
  /** 0-based position in the render. */
  index: number;
  /** First video frame of the clip, in render frame numbers. */
  start: number;
  /** Frames in the clip, always `4n+1`. The last clip may run up to 3 frames past the end. */
  frames: number;
  /** F' of the clip. */
  latentFrames: number;
  /** Leading frames shared with the previous clip (they condition this clip); 0 for the first. */
  overlapWithPrevious: number;
}

export interface PlanClipsOptions {
  /** Longest clip; rounded down to `4n+1`. Default 81. */
  maxFrames?: number;
  /** Frames shared by consecutive clips; must leave at least one new frame per clip. */
  overlap: number;
}

/**
 * Splits a render of `totalFrames` into clips of at most `maxFrames` (each `4n+1`) that cover
 * every frame, consecutive clips sharing exactly `overlap` frames. All clips but the last are
 * full length; the last is as short as possible (rounded up to `4n+1`).
 */
export function planClips(totalFrames: number, options: PlanClipsOptions): ClipPlan[] {
  requireInteger('totalFrames', totalFrames, 1);
  const maxFrames = roundDownTo4nPlus1(
    requireInteger('maxFrames', options.maxFrames ?? MAX_FRAMES_PER_CLIP, 1),
  );
  const overlap = requireInteger('overlap', options.overlap, 0);
  if (overlap >= maxFrames) {
    throw new PipelineInputError(
      'overlap',
      `must be smaller than the clip length (${maxFrames} frames after rounding to 4n+1), got ${overlap}`,
    );
  }

  const clips: ClipPlan[] = [];
  let start = 0;
  let end = 0;
  while (end < totalFrames) {
    const overlapWithPrevious = clips.length === 0 ? 0 : overlap;
    start = end - overlapWithPrevious;
    const frames = Math.min(maxFrames, roundUpTo4nPlus1(totalFrames - start));
    clips.push({
      index: clips.length,
      start,
      frames,
      latentFrames: latentFramesOf(frames),
      overlapWithPrevious,
    });
    end = start + frames;
  }
  return clips;
}
