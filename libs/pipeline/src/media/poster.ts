import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { PipelineInputError, requireInRange, requireInteger } from '../errors';
import { requireRgbFrame, type RgbFrame } from './frames';

function image(frame: RgbFrame): Sharp {
  return sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } });
}

/**
 * Writes `frame` as a JPEG (`.jpg`/`.jpeg`, quality 90) or PNG (`.png`) poster at `path`,
 * through a temporary name in the same folder, so readers never see a partial file.
 */
export async function writePoster(frame: RgbFrame, path: string): Promise<void> {
  requireRgbFrame('frame', frame);
  const ext = extname(path).toLowerCase();
  let encoded: Sharp;
  if (ext === '.jpg' || ext === '.jpeg')
    encoded = image(frame).jpeg({ quality: 90, mozjpeg: true });
  else if (ext === '.png') encoded = image(frame).png();
  else throw new PipelineInputError('path', `must end in .jpg, .jpeg or .png, got "${ext}"`);
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    await encoded.toFile(temp);
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

export interface PreviewOptions {
  /** Long side of the preview in pixels (default 128). */
  maxSide?: number;
  /** JPEG quality 1–100 (default 70). */
  quality?: number;
}

/** A small JPEG of `frame` (long side 128 by default) for progress events. */
export async function previewJpeg(frame: RgbFrame, options: PreviewOptions = {}): Promise<Buffer> {
  requireRgbFrame('frame', frame);
  const maxSide = requireInteger('maxSide', options.maxSide ?? 128, 1);
  const quality = Math.round(requireInRange('quality', options.quality ?? 70, 1, 100));
  return image(frame)
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality })
    .toBuffer();
}
