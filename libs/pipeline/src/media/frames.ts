import { PipelineInputError, requireInteger } from '../errors';

/** One picture as 8-bit RGB, row-major, packed (height · width · 3 bytes): what ffmpeg's rgb24 is. */
export interface RgbFrame {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Throws a PipelineInputError naming `field` unless `frame` is a consistent RgbFrame. */
export function requireRgbFrame(field: string, frame: RgbFrame): RgbFrame {
  if (!frame || typeof frame !== 'object') throw new PipelineInputError(field, 'is required');
  requireInteger(`${field}.width`, frame.width, 1);
  requireInteger(`${field}.height`, frame.height, 1);
  if (!(frame.data instanceof Uint8Array) || frame.data.length !== frame.width * frame.height * 3) {
    throw new PipelineInputError(
      `${field}.data`,
      `must be ${frame.width}·${frame.height}·3 RGB bytes, got ${frame.data?.length ?? 'none'}`,
    );
  }
  return frame;
}

/**
 * Planar floats in −1..1 → packed RGB24. `planes` holds 3 planes of `pixels` values starting at
 * `offset`, `planeStride` apart ([3, H, W]: stride H·W; a frame of [3, F, H, W]: stride F·H·W).
 * Values are clamped; −1 → 0, 1 → 255, round to nearest.
 */
function planarToPacked(
  planes: Float32Array,
  offset: number,
  planeStride: number,
  pixels: number,
  out: Uint8Array,
): void {
  // A clamped view rounds and clamps on assignment (NaN → 0), faster than doing it by hand.
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, pixels * 3);
  const r = offset;
  const g = offset + planeStride;
  const b = offset + 2 * planeStride;
  for (let i = 0, o = 0; i < pixels; i++, o += 3) {
    clamped[o] = (planes[r + i]! + 1) * 127.5;
    clamped[o + 1] = (planes[g + i]! + 1) * 127.5;
    clamped[o + 2] = (planes[b + i]! + 1) * 127.5;
  }
}

/** [3, H, W] floats in −1..1 → an RgbFrame. */
export function chwToRgbFrame(chw: Float32Array, width: number, height: number): RgbFrame {
  requireInteger('width', width, 1);
  requireInteger('height', height, 1);
  if (!(chw instanceof Float32Array) || chw.length !== 3 * width * height) {
    throw new PipelineInputError('chw', `must be a Float32Array of 3·${height}·${width} values`);
  }
  const data = new Uint8Array(width * height * 3);
  planarToPacked(chw, 0, width * height, width * height, data);
  return { width, height, data };
}

/** The shape of a video chunk [3, F, H, W] (the vaeDecoder's `video` without its batch of 1). */
export interface VideoChunkShape {
  frames: number;
  height: number;
  width: number;
}

/** Checks `video` against `shape`; returns the values per plane (F·H·W). */
export function requireVideoChunk(video: Float32Array, shape: VideoChunkShape): number {
  const frames = requireInteger('frames', shape.frames, 1);
  const height = requireInteger('height', shape.height, 1);
  const width = requireInteger('width', shape.width, 1);
  const plane = frames * height * width;
  if (!(video instanceof Float32Array) || video.length !== 3 * plane) {
    throw new PipelineInputError(
      'video',
      `must be a Float32Array [3, ${frames}, ${height}, ${width}] (${3 * plane} values), got ${
        video instanceof Float32Array ? video.length : typeof video
      }`,
    );
  }
  return plane;
}

/**
 * Frame `index` of a video chunk [3, F, H, W] in −1..1 as packed RGB24, written into `out`
 * when given (H·W·3 bytes), else into a new buffer.
 */
export function videoFrameToRgb(
  video: Float32Array,
  shape: VideoChunkShape,
  index: number,
  out?: Uint8Array,
): RgbFrame {
  const plane = requireVideoChunk(video, shape);
  requireInteger('index', index, 0);
  if (index >= shape.frames) {
    throw new PipelineInputError('index', `must be < ${shape.frames}, got ${index}`);
  }
  const pixels = shape.width * shape.height;
  const data = out ?? new Uint8Array(pixels * 3);
  if (data.length !== pixels * 3) {
    throw new PipelineInputError('out', `must hold ${pixels * 3} bytes, got ${data.length}`);
  }
  planarToPacked(video, index * pixels, plane, pixels, data);
  return { width: shape.width, height: shape.height, data };
}

/** Packed RGB24 → [3, H, W] floats in −1..1 (exact inverse of the conversions above). */
export function rgbToChw(rgb: Uint8Array, width: number, height: number): Float32Array {
  const pixels = width * height;
  if (rgb.length !== pixels * 3) {
    throw new PipelineInputError('rgb', `must be ${width}·${height}·3 bytes, got ${rgb.length}`);
  }
  const out = new Float32Array(3 * pixels);
  for (let i = 0, p = 0; i < pixels; i++, p += 3) {
    out[i] = rgb[p]! / 127.5 - 1;
    out[pixels + i] = rgb[p + 1]! / 127.5 - 1;
    out[2 * pixels + i] = rgb[p + 2]! / 127.5 - 1;
  }
  return out;
}

/**
 * Peak signal-to-noise ratio in dB between two 8-bit pictures of the same size (any layout, the
 * same for both); `mask` (one byte per value, or per pixel when `a` is packed RGB) selects what
 * counts. Infinity when identical.
 */
export function psnr(a: Uint8Array, b: Uint8Array, mask?: Uint8Array): number {
  if (a.length !== b.length) {
    throw new PipelineInputError('b', `has ${b.length} values, a has ${a.length}`);
  }
  const perPixel = mask !== undefined && mask.length * 3 === a.length;
  if (mask !== undefined && !perPixel && mask.length !== a.length) {
    throw new PipelineInputError('mask', `must have ${a.length} or ${a.length / 3} entries`);
  }
  let sum = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (mask !== undefined && mask[perPixel ? (i / 3) | 0 : i] === 0) continue;
    const d = a[i]! - b[i]!;
    sum += d * d;
    n++;
  }
  if (n === 0) throw new PipelineInputError('mask', 'selects nothing');
  const mse = sum / n;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}
