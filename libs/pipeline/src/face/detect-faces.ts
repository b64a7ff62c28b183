import { type InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import { PipelineInputError } from '../errors';
import {
  type Anchor,
  BLAZEFACE_COORDS,
  BLAZEFACE_INPUT_SIZE,
  type FaceRect,
  type FacePoint,
  type RawFaceDetection,
  blazeFaceAnchors,
  decodeBlazeFace,
  intersectionOverUnion,
  weightedNonMaxSuppression,
} from './blazeface';
import type { DetectedFace, FaceDetection, RgbImage } from './face.types';
import { type ImageInput, loadRgbImage } from './image';

export interface DetectFacesOptions {
  /** Lowest detector confidence kept, 0..1 (default 0.75, MediaPipe's front-model setting). */
  minScore?: number;
  /** Detections overlapping more than this (IoU) are merged (default 0.3, as MediaPipe). */
  iouThreshold?: number;
  /**
   * Look again at each face found, in a square around it at the model's working scale (default
   * true). The front model is made for selfies: in a whole photo a face may be 15 px of its
   * 128 px input, which leaves keypoints a few photo pixels off and confidence low.
   */
  refine?: boolean;
}

export const DEFAULT_MIN_FACE_SCORE = 0.75;
export const DEFAULT_FACE_IOU_THRESHOLD = 0.3;
/** First-pass confidence for candidates that the refining pass must then confirm. */
const CANDIDATE_SCORE = 0.5;
/** The refining square's side, in face box sides: the face then fills ~45 % of the input. */
const REFINE_CONTEXT = 2.2;
/** At most this many candidates are refined (each is one more detector run). */
const MAX_REFINED = 16;

let anchorCache: Anchor[] | undefined;

/** A square of the photo, in photo pixels; it may reach outside the photo (black there). */
interface Square {
  x: number;
  y: number;
  side: number;
}

/** A detection in photo pixels, not yet clamped to the photo. */
type PixelDetection = RawFaceDetection;

/**
 * Finds faces with BlazeFace (the pack's `faceDetector` session). The photo is decoded with its
 * EXIF orientation applied and letterboxed into the 128×128 input (aspect ratio kept, black
 * bars, RGB in −1..1); anchors are decoded, merged by weighted NMS and mapped back to the photo;
 * then each face is looked at again in a square around it (`refine`). Boxes and keypoints of
 * faces cut by the border are clamped to the photo; `size` keeps the unclamped box side.
 * Best first.
 *
 * The model's outputs are taken by shape, so both MediaPipe's single [1, 896, 1] / [1, 896, 16]
 * pair and the per-grid pairs of the packaged ONNX file ([1, 512, ·] for the stride-8 grid,
 * [1, 384, ·] for stride 16) work: anchor groups are concatenated largest first.
 */
export async function detectFaces(
  session: InferenceSession,
  image: ImageInput,
  options: DetectFacesOptions = {},
): Promise<FaceDetection> {
  const minScore = fraction('minScore', options.minScore ?? DEFAULT_MIN_FACE_SCORE);
  const iouThreshold = fraction('iouThreshold', options.iouThreshold ?? DEFAULT_FACE_IOU_THRESHOLD);
  const refine = options.refine ?? true;
  const [inputName, ...extraInputs] = session.inputNames;
  if (inputName === undefined || extraInputs.length > 0) {
    throw new Error(`the face detector must have one input, it has [${session.inputNames}]`);
  }
  const rgb = await loadRgbImage(image);
  const detect = (square: Square, threshold: number): Promise<PixelDetection[]> =>
    detectInSquare(session, inputName, rgb, square, threshold, iouThreshold);

  const side = Math.max(rgb.width, rgb.height);
  const whole = { x: (rgb.width - side) / 2, y: (rgb.height - side) / 2, side };
  let found: PixelDetection[];
  if (!refine) {
    found = await detect(whole, minScore);
  } else {
    const candidates = await detect(whole, Math.min(minScore, CANDIDATE_SCORE));
    found = [];
    for (const candidate of candidates.slice(0, MAX_REFINED)) {
      const b = candidate.box;
      const context = REFINE_CONTEXT * Math.max(b.x1 - b.x0, b.y1 - b.y0);
      const square = {
        x: (b.x0 + b.x1 - context) / 2,
        y: (b.y0 + b.y1 - context) / 2,
        side: context,
      };
      // The first pass's box of a small face is loose: match by centre, not by overlap.
      const closer = (await detect(square, Math.min(minScore, CANDIDATE_SCORE))).find((d) => {
        const cx = (d.box.x0 + d.box.x1) / 2;
        const cy = (d.box.y0 + d.box.y1) / 2;
        return cx > b.x0 && cx < b.x1 && cy > b.y0 && cy < b.y1;
      });
      // The closer look places the face better; either look may be the more confident.
      const best = closer
        ? { ...closer, score: Math.max(closer.score, candidate.score) }
        : candidate;
      if (best.score >= minScore) found.push(best);
    }
    // Two candidates may have refined to the same face: keep the better one.
    found.sort((a, b) => b.score - a.score);
    found = found.filter(
      (d, i) => !found.slice(0, i).some((e) => intersectionOverUnion(d.box, e.box) > iouThreshold),
    );
  }

  const clampX = (x: number): number => Math.min(rgb.width, Math.max(0, x));
  const clampY = (y: number): number => Math.min(rgb.height, Math.max(0, y));
  const clamp = (p: FacePoint): FacePoint => ({ x: clampX(p.x), y: clampY(p.y) });
  const faces: DetectedFace[] = [];
  for (const d of found) {
    const box: FaceRect = {
      x0: clampX(d.box.x0),
      y0: clampY(d.box.y0),
      x1: clampX(d.box.x1),
      y1: clampY(d.box.y1),
    };
    if (box.x1 <= box.x0 || box.y1 <= box.y0) continue; // wholly in the letterbox bars
    const keypoints = d.keypoints.map(clamp);
    faces.push({
      score: d.score,
      box,
      keypoints,
      normalized: {
        box: {
          x0: box.x0 / rgb.width,
          y0: box.y0 / rgb.height,
          x1: box.x1 / rgb.width,
          y1: box.y1 / rgb.height,
        },
        keypoints: keypoints.map((p) => ({ x: p.x / rgb.width, y: p.y / rgb.height })),
      },
      size: Math.max(d.box.x1 - d.box.x0, d.box.y1 - d.box.y0),
    });
  }
  return { width: rgb.width, height: rgb.height, faces };
}

function fraction(field: string, value: number): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new PipelineInputError(field, `must be a number in [0, 1], got ${String(value)}`);
  }
  return value;
}

/** Runs the detector on `square` of the photo; detections in photo pixels, best first. */
async function detectInSquare(
  session: InferenceSession,
  inputName: string,
  rgb: RgbImage,
  square: Square,
  minScore: number,
  iouThreshold: number,
): Promise<PixelDetection[]> {
  const size = BLAZEFACE_INPUT_SIZE;
  const { input, toPhoto } = await squareInput(rgb, square, size);
  const outputs = await session.run({
    [inputName]: new Tensor('float32', input, [1, size, size, 3]),
  });
  const { logits, regressors } = gatherOutputs(outputs);
  anchorCache ??= blazeFaceAnchors(size);
  const detections = weightedNonMaxSuppression(
    decodeBlazeFace(logits, regressors, anchorCache, minScore, size),
    iouThreshold,
  );
  return detections.map((d) => {
    const p0 = toPhoto({ x: d.box.x0, y: d.box.y0 });
    const p1 = toPhoto({ x: d.box.x1, y: d.box.y1 });
    return {
      score: d.score,
      box: { x0: p0.x, y0: p0.y, x1: p1.x, y1: p1.y },
      keypoints: d.keypoints.map(toPhoto),
    };
  });
}

/**
 * `square` of the photo as the model input (NHWC RGB in −1..1, black where the square leaves
 * the photo), and the map from input-normalised coordinates back to photo pixels.
 */
async function squareInput(
  rgb: RgbImage,
  square: Square,
  size: number,
): Promise<{ input: Float32Array; toPhoto: (p: FacePoint) => FacePoint }> {
  const scale = size / square.side;
  // The part of the photo inside the square, in whole pixels, and where it lands in the input.
  const x0 = Math.max(0, Math.floor(square.x));
  const y0 = Math.max(0, Math.floor(square.y));
  const x1 = Math.min(rgb.width, Math.ceil(square.x + square.side));
  const y1 = Math.min(rgb.height, Math.ceil(square.y + square.side));
  const left = Math.min(size - 1, Math.max(0, Math.round((x0 - square.x) * scale)));
  const top = Math.min(size - 1, Math.max(0, Math.round((y0 - square.y) * scale)));
  const width = Math.max(1, Math.min(size - left, Math.round((x1 - x0) * scale)));
  const height = Math.max(1, Math.min(size - top, Math.round((y1 - y0) * scale)));
  const input = new Float32Array(size * size * 3).fill(-1);
  if (x1 > x0 && y1 > y0) {
    const pixels = await sharp(rgb.data, {
      raw: { width: rgb.width, height: rgb.height, channels: 3 },
    })
      .extract({ left: x0, top: y0, width: x1 - x0, height: y1 - y0 })
      .resize(width, height, { fit: 'fill' })
      .raw()
      .toBuffer();
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width * 3; x++) {
        input[((top + y) * size + left) * 3 + x] =
          (pixels[y * width * 3 + x] as number) / 127.5 - 1;
      }
    }
  }
  const toPhoto = (p: FacePoint): FacePoint => ({
    x: x0 + ((p.x * size - left) / width) * (x1 - x0),
    y: y0 + ((p.y * size - top) / height) * (y1 - y0),
  });
  return { input, toPhoto };
}

/** Score logits and regressors of every anchor, anchor groups concatenated largest first. */
function gatherOutputs(outputs: InferenceSession.OnnxValueMapType): {
  logits: Float32Array;
  regressors: Float32Array;
} {
  const scores = new Map<number, Float32Array>();
  const boxes = new Map<number, Float32Array>();
  for (const [name, value] of Object.entries(outputs)) {
    const dims = value.dims;
    const last = dims[dims.length - 1];
    const anchors = dims.length === 3 && dims[0] === 1 ? (dims[1] as number) : -1;
    const target = last === 1 ? scores : last === BLAZEFACE_COORDS ? boxes : undefined;
    if (anchors < 1 || target === undefined || target.has(anchors) || value.type !== 'float32') {
      throw new Error(`unexpected face detector output "${name}" [${dims.join(', ')}]`);
    }
    target.set(anchors, value.data as Float32Array);
  }
  const groups = [...scores.keys()].sort((a, b) => b - a);
  if (groups.length !== boxes.size || groups.some((n) => !boxes.has(n))) {
    throw new Error(
      'the face detector outputs do not pair up into scores and boxes per anchor group',
    );
  }
  const total = groups.reduce((a, b) => a + b, 0);
  const logits = new Float32Array(total);
  const regressors = new Float32Array(total * BLAZEFACE_COORDS);
  let offset = 0;
  for (const n of groups) {
    logits.set(scores.get(n) as Float32Array, offset);
    regressors.set(boxes.get(n) as Float32Array, offset * BLAZEFACE_COORDS);
    offset += n;
  }
  return { logits, regressors };
}
