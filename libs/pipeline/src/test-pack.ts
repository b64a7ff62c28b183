// Shared by this library's specs that run the real reference pack (not exported from index.ts).
import { readFileSync } from 'node:fs';
import type { FrameSink } from './render';
import type { RenderImage } from './render-request';

/** The reference pack built by test/global-setup.cjs (fails with the build's output if it could not be built). */
export function testPackDir(): string {
  const error = process.env['LIKENESS_TEST_PACK_ERROR'];
  if (error)
    throw new Error(`the reference pack could not be built:\n${readFileSync(error, 'utf8')}`);
  const dir = process.env['LIKENESS_TEST_PACK_DIR'];
  if (!dir) throw new Error('LIKENESS_TEST_PACK_DIR is not set (jest globalSetup did not run)');
  return dir;
}

/** A smooth test picture with a lighter oval where a face would be, sides `width` × `height`. */
export function syntheticImage(width: number, height: number, encoderSize = 224): RenderImage {
  const plane = width * height;
  const pixels = new Float32Array(3 * plane);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width;
      const v = y / height;
      const face = ((u - 0.5) / 0.22) ** 2 + ((v - 0.45) / 0.28) ** 2 < 1 ? 0.5 : 0;
      const p = y * width + x;
      pixels[p] = -0.6 + 0.8 * u + face;
      pixels[plane + p] = -0.4 + 0.5 * v + face * 0.8;
      pixels[2 * plane + p] = 0.2 - 0.4 * u * v + face * 0.6;
    }
  }
  // Nearest-neighbour is enough for a test picture's encoder input.
  const e = encoderSize;
  const encoderPixels = new Float32Array(3 * e * e);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < e; y++) {
      for (let x = 0; x < e; x++) {
        const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / e));
        const sx = Math.min(width - 1, Math.floor(((x + 0.5) * width) / e));
        encoderPixels[(c * e + y) * e + x] = pixels[c * plane + sy * width + sx] as number;
      }
    }
  }
  return { width, height, pixels, encoderPixels };
}

/** Speech-like audio: a voiced tone whose loudness follows ~4 syllables per second. */
export function syntheticSpeech(seconds: number, sampleRate = 16000): Float32Array {
  const samples = new Float32Array(Math.round(seconds * sampleRate));
  for (let k = 0; k < samples.length; k++) {
    const t = k / sampleRate;
    const envelope = Math.max(0, Math.sin(2 * Math.PI * 2 * t)) ** 2;
    samples[k] =
      0.6 * envelope * (Math.sin(2 * Math.PI * 180 * t) + 0.4 * Math.sin(2 * Math.PI * 720 * t));
  }
  return samples;
}

export const TEST_FACE = {
  faceBox: [0.28, 0.17, 0.72, 0.73] as const,
  faceKeypoints: [
    [0.42, 0.38],
    [0.58, 0.38],
    [0.5, 0.48],
    [0.5, 0.6],
    [0.3, 0.42],
    [0.7, 0.42],
  ] as [number, number][],
};

/** Keeps every write; optionally throws on write number `failOnWrite` (1-based). */
export class MemorySink implements FrameSink {
  readonly writes: Uint8Array[] = [];

  constructor(private readonly failOnWrite?: number) {}

  async write(frames: Uint8Array, width: number, height: number): Promise<void> {
    if (frames.byteLength % (width * height * 3) !== 0) throw new Error('partial frame written');
    if (this.failOnWrite === this.writes.length + 1) throw new Error('sink crashed');
    this.writes.push(frames.slice());
  }

  get bytes(): Uint8Array {
    return Buffer.concat(this.writes);
  }
}
