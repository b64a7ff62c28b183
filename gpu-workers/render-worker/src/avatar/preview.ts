import sharp from 'sharp';
import type { DetectedFace, RgbImage } from '@likeness/pipeline';

/** Side of the preview image, in pixels. */
export const PREVIEW_SIZE = 256;
/** The square around the face, as a multiple of the face box's larger side. */
const CONTEXT = 1.8;

/**
 * The avatar's preview: a square crop around the face (hair and chin included), as seen upright,
 * scaled to PREVIEW_SIZE, JPEG. Near a border the square slides inward (and shrinks to the
 * photo's shorter side if need be) rather than adding bars.
 */
export async function facePreview(image: RgbImage, face: DetectedFace): Promise<Buffer> {
  const { box } = face;
  const side = Math.max(
    1,
    Math.min(
      Math.round(Math.max(box.x1 - box.x0, box.y1 - box.y0) * CONTEXT),
      image.width,
      image.height,
    ),
  );
  const cx = (box.x0 + box.x1) / 2;
  // A little above the box centre: the box ends at the chin, the head goes on above it.
  const cy = (box.y0 + box.y1) / 2 - (box.y1 - box.y0) * 0.1;
  const left = clamp(Math.round(cx - side / 2), 0, image.width - side);
  const top = clamp(Math.round(cy - side / 2), 0, image.height - side);
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract({ left, top, width: side, height: side })
    .resize(PREVIEW_SIZE, PREVIEW_SIZE, { fit: 'fill' })
    .jpeg({ quality: 85 })
    .toBuffer();
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
