import sharp from 'sharp';
import { FaceError } from './face.errors';
import type { RgbImage } from './face.types';

/** A photo: encoded bytes (JPEG, PNG, WebP, AVIF/HEIF, TIFF, GIF …), a file path, or decoded. */
export type ImageInput = Uint8Array | string | RgbImage;

function isRgbImage(input: ImageInput): input is RgbImage {
  return typeof input === 'object' && !(input instanceof Uint8Array);
}

/**
 * Decodes a photo to 8-bit RGB as it is meant to be seen: EXIF orientation applied (phones
 * store portraits sideways and say so in EXIF), transparency flattened onto black.
 * An undecodable photo is a FaceError IMAGE_UNUSABLE on field `image`.
 */
export async function loadRgbImage(input: ImageInput): Promise<RgbImage> {
  if (isRgbImage(input)) {
    const { width, height, data } = input;
    if (
      !Number.isSafeInteger(width) ||
      !Number.isSafeInteger(height) ||
      width < 1 ||
      height < 1 ||
      !(data instanceof Uint8Array) ||
      data.length !== width * height * 3
    ) {
      throw new FaceError('IMAGE_UNUSABLE', 'a decoded image must be width × height × 3 RGB bytes');
    }
    return input;
  }
  try {
    const { data, info } = await sharp(input)
      .autoOrient()
      .flatten({ background: '#000000' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    };
  } catch (e) {
    throw new FaceError(
      'IMAGE_UNUSABLE',
      `the image could not be decoded: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}
