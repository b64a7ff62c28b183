import {
  BLAZEFACE_COORDS,
  type RawFaceDetection,
  blazeFaceAnchors,
  decodeBlazeFace,
  intersectionOverUnion,
  weightedNonMaxSuppression,
} from './blazeface';

function detection(score: number, x0: number, y0: number, side: number): RawFaceDetection {
  return {
    score,
    box: { x0, y0, x1: x0 + side, y1: y0 + side },
    keypoints: Array.from({ length: 6 }, (_, k) => ({ x: x0 + k * 0.01, y: y0 + side / 2 })),
  };
}

describe('blazeFaceAnchors', () => {
  it('lays out 16×16×2 stride-8 anchors, then 8×8×6 stride-16 anchors, as MediaPipe', () => {
    const anchors = blazeFaceAnchors();
    expect(anchors).toHaveLength(896);
    // cell (0, 0) of the 16×16 grid, twice; then cell (1, 0)
    expect(anchors.slice(0, 3)).toEqual([
      { x: 0.5 / 16, y: 0.5 / 16 },
      { x: 0.5 / 16, y: 0.5 / 16 },
      { x: 1.5 / 16, y: 0.5 / 16 },
    ]);
    // row-major: anchor 2·16 starts row 1
    expect(anchors[32]).toEqual({ x: 0.5 / 16, y: 1.5 / 16 });
    // the 8×8 grid starts at 512 with 6 anchors per cell
    expect(anchors.slice(512, 519)).toEqual([
      ...Array.from({ length: 6 }, () => ({ x: 0.5 / 8, y: 0.5 / 8 })),
      { x: 1.5 / 8, y: 0.5 / 8 },
    ]);
    expect(anchors[895]).toEqual({ x: 7.5 / 8, y: 7.5 / 8 });
  });
});

describe('decodeBlazeFace', () => {
  it('decodes centre offsets, sizes and keypoints in input pixels, and sigmoid scores', () => {
    const anchors = [
      { x: 0.25, y: 0.5 },
      { x: 0.75, y: 0.75 },
    ];
    const logits = Float32Array.from([Math.log(0.9 / 0.1), Math.log(0.2 / 0.8)]);
    const regressors = new Float32Array(2 * BLAZEFACE_COORDS);
    // anchor 0: centre moved by (+12.8, −6.4) px, 32 × 64 px box, keypoint k at (+k, −k) px
    regressors.set([12.8, -6.4, 32, 64], 0);
    for (let k = 0; k < 6; k++) regressors.set([k, -k], 4 + 2 * k);
    const found = decodeBlazeFace(logits, regressors, anchors, 0.5, 128);
    expect(found).toHaveLength(1); // anchor 1 scores 0.2
    const [d] = found as [RawFaceDetection];
    expect(d.score).toBeCloseTo(0.9, 6);
    expect(d.box.x0).toBeCloseTo(0.25 + 0.1 - 0.125, 6);
    expect(d.box.x1).toBeCloseTo(0.25 + 0.1 + 0.125, 6);
    expect(d.box.y0).toBeCloseTo(0.5 - 0.05 - 0.25, 6);
    expect(d.box.y1).toBeCloseTo(0.5 - 0.05 + 0.25, 6);
    d.keypoints.forEach((p, k) => {
      expect(p.x).toBeCloseTo(0.25 + k / 128, 6);
      expect(p.y).toBeCloseTo(0.5 - k / 128, 6);
    });
  });

  it('clips extreme logits instead of overflowing, and checks the output sizes', () => {
    const anchors = [{ x: 0.5, y: 0.5 }];
    const found = decodeBlazeFace(
      Float32Array.of(1e6),
      new Float32Array(BLAZEFACE_COORDS),
      anchors,
      0.5,
    );
    expect(found[0]?.score).toBeCloseTo(1, 12);
    expect(() => decodeBlazeFace(new Float32Array(2), new Float32Array(16), anchors, 0.5)).toThrow(
      RangeError,
    );
  });
});

describe('weightedNonMaxSuppression', () => {
  it('merges overlapping detections into their score-weighted mean and keeps the best score', () => {
    const a = detection(0.9, 0.1, 0.1, 0.2);
    const b = detection(0.6, 0.12, 0.1, 0.2); // IoU with a ≈ 0.82
    const far = detection(0.8, 0.6, 0.6, 0.2);
    const kept = weightedNonMaxSuppression([b, far, a], 0.3);
    expect(kept).toHaveLength(2);
    const [merged, other] = kept as [RawFaceDetection, RawFaceDetection];
    expect(merged.score).toBe(0.9);
    expect(merged.box.x0).toBeCloseTo((0.9 * 0.1 + 0.6 * 0.12) / 1.5, 9);
    expect(merged.keypoints[5]?.x).toBeCloseTo((0.9 * 0.15 + 0.6 * 0.17) / 1.5, 9);
    expect(other).toEqual(far);
  });

  it('keeps detections that overlap less than the threshold apart', () => {
    const a = detection(0.9, 0, 0, 0.2);
    const b = detection(0.8, 0.15, 0, 0.2); // IoU = 0.05 / 0.35 ≈ 0.14
    expect(intersectionOverUnion(a.box, b.box)).toBeCloseTo(0.05 / 0.35, 9);
    expect(weightedNonMaxSuppression([a, b], 0.3)).toEqual([a, b]);
    expect(weightedNonMaxSuppression([a, b], 0.1)).toHaveLength(1);
  });
});
