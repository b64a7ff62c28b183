import type { AvatarFailureReason } from '@likeness/contracts';
import type { DetectedFace } from './face.types';

/** Why a photo cannot give an avatar face; the same codes as the avatar's failure reason. */
export type FaceErrorCode = Exclude<AvatarFailureReason, 'INTERNAL'>;

/** The request field a FaceError is about: the photo itself, or the caller's face choice. */
export type FaceErrorField = 'image' | 'faceIndex';

const FIELD: Record<FaceErrorCode, FaceErrorField> = {
  NO_FACE: 'image',
  SEVERAL_FACES: 'faceIndex',
  FACE_INDEX_OUT_OF_RANGE: 'faceIndex',
  FACE_TOO_SMALL: 'image',
  IMAGE_UNUSABLE: 'image',
};

/**
 * The photo cannot be used as it is, or the caller must choose a face. `faces` lists what was
 * found (with boxes) so a caller can retry with a `faceIndex`.
 */
export class FaceError extends Error {
  readonly field: FaceErrorField;

  constructor(
    readonly code: FaceErrorCode,
    message: string,
    readonly faces: readonly DetectedFace[] = [],
  ) {
    super(message);
    this.name = 'FaceError';
    this.field = FIELD[code];
  }
}
