import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import type { Avatar as AvatarRow, JsonValue } from '@likeness/db';
import { PageInfo } from '../identity/identity.model';

export enum AvatarStatus {
  PROCESSING = 'PROCESSING',
  READY = 'READY',
  FAILED = 'FAILED',
}
registerEnumType(AvatarStatus, {
  name: 'AvatarStatus',
  description: 'PROCESSING until a worker has looked at the photo; then READY or FAILED (final).',
});

/** The same codes as libs/contracts' AvatarFailureReason (worker events). */
export enum AvatarFailureReason {
  NO_FACE = 'NO_FACE',
  SEVERAL_FACES = 'SEVERAL_FACES',
  FACE_INDEX_OUT_OF_RANGE = 'FACE_INDEX_OUT_OF_RANGE',
  FACE_TOO_SMALL = 'FACE_TOO_SMALL',
  IMAGE_UNUSABLE = 'IMAGE_UNUSABLE',
  INTERNAL = 'INTERNAL',
}
registerEnumType(AvatarFailureReason, {
  name: 'AvatarFailureReason',
  description: 'Why an avatar could not be prepared.',
  valuesMap: {
    NO_FACE: { description: 'No face was found in the photo.' },
    SEVERAL_FACES: {
      description: 'Several faces and no faceIndex: `faces` lists them; create again with one.',
    },
    FACE_INDEX_OUT_OF_RANGE: { description: 'faceIndex is not one of the `faces` found.' },
    FACE_TOO_SMALL: { description: 'The face is too small in the photo to keep its identity.' },
    IMAGE_UNUSABLE: { description: 'The photo could not be decoded or read as a face.' },
    INTERNAL: { description: 'Our failure (not billed); creating the avatar again may work.' },
  },
});

@ObjectType({ description: 'A point in photo pixels (after EXIF orientation).' })
export class FacePoint {
  @Field(() => Float) x!: number;
  @Field(() => Float) y!: number;
}

@ObjectType({
  description: 'A face box in photo pixels: (x0, y0) top left, (x1, y1) bottom right.',
})
export class FaceBox {
  @Field(() => Float) x0!: number;
  @Field(() => Float) y0!: number;
  @Field(() => Float) x1!: number;
  @Field(() => Float) y1!: number;
}

@ObjectType({ description: 'A face the detector found.' })
export class DetectedFace {
  @Field(() => Int, { description: 'What to pass as faceIndex to choose this face.' })
  index!: number;
  @Field(() => FaceBox) box!: FaceBox;
  @Field(() => [FacePoint], {
    description: 'Right eye, left eye, nose tip, mouth, right ear, left ear (BlazeFace order).',
  })
  keypoints!: FacePoint[];
  @Field(() => Float, { description: 'Detector confidence, 0..1.' }) score!: number;
}

@ObjectType({ description: 'The face the avatar animates.' })
export class AvatarFace {
  @Field(() => FaceBox) box!: FaceBox;
  @Field(() => [FacePoint], {
    description: 'Right eye, left eye, nose tip, mouth, right ear, left ear (BlazeFace order).',
  })
  keypoints!: FacePoint[];
}

@ObjectType({ description: 'Why preparation failed.' })
export class AvatarFailure {
  @Field(() => AvatarFailureReason) reason!: AvatarFailureReason;
  @Field() message!: string;
  @Field(() => String, {
    nullable: true,
    description: 'The CreateAvatarInput field to change: imageAssetId or faceIndex.',
  })
  field!: string | null;
  @Field(() => [DetectedFace], {
    nullable: true,
    description: 'The faces found (SEVERAL_FACES, FACE_INDEX_OUT_OF_RANGE, FACE_TOO_SMALL).',
  })
  faces!: DetectedFace[] | null;
}

@ObjectType({ description: 'The consent attestation given with createAvatar (audit-logged).' })
export class AvatarConsent {
  @Field() attestation!: string;
  @Field({ description: 'When it was given.' }) at!: Date;
}

@ObjectType({ description: 'The stored identity embedding (the vector itself is never served).' })
export class IdentityEmbeddingInfo {
  @Field({ description: 'The identity encoder that made it; only equal models compare.' })
  model!: string;
  @Field(() => Int) dim!: number;
}

@ObjectType({ description: 'A person to animate: one portrait photo, prepared by a worker.' })
export class Avatar {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field(() => AvatarStatus) status!: AvatarStatus;
  @Field(() => Int, { nullable: true, description: 'The faceIndex given at creation, if any.' })
  faceIndex!: number | null;
  @Field(() => AvatarFace, { nullable: true, description: 'Set once READY.' })
  face!: AvatarFace | null;
  @Field(() => AvatarFailure, { nullable: true, description: 'Set once FAILED.' })
  failure!: AvatarFailure | null;
  @Field(() => AvatarConsent) consent!: AvatarConsent;
  @Field({ description: 'The model pack that prepared (and will render) the avatar.' })
  modelPack!: string;
  @Field() createdAt!: Date;
  @Field() updatedAt!: Date;
  /** Resolved by AvatarsResolver: `image`, `preview`, `identityEmbedding`. */
  imageAssetId!: string;
  previewAssetId!: string | null;
}

@ObjectType()
export class AvatarEdge {
  @Field() cursor!: string;
  @Field(() => Avatar) node!: Avatar;
}

@ObjectType({ description: 'Avatars, newest first.' })
export class AvatarConnection {
  @Field(() => [AvatarEdge]) edges!: AvatarEdge[];
  @Field(() => [Avatar], { description: 'The nodes of `edges`, for callers without cursors.' })
  nodes!: Avatar[];
  @Field(() => PageInfo) pageInfo!: PageInfo;
}

@ObjectType({ description: 'An avatar whose identity resembles another’s.' })
export class AvatarMatch {
  @Field(() => Avatar) avatar!: Avatar;
  @Field(() => Float, {
    description: 'Cosine similarity of the identity embeddings, −1..1 (1: the same direction).',
  })
  similarity!: number;
}

@InputType({ description: 'The partner’s statement that the person shown agreed to be animated.' })
export class ConsentInput {
  @Field({ description: 'Not empty; recorded in the audit log with the photo’s sha256.' })
  attestation!: string;
}

@InputType()
export class CreateAvatarInput {
  @Field({ description: '1 to 100 characters.' }) name!: string;
  @Field(() => ID, { description: 'An IMAGE asset of yours (POST /v1/assets).' })
  imageAssetId!: string;
  @Field(() => Int, {
    nullable: true,
    description: 'Which face, when the photo shows several (see AvatarFailure.faces).',
  })
  faceIndex?: number | null;
  @Field(() => ConsentInput) consent!: ConsentInput;
}

/** Default and largest page of `avatars`; default and largest `first` of `similarAvatars`. */
export const AVATARS_PAGE = { default: 20, max: 100 } as const;
export const SIMILAR_AVATARS = { default: 10, max: 100 } as const;

function finite(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function pointOf(value: unknown): FacePoint {
  const p = (value ?? {}) as Record<string, unknown>;
  return { x: finite(p['x']), y: finite(p['y']) };
}

function boxOf(value: unknown): FaceBox {
  const b = (value ?? {}) as Record<string, unknown>;
  return { x0: finite(b['x0']), y0: finite(b['y0']), x1: finite(b['x1']), y1: finite(b['y1']) };
}

function pointsOf(value: unknown): FacePoint[] {
  return Array.isArray(value) ? value.map(pointOf) : [];
}

function facesOf(value: JsonValue | null): DetectedFace[] | null {
  if (!Array.isArray(value)) return null;
  return value.map((face, index) => {
    const f = (face ?? {}) as Record<string, unknown>;
    return {
      index,
      box: boxOf(f['box']),
      keypoints: pointsOf(f['keypoints']),
      score: finite(f['score']),
    };
  });
}

function isFailureReason(value: string): value is AvatarFailureReason {
  return (Object.values(AvatarFailureReason) as string[]).includes(value);
}

/** The input field a failure is about (what the partner should change). */
export function failureField(reason: AvatarFailureReason): string | null {
  switch (reason) {
    case AvatarFailureReason.SEVERAL_FACES:
    case AvatarFailureReason.FACE_INDEX_OUT_OF_RANGE:
      return 'faceIndex';
    case AvatarFailureReason.NO_FACE:
    case AvatarFailureReason.FACE_TOO_SMALL:
    case AvatarFailureReason.IMAGE_UNUSABLE:
      return 'imageAssetId';
    case AvatarFailureReason.INTERNAL:
      return null;
  }
}

export function toAvatarNode(row: AvatarRow): Avatar {
  const reason =
    row.status === 'FAILED'
      ? row.failureReason !== null && isFailureReason(row.failureReason)
        ? row.failureReason
        : AvatarFailureReason.INTERNAL
      : null;
  return {
    id: row.id,
    name: row.name,
    status: AvatarStatus[row.status],
    faceIndex: row.faceIndex,
    face:
      row.status === 'READY' && row.faceBox !== null
        ? { box: boxOf(row.faceBox), keypoints: pointsOf(row.keypoints) }
        : null,
    failure:
      reason === null
        ? null
        : {
            reason,
            message: row.failureMessage ?? 'The avatar could not be prepared',
            field: failureField(reason),
            faces: facesOf(row.failureFaces),
          },
    consent: { attestation: row.consentAttestation, at: row.consentAt },
    modelPack: row.modelPack,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    imageAssetId: row.imageAssetId,
    previewAssetId: row.previewAssetId,
  };
}
