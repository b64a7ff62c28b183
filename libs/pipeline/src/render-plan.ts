import { PipelineInputError, requireInteger } from './errors';

/** Latent frames each later clip takes over from the previous one (the ref-pack contract's o). */
export const DEFAULT_OVERLAP_LATENTS = 1;

/**
 * One clip of a render, in the layout the denoiser relies on (ref-pack contract "Clip layout"):
 * latent frame 0 is always the reference image (one video frame); for clips after the first,
 * latent frames 1..o are the overlap (the previous clip's last t·o video frames, known) and the
 * rest are new. A clip's video frame j sits at global frame `origin + j`; for later clips j = 0
 * (the reference) is not output and sits one frame before the overlap, so every latent frame
 * has a place on the global timeline for its audio window.
 */
export interface RenderClip {
  index: number;
  /** F'. */
  latentFrames: number;
  /** Video frames the VAE decodes: t·(F' − 1) + 1. */
  frames: number;
  /** Global frame of video frame 0. */
  origin: number;
  /** o: latent frames known from the previous clip (0 for the first clip). */
  overlapLatents: number;
  /** t·o: video frames shared with the previous clip and cross-faded. */
  overlapFrames: number;
  /** First global frame this clip contributes (its first overlap frame; 0 for the first clip). */
  start: number;
  /** Global frame after this clip's last frame (may pass the render's end by up to t − 1). */
  end: number;
  /** Global frames [emitStart, emitEnd) written to the sink once this clip is done. */
  emitStart: number;
  emitEnd: number;
}

export interface PlanRenderOptions {
  /** The pack's maxFramesPerClip (t·n + 1). */
  maxFramesPerClip: number;
  /** The pack's temporal stride t (4). */
  temporalStride: number;
  /** o (default 1). */
  overlapLatents?: number;
}

/**
 * Splits a render of `totalFrames` video frames into clips. The first clip starts with the
 * reference image as frame 0; each later clip re-uses the last t·o frames of the one before and
 * adds up to F'max − 1 − o new latent frames. Frames past `totalFrames` are never emitted; a
 * clip's last t·o frames are held back until the next clip has cross-faded them.
 */
export function planRender(totalFrames: number, options: PlanRenderOptions): RenderClip[] {
  requireInteger('totalFrames', totalFrames, 1);
  const t = requireInteger('temporalStride', options.temporalStride, 1);
  const maxFrames = requireInteger('maxFramesPerClip', options.maxFramesPerClip, 1);
  if ((maxFrames - 1) % t !== 0) {
    throw new PipelineInputError('maxFramesPerClip', `must be ${t}n+1, got ${maxFrames}`);
  }
  const maxLatents = (maxFrames - 1) / t + 1;
  const o = requireInteger('overlapLatents', options.overlapLatents ?? DEFAULT_OVERLAP_LATENTS, 0);
  // Each clip needs a new latent frame, and a middle clip must not cross-fade frames it holds back.
  if (maxLatents < Math.max(o + 2, 2 * o + 1)) {
    throw new PipelineInputError(
      'overlapLatents',
      `${o} is too many for a ${maxLatents}-latent-frame clip (at most ${Math.floor((maxLatents - 1) / 2)})`,
    );
  }

  const clips: RenderClip[] = [];
  // First clip: frame 0 is the reference; latent frame i ≥ 1 holds frames 4i−3 … 4i.
  const firstLatents = Math.min(maxLatents, Math.ceil((totalFrames - 1) / t) + 1);
  let end = t * (firstLatents - 1) + 1;
  clips.push({
    index: 0,
    latentFrames: firstLatents,
    frames: end,
    origin: 0,
    overlapLatents: 0,
    overlapFrames: 0,
    start: 0,
    end,
    emitStart: 0,
    emitEnd: 0,
  });
  while (end < totalFrames) {
    const newLatents = Math.min(maxLatents - 1 - o, Math.ceil((totalFrames - end) / t));
    const latentFrames = 1 + o + newLatents;
    const frames = t * (latentFrames - 1) + 1;
    const start = end - t * o;
    const origin = start - 1;
    end = origin + frames;
    clips.push({
      index: clips.length,
      latentFrames,
      frames,
      origin,
      overlapLatents: o,
      overlapFrames: t * o,
      start,
      end,
      emitStart: 0,
      emitEnd: 0,
    });
  }
  clips.forEach((clip, k) => {
    const next = clips[k + 1];
    clip.emitStart = k === 0 ? 0 : clip.start;
    clip.emitEnd = next ? next.start : Math.min(clip.end, totalFrames);
  });
  return clips;
}

/** Global frames [first, last] of latent frame `i` of `clip` (latent 0 is one frame). */
export function latentFrameSpan(
  clip: RenderClip,
  i: number,
  temporalStride: number,
): [number, number] {
  if (i === 0) return [clip.origin, clip.origin];
  return [clip.origin + temporalStride * (i - 1) + 1, clip.origin + temporalStride * i];
}
