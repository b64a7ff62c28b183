// What a viewer would notice in a rendered video, as numbers: the measurements of the viewer
// tests (viewer.spec.ts) and of anyone checking a render by hand. Frames are packed RGB24
// (height · width · 3 bytes per frame, frames back to back), as a FrameSink receives them.
import { PipelineInputError, requireInteger } from '../errors';

/** A pixel rectangle [x0, x1) × [y0, y1). */
export interface PixelRect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Pearson's correlation coefficient of two equally long series (0 when either is constant). */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length || n < 2) {
    throw new PipelineInputError(
      'y',
      `needs two series of the same length ≥ 2, got ${n} and ${y.length}`,
    );
  }
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] as number;
    my += y[i] as number;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] as number) - mx;
    const dy = (y[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

/** The median (mean of the middle two for an even count). */
export function median(values: ArrayLike<number>): number {
  if (values.length === 0) throw new PipelineInputError('values', 'is empty');
  const sorted = Array.from(values).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) throw new PipelineInputError('values', 'is empty');
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] as number;
  return s / values.length;
}

/** How many whole width × height RGB24 frames `frames` holds (throws on a partial frame). */
export function frameCount(frames: Uint8Array, width: number, height: number): number {
  requireInteger('width', width, 1);
  requireInteger('height', height, 1);
  const bytes = width * height * 3;
  if (frames.length % bytes !== 0) {
    throw new PipelineInputError(
      'frames',
      `${frames.length} bytes are not whole ${width}×${height} RGB24 frames`,
    );
  }
  return frames.length / bytes;
}

/** Frame `index` of packed RGB24 frames (a view, no copy). */
export function frameAt(
  frames: Uint8Array,
  width: number,
  height: number,
  index: number,
): Uint8Array {
  const bytes = width * height * 3;
  if (!Number.isSafeInteger(index) || index < 0 || (index + 1) * bytes > frames.length) {
    throw new PipelineInputError(
      'index',
      `frame ${index} is not in the ${frames.length / bytes} frames`,
    );
  }
  return frames.subarray(index * bytes, (index + 1) * bytes);
}

/** `rect` rounded outwards and clamped to the picture. */
export function clampRect(rect: PixelRect, width: number, height: number): PixelRect {
  const r = {
    x0: Math.max(0, Math.floor(rect.x0)),
    y0: Math.max(0, Math.floor(rect.y0)),
    x1: Math.min(width, Math.ceil(rect.x1)),
    y1: Math.min(height, Math.ceil(rect.y1)),
  };
  if (r.x1 <= r.x0 || r.y1 <= r.y0) {
    throw new PipelineInputError(
      'rect',
      `(${rect.x0}, ${rect.y0})–(${rect.x1}, ${rect.y1}) is empty inside ${width}×${height}`,
    );
  }
  return r;
}

/**
 * Mean absolute difference (0–255, over the 3 channels) between two RGB24 pictures of
 * width × height, inside `inside` (default: everything) and outside `outside` (default: nothing
 * excluded).
 */
export function meanAbsDifference(
  a: Uint8Array,
  b: Uint8Array,
  width: number,
  height: number,
  region: { inside?: PixelRect; outside?: PixelRect } = {},
): number {
  if (a.length !== width * height * 3 || b.length !== a.length) {
    throw new PipelineInputError(
      'b',
      `both pictures must be ${width}·${height}·3 bytes, got ${a.length} and ${b.length}`,
    );
  }
  const inside = region.inside
    ? clampRect(region.inside, width, height)
    : { x0: 0, y0: 0, x1: width, y1: height };
  const outside = region.outside;
  let sum = 0;
  let count = 0;
  for (let y = inside.y0; y < inside.y1; y++) {
    for (let x = inside.x0; x < inside.x1; x++) {
      if (outside && x >= outside.x0 && x < outside.x1 && y >= outside.y0 && y < outside.y1)
        continue;
      const p = 3 * (y * width + x);
      sum +=
        Math.abs(a[p]! - b[p]!) + Math.abs(a[p + 1]! - b[p + 1]!) + Math.abs(a[p + 2]! - b[p + 2]!);
      count += 3;
    }
  }
  if (count === 0) throw new PipelineInputError('region', 'holds no pixels');
  return sum / count;
}

/**
 * Per frame, how far `rect` has moved away from the still `reference` picture: the mean absolute
 * difference inside `rect` (0–255). For the mouth region this is how open the mouth is; for the
 * eye band, how far the head has swayed.
 */
export function regionMotion(
  frames: Uint8Array,
  reference: Uint8Array,
  width: number,
  height: number,
  rect: PixelRect,
): Float64Array {
  const n = frameCount(frames, width, height);
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    out[k] = meanAbsDifference(frameAt(frames, width, height, k), reference, width, height, {
      inside: rect,
    });
  }
  return out;
}

/** d[k] = mean |frame k+1 − frame k| over the whole picture, k = 0 … n − 2 (0–255). */
export function frameDifferences(frames: Uint8Array, width: number, height: number): Float64Array {
  const n = frameCount(frames, width, height);
  const out = new Float64Array(Math.max(0, n - 1));
  for (let k = 0; k + 1 < n; k++) {
    out[k] = meanAbsDifference(
      frameAt(frames, width, height, k),
      frameAt(frames, width, height, k + 1),
      width,
      height,
    );
  }
  return out;
}

/**
 * Seam check for a render written in clips: `joins` are the indices of the first frame of each
 * later clip. The transitions into and out of each join (differences[j − 1] and differences[j])
 * against the median of all other frame-to-frame differences. A ratio ≤ 1 means a join looks
 * like any other frame change.
 */
export function seamRatio(
  differences: ArrayLike<number>,
  joins: readonly number[],
): { joinMax: number; medianElsewhere: number; ratio: number } {
  const atJoin = new Set<number>();
  for (const j of joins) {
    if (!Number.isSafeInteger(j) || j < 1 || j > differences.length) {
      throw new PipelineInputError(
        'joins',
        `frame ${j} is not inside the ${differences.length + 1} frames`,
      );
    }
    atJoin.add(j - 1);
    if (j < differences.length) atJoin.add(j);
  }
  const join: number[] = [];
  const elsewhere: number[] = [];
  for (let k = 0; k < differences.length; k++)
    (atJoin.has(k) ? join : elsewhere).push(differences[k] as number);
  if (join.length === 0 || elsewhere.length === 0) {
    throw new PipelineInputError('joins', 'need differences both at and away from the joins');
  }
  const joinMax = Math.max(...join);
  const medianElsewhere = median(elsewhere);
  return {
    joinMax,
    medianElsewhere,
    ratio: medianElsewhere > 0 ? joinMax / medianElsewhere : Infinity,
  };
}

/**
 * Loudness per video frame in dB: 10·log10 of the mean square of the samples of frame k's
 * interval [k/fps, (k+1)/fps) (floored at `floorDb`, default −80). Frames past the end of the
 * audio count as silence.
 */
export function frameLoudnessDb(
  samples: Float32Array,
  sampleRate: number,
  fps: number,
  frames: number,
  floorDb = -80,
): Float64Array {
  const out = new Float64Array(frames);
  for (let k = 0; k < frames; k++) {
    const start = Math.round((k * sampleRate) / fps);
    const end = Math.round(((k + 1) * sampleRate) / fps);
    let sum = 0;
    for (let i = start; i < end; i++) {
      const v = i < samples.length ? (samples[i] as number) : 0;
      sum += v * v;
    }
    const ms = end > start ? sum / (end - start) : 0;
    out[k] = Math.max(floorDb, ms > 0 ? 10 * Math.log10(ms) : floorDb);
  }
  return out;
}

/** A normalised rect (0..1, as face boxes are given) in pixels of a width × height picture. */
export function toPixelRect(rect: PixelRect, width: number, height: number): PixelRect {
  return { x0: rect.x0 * width, y0: rect.y0 * height, x1: rect.x1 * width, y1: rect.y1 * height };
}

/** `rect` grown about its centre by `factor` (1.5 = half as wide and high again). */
export function scaleRect(rect: PixelRect, factor: number): PixelRect {
  const cx = (rect.x0 + rect.x1) / 2;
  const cy = (rect.y0 + rect.y1) / 2;
  const hw = ((rect.x1 - rect.x0) * factor) / 2;
  const hh = ((rect.y1 - rect.y0) * factor) / 2;
  return { x0: cx - hw, y0: cy - hh, x1: cx + hw, y1: cy + hh };
}
