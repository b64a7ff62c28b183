import sharp from 'sharp';
import type { RgbFrame } from '../media/frames';

/**
 * A smooth picture (slow gradients and a soft blob, no edges): what a video codec reproduces
 * well, so round-trip tests can ask for a high PSNR. `phase` (0..1) shifts the pattern, for
 * frames that differ.
 */
export function smoothImage(width: number, height: number, phase = 0): RgbFrame {
  const data = new Uint8Array(width * height * 3);
  // The pattern is separable: per-column and per-row terms, multiplied per pixel.
  const blobX = new Float64Array(width);
  const waveX = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    const u = x / width;
    blobX[x] = Math.exp(-((u - 0.5 - 0.2 * phase) ** 2) / 0.05);
    waveX[x] = 40 * Math.sin(2 * Math.PI * (u + phase));
  }
  for (let y = 0; y < height; y++) {
    const v = y / height;
    const blobY = Math.exp(-((v - 0.45) ** 2) / 0.05);
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const blob = blobX[x]! * blobY;
      const o = (y * width + x) * 3;
      data[o] = Math.round(40 + 150 * u + 60 * blob);
      data[o + 1] = Math.round(60 + 120 * v + waveX[x]!);
      data[o + 2] = Math.round(200 - 120 * u * v + 30 * blob);
    }
  }
  return { width, height, data };
}

/**
 * Four flat quadrants — top-left red, top-right green, bottom-left blue, bottom-right white —
 * so a test can tell which way up and which way round a picture came out.
 */
export function quadrantImage(width: number, height: number): RgbFrame {
  const data = new Uint8Array(width * height * 3);
  const colours = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [255, 255, 255],
  ] as const;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = colours[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)]!;
      data.set(c, (y * width + x) * 3);
    }
  }
  return { width, height, data };
}

/** The colour at (x, y) of a packed RGB frame. */
export function pixelAt(frame: RgbFrame, x: number, y: number): [number, number, number] {
  const o = (Math.floor(y) * frame.width + Math.floor(x)) * 3;
  return [frame.data[o]!, frame.data[o + 1]!, frame.data[o + 2]!];
}

/** `frame` encoded as JPEG (quality 95), PNG or WebP (lossless). */
export async function encodeImage(
  frame: RgbFrame,
  format: 'jpeg' | 'png' | 'webp',
): Promise<Buffer> {
  const image = sharp(frame.data, {
    raw: { width: frame.width, height: frame.height, channels: 3 },
  });
  if (format === 'jpeg') return image.jpeg({ quality: 95 }).toBuffer();
  if (format === 'png') return image.png().toBuffer();
  return image.webp({ lossless: true }).toBuffer();
}

/**
 * A JPEG that stores `upright` turned a quarter-turn counter-clockwise, with EXIF orientation 6
 * ("turn 90° clockwise to display"), as phone cameras write portraits: a viewer that honours
 * EXIF shows `upright`; one that ignores it shows the picture lying on its side.
 */
export async function sidewaysJpeg(upright: RgbFrame): Promise<Buffer> {
  return sharp(upright.data, {
    raw: { width: upright.width, height: upright.height, channels: 3 },
  })
    .rotate(270)
    .withMetadata({ orientation: 6 })
    .jpeg({ quality: 95 })
    .toBuffer();
}
