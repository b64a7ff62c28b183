import sharp from 'sharp';
import { PipelineInputError, requireInteger } from '../errors';
import type { FacePoint } from './blazeface';
import { FaceError } from './face.errors';
import type { DetectedFace, RgbImage } from './face.types';
import { type ImageInput, loadRgbImage } from './image';

/**
 * Where dlib's face chips put the eyes, nose tip and mouth: the means of the matching points of
 * dlib's mean face shape (68-point model, the frame `get_face_chip_details` maps to the chip),
 * in 0..1 of the face region. BlazeFace keypoint order.
 */
const TEMPLATE: readonly FacePoint[] = [
  { x: 0.225492, y: 0.21599 }, // right eye: mean of points 36–41
  { x: 0.754761, y: 0.21599 }, // left eye: 42–47
  { x: 0.490127, y: 0.515625 }, // nose tip: 30
  { x: 0.490127, y: 0.804225 }, // mouth: mean of 48–67
];

/** dlib_face_recognition_resnet_model_v1 takes `get_face_chip_details(shape, 150, 0.25)`. */
export const IDENTITY_CROP_SIZE = 150;
export const IDENTITY_CROP_PADDING = 0.25;

/** An aligned face crop, ready for the identity encoder. */
export interface AlignedFace {
  size: number;
  /** size × size × 3 RGB bytes, row-major (for previews and checks). */
  rgb: Uint8Array;
  /** [1, 3, size, size] planar RGB in −1..1, the identity encoder's `face` input. */
  tensor: Float32Array;
}

/** x' = a·x − b·y + tx, y' = b·x + a·y + ty */
interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

/**
 * The crop the identity encoder wants: a `size`×`size` face chip as dlib makes them — a
 * similarity transform (rotation, uniform scale, shift; weighted least squares over the eyes,
 * nose tip and mouth) that puts the face's keypoints where dlib's mean face has them, with `padding`
 * (fraction of the face region) around. Bilinear sampling, black outside the photo; large faces
 * are first scaled down with sharp so the chip is not aliased.
 */
export async function alignFace(
  image: ImageInput,
  face: DetectedFace,
  size: number = IDENTITY_CROP_SIZE,
  padding: number = IDENTITY_CROP_PADDING,
): Promise<AlignedFace> {
  requireInteger('size', size, 16);
  if (typeof padding !== 'number' || !(padding >= 0 && padding <= 2)) {
    throw new PipelineInputError('padding', `must be a number in [0, 2], got ${String(padding)}`);
  }
  const rgb = await loadRgbImage(image);
  const chipPoints = TEMPLATE.map((p) => ({
    x: ((padding + p.x) / (1 + 2 * padding)) * size,
    y: ((padding + p.y) / (1 + 2 * padding)) * size,
  }));
  const facePoints = face.keypoints.slice(0, TEMPLATE.length);
  if (
    facePoints.length !== TEMPLATE.length ||
    !facePoints.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
  ) {
    throw new FaceError('IMAGE_UNUSABLE', 'the face has no usable eye, nose and mouth keypoints');
  }
  const toImage = fitSimilarity(chipPoints, facePoints);
  const scale = Math.hypot(toImage.a, toImage.b); // photo pixels per chip pixel
  if (!(scale > 0)) throw new FaceError('IMAGE_UNUSABLE', 'the face keypoints coincide');

  // Photo pixels the chip covers.
  const corners = [
    [0, 0],
    [size - 1, 0],
    [0, size - 1],
    [size - 1, size - 1],
  ].map(([u, v]) => apply(toImage, u as number, v as number));
  const left = Math.max(0, Math.floor(Math.min(...corners.map((p) => p.x))) - 2);
  const top = Math.max(0, Math.floor(Math.min(...corners.map((p) => p.y))) - 2);
  const right = Math.min(rgb.width, Math.ceil(Math.max(...corners.map((p) => p.x))) + 3);
  const bottom = Math.min(rgb.height, Math.ceil(Math.max(...corners.map((p) => p.y))) + 3);
  if (right <= left || bottom <= top) {
    throw new FaceError('IMAGE_UNUSABLE', 'the face lies outside the image');
  }

  // Sample from that region, scaled down first when the chip would skip photo pixels.
  let source: RgbImage = rgb;
  let map = (p: FacePoint): FacePoint => p;
  if (scale > 1.25) {
    const width = right - left;
    const height = bottom - top;
    const outW = Math.max(1, Math.round(width / scale));
    const outH = Math.max(1, Math.round(height / scale));
    const data = await sharp(rgb.data, {
      raw: { width: rgb.width, height: rgb.height, channels: 3 },
    })
      .extract({ left, top, width, height })
      .resize(outW, outH, { fit: 'fill' })
      .raw()
      .toBuffer();
    source = {
      width: outW,
      height: outH,
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    };
    const sx = outW / width;
    const sy = outH / height;
    // pixel centres: x' + ½ = (x − left + ½)·sx
    map = (p) => ({ x: (p.x - left + 0.5) * sx - 0.5, y: (p.y - top + 0.5) * sy - 0.5 });
  }

  const out = new Uint8Array(size * size * 3);
  const tensor = new Float32Array(3 * size * size);
  const plane = size * size;
  const pixel = [0, 0, 0];
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const p = map(apply(toImage, u, v));
      bilinear(source, p.x, p.y, pixel);
      const o = v * size + u;
      for (let c = 0; c < 3; c++) {
        const value = Math.round(pixel[c] as number);
        out[o * 3 + c] = value;
        tensor[c * plane + o] = value / 127.5 - 1;
      }
    }
  }
  return { size, rgb: out, tensor };
}

function apply(t: Similarity, x: number, y: number): FacePoint {
  return { x: t.a * x - t.b * y + t.tx, y: t.b * x + t.a * y + t.ty };
}

/**
 * Weighted least-squares similarity transform taking `from` onto `to` (no reflection). The eyes
 * count twice: dlib fits its chips to four eye corners and the nose, so the eyes set the roll.
 */
const WEIGHTS = [2, 2, 1, 1];

function fitSimilarity(from: readonly FacePoint[], to: readonly FacePoint[]): Similarity {
  const w = (i: number): number => WEIGHTS[i] ?? 1;
  const total = from.reduce((s, _, i) => s + w(i), 0);
  const mean = (ps: readonly FacePoint[]): FacePoint => ({
    x: ps.reduce((s, p, i) => s + w(i) * p.x, 0) / total,
    y: ps.reduce((s, p, i) => s + w(i) * p.y, 0) / total,
  });
  const mf = mean(from);
  const mt = mean(to);
  let dot = 0;
  let cross = 0;
  let norm = 0;
  for (let i = 0; i < from.length; i++) {
    const fx = (from[i] as FacePoint).x - mf.x;
    const fy = (from[i] as FacePoint).y - mf.y;
    const tx = (to[i] as FacePoint).x - mt.x;
    const ty = (to[i] as FacePoint).y - mt.y;
    dot += w(i) * (fx * tx + fy * ty);
    cross += w(i) * (fx * ty - fy * tx);
    norm += w(i) * (fx * fx + fy * fy);
  }
  const a = dot / norm;
  const b = cross / norm;
  return { a, b, tx: mt.x - (a * mf.x - b * mf.y), ty: mt.y - (b * mf.x + a * mf.y) };
}

/** Bilinear sample at (x, y) (pixel centres on integers); black outside the image. */
function bilinear(image: RgbImage, x: number, y: number, out: number[]): void {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  let r = 0;
  let g = 0;
  let b = 0;
  for (let dy = 0; dy < 2; dy++) {
    const yy = y0 + dy;
    if (yy < 0 || yy >= image.height) continue;
    const wy = dy === 0 ? 1 - fy : fy;
    for (let dx = 0; dx < 2; dx++) {
      const xx = x0 + dx;
      if (xx < 0 || xx >= image.width) continue;
      const w = wy * (dx === 0 ? 1 - fx : fx);
      if (w === 0) continue;
      const k = (yy * image.width + xx) * 3;
      r += w * (image.data[k] as number);
      g += w * (image.data[k + 1] as number);
      b += w * (image.data[k + 2] as number);
    }
  }
  out[0] = r;
  out[1] = g;
  out[2] = b;
}
