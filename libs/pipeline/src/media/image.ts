import { SIDE_MULTIPLE } from '@likeness/contracts';
import sharp, { type OutputInfo } from 'sharp';
import { PipelineInputError, requireInteger } from '../errors';
import { rgbToChw } from './frames';

/** Long side of the prepared image in the FantasyTalking release (and the reference pack). */
export const DEFAULT_MAX_SIDE = 512;
/** Side of the imageEncoder's square input (CLIP ViT-H/14). */
export const IMAGE_ENCODER_SIZE = 224;
/** What `prepareImage` decodes: the formats the gateway accepts as avatar photos. */
export const IMAGE_FORMATS = ['jpeg', 'png', 'webp'] as const;

export interface PrepareImageOptions {
  /** Long side of the result, a multiple of 16 (default 512). */
  maxSide?: number;
  /** Side of `encoderPixels` (default 224). */
  encoderSize?: number;
  /** The request field errors name (default 'image'). */
  field?: string;
}

/** A rectangle in the oriented source photo, in pixels. */
export interface SourceRegion {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The avatar photo ready for the pipeline (structurally a `RenderImage`): upright, long side
 * `maxSide`, both sides multiples of 16.
 */
export interface PreparedImage {
  width: number;
  height: number;
  /** Planar RGB [3, height, width] in −1..1 (the VAE's input). */
  pixels: Float32Array;
  /** Planar RGB [3, s, s] in −1..1, s = encoderSize: the imageEncoder's input. */
  encoderPixels: Float32Array;
  /** The same picture as `pixels`, packed sRGB bytes (height · width · 3). */
  srgb: Uint8Array;
  /** The photo after EXIF orientation. */
  source: { width: number; height: number; format: string };
  /** The part of the oriented source the result shows (the rest was cropped off). */
  region: SourceRegion;
}

function round16(value: number): number {
  return Math.max(SIDE_MULTIPLE, Math.round(value / SIDE_MULTIPLE) * SIDE_MULTIPLE);
}

/**
 * Output size and source crop for a `sourceWidth` × `sourceHeight` photo. The long side becomes
 * `maxSide`; the short side is scaled by the same factor and rounded to the nearest multiple of
 * 16. Rather than stretch the picture to that rounded size, the source is centre-cropped to the
 * output's aspect ratio first (at most half a 16-pixel step on one side; more only when the
 * short side would be under 16), so faces keep their proportions.
 */
export function planImageResize(
  sourceWidth: number,
  sourceHeight: number,
  maxSide: number = DEFAULT_MAX_SIDE,
): { width: number; height: number; region: SourceRegion } {
  requireInteger('maxSide', maxSide, SIDE_MULTIPLE);
  if (maxSide % SIDE_MULTIPLE !== 0) {
    throw new PipelineInputError(
      'maxSide',
      `must be a multiple of ${SIDE_MULTIPLE}, got ${maxSide}`,
    );
  }
  requireInteger('sourceWidth', sourceWidth, 1);
  requireInteger('sourceHeight', sourceHeight, 1);
  const scale = maxSide / Math.max(sourceWidth, sourceHeight);
  const width = sourceWidth >= sourceHeight ? maxSide : round16(sourceWidth * scale);
  const height = sourceHeight > sourceWidth ? maxSide : round16(sourceHeight * scale);
  // The largest source rectangle with the output's aspect ratio, centred.
  const cover = Math.max(width / sourceWidth, height / sourceHeight);
  const regionWidth = Math.min(sourceWidth, Math.max(1, Math.round(width / cover)));
  const regionHeight = Math.min(sourceHeight, Math.max(1, Math.round(height / cover)));
  return {
    width,
    height,
    region: {
      left: Math.floor((sourceWidth - regionWidth) / 2),
      top: Math.floor((sourceHeight - regionHeight) / 2),
      width: regionWidth,
      height: regionHeight,
    },
  };
}

/**
 * A point given in 0..1 of the oriented source photo (as face detection reports it) in 0..1 of
 * the prepared image. Points in the cropped-off margin come out below 0 or above 1.
 */
export function sourceToPrepared(
  prepared: Pick<PreparedImage, 'source' | 'region'>,
  x: number,
  y: number,
): [number, number] {
  const { source, region } = prepared;
  return [
    (x * source.width - region.left) / region.width,
    (y * source.height - region.top) / region.height,
  ];
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

/**
 * Decodes an avatar photo (path or encoded bytes) with sharp, applies its EXIF orientation,
 * flattens transparency onto black, converts to 8-bit sRGB and resizes it as `planImageResize`
 * says (Lanczos). Also makes the imageEncoder's square input from the result (short side to
 * `encoderSize`, centre crop, as CLIP preprocesses). Unreadable or unsupported photos are a
 * PipelineInputError naming `field`.
 */
export async function prepareImage(
  input: string | Uint8Array,
  options: PrepareImageOptions = {},
): Promise<PreparedImage> {
  const field = options.field ?? 'image';
  const maxSide = options.maxSide ?? DEFAULT_MAX_SIDE;
  const encoderSize = requireInteger('encoderSize', options.encoderSize ?? IMAGE_ENCODER_SIZE, 1);
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new PipelineInputError(field, 'must be a file path or the encoded image bytes');
  }
  // Validate the option before any decoding work.
  planImageResize(1, 1, maxSide);

  let format: string | undefined;
  try {
    format = (await sharp(input).metadata()).format;
  } catch (e) {
    throw new PipelineInputError(field, `is not a readable image (${describe(e)})`);
  }
  if (!IMAGE_FORMATS.includes(format as (typeof IMAGE_FORMATS)[number])) {
    throw new PipelineInputError(
      field,
      `is ${format ?? 'of an unknown format'}; supported: ${IMAGE_FORMATS.join(', ')}`,
    );
  }

  let oriented: { data: Buffer; info: OutputInfo };
  try {
    oriented = await sharp(input)
      .autoOrient()
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    // A good header over broken data (a truncated JPEG) lands here.
    throw new PipelineInputError(field, `could not be decoded (${describe(e)})`);
  }
  const { width: sourceWidth, height: sourceHeight, channels } = oriented.info;
  if (channels !== 3) {
    throw new PipelineInputError(field, `decodes to ${channels} channels, expected RGB`);
  }
  const { width, height, region } = planImageResize(sourceWidth, sourceHeight, maxSide);
  const raw = { raw: { width: sourceWidth, height: sourceHeight, channels: 3 as const } };
  const resized = await sharp(oriented.data, raw)
    .extract(region)
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  const srgb = new Uint8Array(resized.buffer, resized.byteOffset, resized.length);
  const encoder = await sharp(resized, { raw: { width, height, channels: 3 } })
    .resize(encoderSize, encoderSize, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return {
    width,
    height,
    pixels: rgbToChw(srgb, width, height),
    encoderPixels: rgbToChw(
      new Uint8Array(encoder.buffer, encoder.byteOffset, encoder.length),
      encoderSize,
      encoderSize,
    ),
    srgb,
    source: { width: sourceWidth, height: sourceHeight, format: format ?? 'unknown' },
    region,
  };
}
