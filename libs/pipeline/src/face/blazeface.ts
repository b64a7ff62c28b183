/**
 * Decoding of MediaPipe BlazeFace (front, 128×128) outputs, as MediaPipe's face_detection_front
 * graph does it: SSD anchors (SsdAnchorsCalculator), box + keypoint decoding and sigmoid scores
 * (TensorsToDetectionsCalculator), weighted non-maximum suppression (NonMaxSuppressionCalculator,
 * WEIGHTED). Coordinates are in the model input's normalised frame (0..1, y down).
 */

/** BlazeFace keypoint order (the subject's right eye is on the image's left). */
export const FACE_KEYPOINT_NAMES = [
  'rightEye',
  'leftEye',
  'noseTip',
  'mouth',
  'rightEar',
  'leftEar',
] as const;
export type FaceKeypointName = (typeof FACE_KEYPOINT_NAMES)[number];

export const BLAZEFACE_INPUT_SIZE = 128;
/** Values per anchor in the regressor output: box (x, y, w, h) + 6 keypoints (x, y). */
export const BLAZEFACE_COORDS = 16;

export interface FacePoint {
  x: number;
  y: number;
}

export interface FaceRect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A decoded detection in the model input's normalised frame. */
export interface RawFaceDetection {
  score: number;
  box: FaceRect;
  keypoints: FacePoint[];
}

export interface Anchor {
  x: number;
  y: number;
}

/**
 * The front model's 896 anchor centres: layers with strides 8, 16, 16, 16 on a 128 input; layers
 * of equal stride share a grid, each layer adding 2 anchors per cell (aspect ratio 1 and the
 * interpolated scale), so 16×16×2 + 8×8×6. Fixed anchor size: every anchor is 1×1.
 */
export function blazeFaceAnchors(
  inputSize: number = BLAZEFACE_INPUT_SIZE,
  strides: readonly number[] = [8, 16, 16, 16],
): Anchor[] {
  const anchors: Anchor[] = [];
  let layer = 0;
  while (layer < strides.length) {
    const stride = strides[layer] as number;
    let perCell = 0;
    while (layer < strides.length && strides[layer] === stride) {
      perCell += 2;
      layer++;
    }
    const cells = Math.ceil(inputSize / stride);
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let a = 0; a < perCell; a++)
          anchors.push({ x: (x + 0.5) / cells, y: (y + 0.5) / cells });
      }
    }
  }
  return anchors;
}

const SCORE_CLIP = 100;

function sigmoid(logit: number): number {
  const v = Math.min(SCORE_CLIP, Math.max(-SCORE_CLIP, logit));
  return 1 / (1 + Math.exp(-v));
}

/**
 * Every anchor whose sigmoid score reaches `minScore`, decoded. `logits` has one value per
 * anchor, `regressors` 16 per anchor (offsets in input pixels, x before y).
 */
export function decodeBlazeFace(
  logits: Float32Array,
  regressors: Float32Array,
  anchors: readonly Anchor[],
  minScore: number,
  inputSize: number = BLAZEFACE_INPUT_SIZE,
): RawFaceDetection[] {
  if (logits.length !== anchors.length || regressors.length !== anchors.length * BLAZEFACE_COORDS) {
    throw new RangeError(
      `BlazeFace outputs have ${logits.length} scores and ${regressors.length} coordinates for ${anchors.length} anchors`,
    );
  }
  const found: RawFaceDetection[] = [];
  for (let i = 0; i < anchors.length; i++) {
    const score = sigmoid(logits[i] as number);
    if (score < minScore) continue;
    const { x: ax, y: ay } = anchors[i] as Anchor;
    const r = (k: number): number => (regressors[i * BLAZEFACE_COORDS + k] as number) / inputSize;
    const cx = ax + r(0);
    const cy = ay + r(1);
    const w = r(2);
    const h = r(3);
    const keypoints: FacePoint[] = [];
    for (let k = 0; k < FACE_KEYPOINT_NAMES.length; k++) {
      keypoints.push({ x: ax + r(4 + 2 * k), y: ay + r(5 + 2 * k) });
    }
    found.push({
      score,
      box: { x0: cx - w / 2, y0: cy - h / 2, x1: cx + w / 2, y1: cy + h / 2 },
      keypoints,
    });
  }
  return found;
}

function area(b: FaceRect): number {
  return Math.max(0, b.x1 - b.x0) * Math.max(0, b.y1 - b.y0);
}

export function intersectionOverUnion(a: FaceRect, b: FaceRect): number {
  const inter = area({
    x0: Math.max(a.x0, b.x0),
    y0: Math.max(a.y0, b.y0),
    x1: Math.min(a.x1, b.x1),
    y1: Math.min(a.y1, b.y1),
  });
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * MediaPipe's weighted NMS: take the best remaining detection, gather every remaining one that
 * overlaps it by more than `iouThreshold` (itself included), and replace the group by the
 * score-weighted mean of its boxes and keypoints, keeping the best score. Best first.
 */
export function weightedNonMaxSuppression(
  detections: readonly RawFaceDetection[],
  iouThreshold: number,
): RawFaceDetection[] {
  let remaining = [...detections].sort((a, b) => b.score - a.score);
  const kept: RawFaceDetection[] = [];
  while (remaining.length > 0) {
    const best = remaining[0] as RawFaceDetection;
    const group: RawFaceDetection[] = [];
    const rest: RawFaceDetection[] = [];
    for (const d of remaining) {
      (intersectionOverUnion(best.box, d.box) > iouThreshold || d === best ? group : rest).push(d);
    }
    remaining = rest;
    if (group.length === 1) {
      kept.push(best);
      continue;
    }
    let total = 0;
    const box = { x0: 0, y0: 0, x1: 0, y1: 0 };
    const keypoints = best.keypoints.map(() => ({ x: 0, y: 0 }));
    for (const d of group) {
      total += d.score;
      box.x0 += d.score * d.box.x0;
      box.y0 += d.score * d.box.y0;
      box.x1 += d.score * d.box.x1;
      box.y1 += d.score * d.box.y1;
      d.keypoints.forEach((p, k) => {
        const sum = keypoints[k] as FacePoint;
        sum.x += d.score * p.x;
        sum.y += d.score * p.y;
      });
    }
    kept.push({
      score: best.score,
      box: { x0: box.x0 / total, y0: box.y0 / total, x1: box.x1 / total, y1: box.y1 / total },
      keypoints: keypoints.map((p) => ({ x: p.x / total, y: p.y / total })),
    });
  }
  return kept;
}
