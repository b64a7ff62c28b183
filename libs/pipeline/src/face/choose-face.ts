import { FaceError } from './face.errors';
import type { DetectedFace } from './face.types';

export interface ChooseFaceOptions {
  /**
   * Smallest usable face: the larger side of its box in photo pixels (default 64). The identity
   * chip is 150 px with about 110 px of face, so smaller faces are upscaled more than twice.
   */
  minFaceSize?: number;
}

export const DEFAULT_MIN_FACE_SIZE = 64;

function describe(faces: readonly DetectedFace[]): string {
  return faces
    .map((f, i) => {
      const b = f.box;
      return `#${i} (${Math.round(b.x0)}, ${Math.round(b.y0)})–(${Math.round(b.x1)}, ${Math.round(b.y1)}) score ${f.score.toFixed(2)}`;
    })
    .join(', ');
}

/**
 * The avatar's face among `faces` (as `detectFaces` lists them, best first). With `faceIndex`,
 * that face; without, the only face big enough to use — faces below `minFaceSize` (people far
 * in the background) do not count. Throws a FaceError: NO_FACE, SEVERAL_FACES (listing the
 * faces, so the caller can pass a `faceIndex`), FACE_INDEX_OUT_OF_RANGE or FACE_TOO_SMALL.
 */
export function chooseFace(
  faces: readonly DetectedFace[],
  faceIndex?: number,
  options: ChooseFaceOptions = {},
): DetectedFace {
  const minFaceSize = options.minFaceSize ?? DEFAULT_MIN_FACE_SIZE;
  if (!Number.isFinite(minFaceSize) || minFaceSize < 0) {
    throw new RangeError(`minFaceSize must be a finite number ≥ 0, got ${minFaceSize}`);
  }
  if (faces.length === 0) throw new FaceError('NO_FACE', 'no face was found in the image');

  const tooSmall = (face: DetectedFace): FaceError =>
    new FaceError(
      'FACE_TOO_SMALL',
      `the face is ${Math.round(face.size)} px, at least ${minFaceSize} px are needed`,
      faces,
    );

  if (faceIndex !== undefined) {
    if (!Number.isSafeInteger(faceIndex) || faceIndex < 0 || faceIndex >= faces.length) {
      throw new FaceError(
        'FACE_INDEX_OUT_OF_RANGE',
        `faceIndex ${String(faceIndex)} is not one of the ${faces.length} faces found (0–${faces.length - 1}): ${describe(faces)}`,
        faces,
      );
    }
    const face = faces[faceIndex] as DetectedFace;
    if (face.size < minFaceSize) throw tooSmall(face);
    return face;
  }

  const usable = faces.filter((f) => f.size >= minFaceSize);
  const [only, ...others] = usable;
  if (only === undefined) throw tooSmall(faces[0] as DetectedFace);
  if (others.length > 0) {
    throw new FaceError(
      'SEVERAL_FACES',
      `${usable.length} faces were found; choose one with faceIndex: ${describe(faces)}`,
      faces,
    );
  }
  return only;
}
