import { chooseFace } from './choose-face';
import { FaceError } from './face.errors';
import type { DetectedFace } from './face.types';

function face(x0: number, side: number, score = 0.9): DetectedFace {
  const box = { x0, y0: 10, x1: x0 + side, y1: 10 + side };
  const keypoints = Array.from({ length: 6 }, () => ({ x: x0 + side / 2, y: 10 + side / 2 }));
  return {
    score,
    box,
    keypoints,
    normalized: { box, keypoints },
    size: side,
  };
}

function errorOf(fn: () => unknown): FaceError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FaceError) return e;
    throw e;
  }
  throw new Error('expected a FaceError');
}

describe('chooseFace', () => {
  const big = face(0, 200);
  const other = face(300, 150, 0.8);
  const tiny = face(600, 30, 0.95);

  it('takes the only face', () => {
    expect(chooseFace([big])).toBe(big);
  });

  it('NO_FACE on field image when nothing was found', () => {
    const e = errorOf(() => chooseFace([]));
    expect([e.code, e.field]).toEqual(['NO_FACE', 'image']);
  });

  it('SEVERAL_FACES on field faceIndex, listing every face with its box', () => {
    const e = errorOf(() => chooseFace([big, other]));
    expect([e.code, e.field]).toEqual(['SEVERAL_FACES', 'faceIndex']);
    expect(e.faces).toEqual([big, other]);
    expect(e.message).toContain('#0 (0, 10)–(200, 210)');
    expect(e.message).toContain('#1 (300, 10)–(450, 160)');
  });

  it('takes the face a faceIndex names', () => {
    expect(chooseFace([big, other], 1)).toBe(other);
    expect(chooseFace([big, other], 0)).toBe(big);
  });

  it('FACE_INDEX_OUT_OF_RANGE for an index that names no face', () => {
    for (const index of [2, -1, 0.5, Number.NaN]) {
      const e = errorOf(() => chooseFace([big, other], index));
      expect([e.code, e.field]).toEqual(['FACE_INDEX_OUT_OF_RANGE', 'faceIndex']);
      expect(e.faces).toHaveLength(2);
    }
  });

  it('FACE_TOO_SMALL (field image) below the configurable minimum size', () => {
    expect([
      errorOf(() => chooseFace([tiny])).code,
      errorOf(() => chooseFace([tiny])).field,
    ]).toEqual(['FACE_TOO_SMALL', 'image']);
    expect(errorOf(() => chooseFace([big, tiny], 1)).code).toBe('FACE_TOO_SMALL');
    expect(chooseFace([tiny], undefined, { minFaceSize: 24 })).toBe(tiny);
    expect(errorOf(() => chooseFace([other], 0, { minFaceSize: 151 })).code).toBe('FACE_TOO_SMALL');
  });

  it('does not count faces too small to use (people far behind) as a second face', () => {
    expect(chooseFace([tiny, big])).toBe(big);
    expect(errorOf(() => chooseFace([tiny, big, other])).code).toBe('SEVERAL_FACES');
  });
});
