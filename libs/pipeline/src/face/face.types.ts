import type { FaceRect, FacePoint } from './blazeface';

/**
 * A face found by `detectFaces`, in the photo as it is meant to be seen (EXIF orientation
 * applied). `box`, `keypoints` and `score` are what an avatar stores (contracts'
 * `DetectedFaceV1`): pixels, clamped to the image. `normalized` holds the same in 0..1 of the
 * image's width and height, as the denoiser's `face_box` and `face_keypoints` take them.
 */
export interface DetectedFace {
  /** Detector confidence, 0..1. */
  score: number;
  box: FaceRect;
  /** BlazeFace order: right eye, left eye, nose tip, mouth, right ear, left ear. */
  keypoints: FacePoint[];
  normalized: { box: FaceRect; keypoints: FacePoint[] };
  /** The larger side of the face box in pixels (before clamping): callers reject tiny faces. */
  size: number;
}

/** What `detectFaces` found in one photo. */
export interface FaceDetection {
  /** Size of the photo after EXIF orientation, in pixels. */
  width: number;
  height: number;
  /** Best first. */
  faces: DetectedFace[];
}

/** A decoded photo: 8-bit RGB, row-major, EXIF orientation applied. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}
