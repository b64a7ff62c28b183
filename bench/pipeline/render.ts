// render() on the reference pack: time per denoiser step by size, the share of render time
// spent outside session.run (the pipeline's own JS work), event-loop delay during the render
// and peak RSS. Printed for the record; no targets (timings are never asserted in tests).
import { execFileSync } from 'node:child_process';
import {
  loadModelPack,
  measureRender,
  rgbToChw,
  type ModelPack,
  type RenderImage,
  type RenderRequest,
} from '@likeness/pipeline';
import { smoothImage } from '@likeness/pipeline/testing';
import { envInt, type BenchSection } from './section';

/** The reference pack: BENCH_PACK_DIR, else built (and cached) the way the pipeline's tests do. */
export function referencePack(): string {
  const given = process.env['BENCH_PACK_DIR'];
  if (given) return given;
  return execFileSync('node', ['libs/pipeline/test/reference-pack.cjs'], {
    encoding: 'utf8',
  }).trim();
}

const SIZES = (process.env['BENCH_RENDER_SIZES'] ?? '128,256,512').split(',').map(Number);
const STEPS = envInt('BENCH_RENDER_STEPS', 3);
const CLIPS = envInt('BENCH_RENDER_CLIPS', 1);

export function image(size: number, encoderSize: number): RenderImage {
  const frame = smoothImage(size, size);
  const pixels = rgbToChw(frame.data, size, size);
  const encoderPixels = new Float32Array(3 * encoderSize * encoderSize);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < encoderSize; y++) {
      for (let x = 0; x < encoderSize; x++) {
        const sy = Math.floor(((y + 0.5) * size) / encoderSize);
        const sx = Math.floor(((x + 0.5) * size) / encoderSize);
        encoderPixels[(c * encoderSize + y) * encoderSize + x] =
          pixels[c * size * size + sy * size + sx] ?? 0;
      }
    }
  }
  return { width: size, height: size, pixels, encoderPixels };
}

/** A voiced tone whose loudness follows about four syllables a second. */
export function voicedTone(seconds: number, sampleRate: number): Float32Array {
  const samples = new Float32Array(Math.round(seconds * sampleRate));
  for (let k = 0; k < samples.length; k++) {
    const t = k / sampleRate;
    samples[k] =
      0.6 * Math.max(0, Math.sin(4 * Math.PI * t)) ** 2 * Math.sin(2 * Math.PI * 180 * t);
  }
  return samples;
}

/** Face geometry of `image()` (normalised), as the face detector would report it. */
export const FACE_BOX: [number, number, number, number] = [0.28, 0.17, 0.72, 0.73];
export const FACE_KEYPOINTS: [number, number][] = [
  [0.42, 0.38],
  [0.58, 0.38],
  [0.5, 0.48],
  [0.5, 0.6],
  [0.3, 0.42],
  [0.7, 0.42],
];

/** The bench's render request: `image()` at `size`², its face, a one-hot identity, seed 1. */
export function benchRequest(
  pack: ModelPack,
  size: number,
  samples: Float32Array,
  steps: number,
): RenderRequest {
  const g = pack.geometry;
  return {
    pack,
    image: image(size, g.imageEncoderWidth),
    audio: { sampleRate: g.sampleRate, samples },
    faceBox: FACE_BOX,
    faceKeypoints: FACE_KEYPOINTS,
    identity: Float32Array.from({ length: g.identityDim ?? 1 }, (_, k) => (k === 0 ? 1 : 0)),
    prompt: 'A person is talking.',
    seed: 1,
    steps,
  };
}

const ms = (v: number): string => `${v.toFixed(0)} ms`;

export const renderSection: BenchSection = {
  name: 'render',
  title: `render() on the reference pack: ${SIZES.join(', ')} px, ${STEPS} steps, ${CLIPS} clip(s)`,
  async run() {
    const lines: string[] = [];
    const started = performance.now();
    const pack = await loadModelPack(referencePack());
    lines.push(
      `pack ${pack.name}@${pack.version} loaded and warmed in ${ms(performance.now() - started)} (${pack.provider})`,
    );
    try {
      const g = pack.geometry;
      // Audio for CLIPS clips: the first clip has maxFrames frames, each later one adds
      // maxFrames − 1 − t·o (o = 1).
      const frames =
        g.maxFramesPerClip + (CLIPS - 1) * (g.maxFramesPerClip - 1 - 2 * g.temporalStride);
      const seconds = (frames - 0.5) / g.fps;
      const samples = voicedTone(seconds, g.sampleRate);
      for (const size of SIZES) {
        const m = await measureRender(benchRequest(pack, size, samples, STEPS));
        const t = m.result.timings;
        const decode = t.decodeMs.reduce((a, b) => a + b, 0) / Math.max(1, t.decodeMs.length);
        lines.push(
          `${size}×${size}: ${m.result.frames} frames in ${m.result.clips} clip(s), total ${ms(t.totalMs)}; ` +
            `per step ${ms(m.meanStepMs)} (session.run ${ms(m.meanStepRunMs)}, guided Euler update + messaging ${ms(m.meanStepMs - m.meanStepRunMs)}); ` +
            `decode ${ms(decode)}; prepare ${ms(t.prepareMs)}; outside session.run ${(100 * t.outsideRunShare).toFixed(1)} %; ` +
            `event loop p50 ${m.eventLoop.p50Ms.toFixed(1)} / p99 ${m.eventLoop.p99Ms.toFixed(1)} / max ${m.eventLoop.maxMs.toFixed(1)} ms; ` +
            `peak RSS ${(m.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
        );
      }
    } finally {
      await pack.release();
    }
    return { lines, targetsMet: true };
  },
};
