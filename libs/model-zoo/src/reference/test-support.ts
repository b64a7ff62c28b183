import { InferenceSession, Tensor } from 'onnxruntime-node';
import { AUDIO_FEATURES } from './audio-encoder';
import { DENOISER_AUDIO_WINDOW, buildDenoiser } from './denoiser';
import { REFERENCE_VAE, buildVaeDecoder, buildVaeEncoder } from './vae';

/** Helpers shared by the reference-pack specs (not exported from the package). */

export const C = REFERENCE_VAE.latentChannels;
export const K = DENOISER_AUDIO_WINDOW;
export const DA = AUDIO_FEATURES;

/** Face geometry of `portrait()`, normalised 0..1. */
export const FACE_BOX = [0.3, 0.22, 0.7, 0.72] as const;
/** BlazeFace order: right eye, left eye, nose tip, mouth, right ear, left ear. */
export const KEYPOINTS = [
  0.42, 0.4, 0.58, 0.4, 0.5, 0.5, 0.5, 0.6, 0.32, 0.45, 0.68, 0.45,
] as const;

/**
 * A synthetic portrait [3, S, S] in −1..1 with texture everywhere (so that any motion shows):
 * a striped background, a shaded face ellipse inside FACE_BOX, eyes, lips with a dark line at the
 * mouth keypoint, and shoulders.
 */
export function portrait(size: number): Float32Array {
  const img = new Float32Array(3 * size * size);
  const plane = size * size;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) / size;
      const v = (y + 0.5) / size;
      let rgb = [
        -0.2 + 0.3 * Math.sin(u * 40) * Math.cos(v * 30),
        0.1 + 0.25 * Math.cos(u * 25 + v * 17),
        0.3 + 0.2 * Math.sin(v * 45),
      ];
      const ex = (u - 0.5) / 0.2;
      const ey = (v - 0.47) / 0.25;
      if (ex * ex + ey * ey < 1) {
        const shade = 0.08 * Math.sin(u * 60) * Math.sin(v * 50);
        rgb = [0.55 + shade, 0.15 + shade, -0.05 + shade];
        for (const [cx, cy] of [
          [0.42, 0.4],
          [0.58, 0.4],
        ] as const) {
          if (Math.hypot(u - cx, v - cy) < 0.025) rgb = [-0.8, -0.8, -0.7];
        }
        if (Math.abs(u - 0.5) < 0.07 && Math.abs(v - 0.6) < 0.02) rgb = [0.45, -0.5, -0.4];
        if (Math.abs(u - 0.5) < 0.07 && Math.abs(v - 0.6) < 0.004) rgb = [-0.6, -0.9, -0.9];
      } else if (v > 0.8 && Math.abs(u - 0.5) < 0.35) {
        rgb = [-0.5, -0.4 + 0.1 * Math.sin(u * 70), 0.4];
      }
      for (let c = 0; c < 3; c++) img[c * plane + y * size + x] = rgb[c] as number;
    }
  }
  return img;
}

/** A deterministic standard-normal sample (LCG + Box–Muller). */
export function gaussian(length: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  const out = new Float32Array(length);
  for (let k = 0; k < length; k += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const a = 2 * Math.PI * uniform();
    out[k] = r * Math.cos(a);
    if (k + 1 < length) out[k + 1] = r * Math.sin(a);
  }
  return out;
}

export interface Sessions {
  denoiser: InferenceSession;
  encoder: InferenceSession;
  decoder: InferenceSession;
  release(): Promise<void>;
}

export async function openSessions(): Promise<Sessions> {
  const [denoiser, encoder, decoder] = await Promise.all([
    InferenceSession.create(buildDenoiser()),
    InferenceSession.create(buildVaeEncoder()),
    InferenceSession.create(buildVaeDecoder()),
  ]);
  return {
    denoiser,
    encoder,
    decoder,
    release: async () => {
      await Promise.all([denoiser.release(), encoder.release(), decoder.release()]);
    },
  };
}

/** The latent [C, h, w] of one still image [3, S, S]. */
export async function encodeStill(
  s: Sessions,
  image: Float32Array,
  size: number,
): Promise<Float32Array> {
  const { latent } = await s.encoder.run({
    video: new Tensor('float32', image, [1, 3, 1, size, size]),
  });
  return latent?.data as Float32Array;
}

/** Decodes one row's latent [C, F', h, w] to video [3, F, S, S]. */
export async function decodeRow(
  s: Sessions,
  latent: Float32Array,
  frames: number,
  size: number,
): Promise<Float32Array> {
  const h = size / REFERENCE_VAE.spatialStride;
  const { video } = await s.decoder.run({
    latent: new Tensor('float32', latent, [1, C, frames, h, h]),
  });
  return video?.data as Float32Array;
}

export interface RowSettings {
  /** audio_scale (default 1). */
  scale?: number;
  /** (expression, body), default (1, 1). */
  motion?: readonly [number, number];
}

export interface DenoiserCase {
  size: number;
  /** Latent frames F'. */
  frames: number;
  /** The reference latent [C, h, w] (latent frame 0, always known). */
  reference: Float32Array;
  /** [F', K, Da] audio windows (same for every row), default silence. */
  audio?: Float32Array;
  /** [F', K], default all ones. */
  audioMask?: Float32Array;
  rows: readonly RowSettings[];
  /** Extra known latent frames: index → [C, h, w]. */
  known?: ReadonlyMap<number, Float32Array>;
  /** [B, C, F', h, w]; default zeros. */
  latent?: Float32Array;
  /** Default 1000. */
  timestep?: number;
}

/** Runs the denoiser on a batch built from `c`; returns the velocity [B, C, F', h, w]. */
export async function velocity(s: Sessions, c: DenoiserCase): Promise<Float32Array> {
  const B = c.rows.length;
  const h = c.size / REFERENCE_VAE.spatialStride;
  const plane = h * h;
  const F = c.frames;
  const rowSize = C * F * plane;
  const condition = new Float32Array(B * (C + 4) * F * plane);
  const known = new Map<number, Float32Array>([[0, c.reference], ...(c.known ?? [])]);
  for (let b = 0; b < B; b++) {
    const row = b * (C + 4) * F * plane;
    for (const [k, frame] of known) {
      for (let m = 0; m < 4; m++)
        condition.fill(1, row + (m * F + k) * plane, row + (m * F + k + 1) * plane);
      for (let ch = 0; ch < C; ch++) {
        condition.set(
          frame.subarray(ch * plane, (ch + 1) * plane),
          row + ((4 + ch) * F + k) * plane,
        );
      }
    }
  }
  const repeat = (row: Float32Array): Float32Array => {
    const out = new Float32Array(B * row.length);
    for (let b = 0; b < B; b++) out.set(row, b * row.length);
    return out;
  };
  const audio = c.audio ?? new Float32Array(F * K * DA);
  const mask = c.audioMask ?? new Float32Array(F * K).fill(1);
  const feeds = {
    latent: new Tensor('float32', c.latent ?? new Float32Array(B * rowSize), [B, C, F, h, h]),
    timestep: new Tensor('float32', new Float32Array(B).fill(c.timestep ?? 1000), [B]),
    context: new Tensor('float32', new Float32Array(B * 128 * 16), [B, 128, 16]),
    image_tokens: new Tensor('float32', new Float32Array(B * 257 * 16), [B, 257, 16]),
    condition: new Tensor('float32', condition, [B, C + 4, F, h, h]),
    audio: new Tensor('float32', repeat(audio), [B, F, K, DA]),
    audio_mask: new Tensor('float32', repeat(mask), [B, F, K]),
    audio_scale: new Tensor(
      'float32',
      Float32Array.from(c.rows, (r) => r.scale ?? 1),
      [B],
    ),
    identity: new Tensor('float32', new Float32Array(B * 128), [B, 128]),
    motion: new Tensor('float32', Float32Array.from(c.rows.flatMap((r) => r.motion ?? [1, 1])), [
      B,
      2,
    ]),
    face_box: new Tensor('float32', repeat(Float32Array.from(FACE_BOX)), [B, 4]),
    face_keypoints: new Tensor('float32', repeat(Float32Array.from(KEYPOINTS)), [B, 6, 2]),
  };
  const { velocity: v } = await s.denoiser.run(feeds);
  return v?.data as Float32Array;
}

/** Audio windows [F', K, Da] with feature 0 (energy) = `energy(k, j)` and bands = `band(k, j, i)`. */
export function audioWindows(
  frames: number,
  energy: (k: number, j: number) => number,
  band: (k: number, j: number, i: number) => number = () => 0,
): Float32Array {
  const out = new Float32Array(frames * K * DA);
  for (let k = 0; k < frames; k++) {
    for (let j = 0; j < K; j++) {
      out[(k * K + j) * DA] = energy(k, j);
      for (let i = 1; i < DA; i++) out[(k * K + j) * DA + i] = band(k, j, i - 1);
    }
  }
  return out;
}

/** Mean |a − b| over pixels of frame `f` of a [3, F, S, S] video inside [x0, x1) × [y0, y1). */
export function regionDiff(
  video: Float32Array,
  reference: Float32Array,
  frames: number,
  size: number,
  f: number,
  region: { x0: number; x1: number; y0: number; y1: number },
  max = false,
): number {
  let sum = 0;
  let n = 0;
  let worst = 0;
  for (let c = 0; c < 3; c++) {
    for (let y = region.y0; y < region.y1; y++) {
      for (let x = region.x0; x < region.x1; x++) {
        const d = Math.abs(
          (video[((c * frames + f) * size + y) * size + x] as number) -
            (reference[(c * size + y) * size + x] as number),
        );
        sum += d;
        worst = Math.max(worst, d);
        n++;
      }
    }
  }
  return max ? worst : sum / n;
}
