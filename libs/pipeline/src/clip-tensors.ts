import { PipelineInputError } from './errors';

/** Sizes of one latent video [C, F', h, w] (batch dimension left out). */
export interface LatentGeometry {
  channels: number;
  latentFrames: number;
  height: number;
  width: number;
}

/** Channels copied between two yields to the event loop in the async builders below. */
const CHANNELS_PER_SLICE = 64;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Latent frame `i` of a latent [C, F', h, w] as a new [C, h, w] array. Async: copying out of a
 * SharedArrayBuffer goes element by element, so it yields to the event loop every 64 channels.
 */
export async function latentFrame(
  latent: Float32Array,
  g: LatentGeometry,
  i: number,
): Promise<Float32Array> {
  const plane = g.height * g.width;
  const out = new Float32Array(g.channels * plane);
  for (let c = 0; c < g.channels; c++) {
    const from = (c * g.latentFrames + i) * plane;
    out.set(latent.subarray(from, from + plane), c * plane);
    if (c % CHANNELS_PER_SLICE === CHANNELS_PER_SLICE - 1) await yieldToEventLoop();
  }
  return out;
}

/**
 * The denoiser's `condition` [t + C, F', h, w] for one row: channels 0..t−1 are the per-video-
 * frame "known" mask of each latent frame (1 = known; every video frame of a known latent frame
 * is known, the reference being its one frame repeated t times), channels t.. the known latent
 * frames ([C, h, w] each, by latent frame index) and 0 elsewhere.
 */
export async function buildCondition(
  g: LatentGeometry,
  maskChannels: number,
  known: ReadonlyMap<number, Float32Array>,
): Promise<Float32Array> {
  const plane = g.height * g.width;
  const framePlane = g.latentFrames * plane;
  const out = new Float32Array((maskChannels + g.channels) * framePlane);
  for (const [i, frame] of known) {
    if (!Number.isSafeInteger(i) || i < 0 || i >= g.latentFrames) {
      throw new PipelineInputError(
        'known',
        `latent frame ${i} is outside 0..${g.latentFrames - 1}`,
      );
    }
    if (frame.length !== g.channels * plane) {
      throw new PipelineInputError(
        'known',
        `latent frame ${i} has ${frame.length} values, need ${g.channels * plane}`,
      );
    }
    for (let m = 0; m < maskChannels; m++)
      out.fill(1, m * framePlane + i * plane, m * framePlane + (i + 1) * plane);
    for (let c = 0; c < g.channels; c++) {
      out.set(
        frame.subarray(c * plane, (c + 1) * plane),
        (maskChannels + c) * framePlane + i * plane,
      );
      if (c % CHANNELS_PER_SLICE === CHANNELS_PER_SLICE - 1) await yieldToEventLoop();
    }
  }
  return out;
}

/** Video frame `j` of a decoded video [3, F, H, W] as a new planar [3, H, W] array. */
export function videoFrame(
  video: Float32Array,
  frames: number,
  plane: number,
  j: number,
): Float32Array {
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const from = (c * frames + j) * plane;
    out.set(video.subarray(from, from + plane), c * plane);
  }
  return out;
}

/**
 * Weights of the incoming clip across an overlap of `n` frames: (k + 1)/(n + 1), so neither clip
 * ever has the whole say inside the overlap and the blend moves evenly from old to new.
 */
export function crossFadeWeights(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let k = 0; k < n; k++) w[k] = (k + 1) / (n + 1);
  return w;
}

/** (1 − w)·previous + w·next, element-wise, into a new array. */
export function crossFade(previous: Float32Array, next: Float32Array, w: number): Float32Array {
  if (previous.length !== next.length) {
    throw new PipelineInputError(
      'next',
      `has ${next.length} values, previous has ${previous.length}`,
    );
  }
  const out = new Float32Array(previous.length);
  const keep = 1 - w;
  for (let k = 0; k < out.length; k++)
    out[k] = keep * (previous[k] as number) + w * (next[k] as number);
  return out;
}
