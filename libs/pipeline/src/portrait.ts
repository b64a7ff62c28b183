import { alignFace } from './face/align-face';
import { chooseFace } from './face/choose-face';
import { detectFaces } from './face/detect-faces';
import { embedFace } from './face/embed-face';
import type { DetectedFace } from './face/face.types';
import { prepareImage, sourceToPrepared, type PreparedImage } from './media/image';
import type { ModelPack } from './model-pack';
import type { FaceBoxObject, FacePointObject } from './render-request';

export interface PortraitOptions {
  /** Long side of the prepared image (default: the pack's maxSide). */
  maxSide?: number;
  /** Which face when the photo has several (see `chooseFace`). */
  faceIndex?: number;
}

/** A photo made ready for `render`: the prepared image, its face in its coordinates, and the identity. */
export interface Portrait {
  image: PreparedImage;
  /** The face as detected in the (oriented) source photo. */
  face: DetectedFace;
  /** The face box in 0..1 of the prepared image (clamped), `render`'s `faceBox`. */
  faceBox: FaceBoxObject;
  /** The keypoints in 0..1 of the prepared image (clamped), `render`'s `faceKeypoints`. */
  faceKeypoints: FacePointObject[];
  /** The identity embedding (only when the pack has an identityEncoder and the identity capability). */
  identity: Float32Array | undefined;
}

const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));

/**
 * Photo (path or bytes) → everything `render` needs about it, with the pack's own face models:
 * faces detected on the full photo (`detectFaces`), one chosen (`chooseFace`: FaceError naming
 * `image` or `faceIndex`), its identity embedded from the aligned full-resolution chip, and the
 * photo prepared (`prepareImage`, PipelineInputError on `image`) with the face mapped onto it.
 */
export async function preparePortrait(
  pack: ModelPack,
  photo: string | Uint8Array,
  options: PortraitOptions = {},
): Promise<Portrait> {
  const image = await prepareImage(photo, {
    maxSide: options.maxSide ?? pack.manifest.capabilities.maxSide,
    encoderSize: pack.geometry.imageEncoderWidth,
  });
  const detection = await detectFaces(pack.stages.faceDetector.session, photo);
  const face = chooseFace(detection.faces, options.faceIndex);
  const toPrepared = (x: number, y: number): FacePointObject => {
    const [px, py] = sourceToPrepared(image, x, y);
    return { x: clamp01(px), y: clamp01(py) };
  };
  const b = face.normalized.box;
  const p0 = toPrepared(b.x0, b.y0);
  const p1 = toPrepared(b.x1, b.y1);
  const identity = pack.manifest.capabilities.identity
    ? await embedFace(pack.stages.identityEncoder.session, await alignFace(photo, face))
    : undefined;
  return {
    image,
    face,
    faceBox: { x0: p0.x, y0: p0.y, x1: p1.x, y1: p1.y },
    faceKeypoints: face.normalized.keypoints.map((p) => toPrepared(p.x, p.y)),
    identity,
  };
}
