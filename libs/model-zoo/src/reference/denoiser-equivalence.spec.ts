import { InferenceSession, Tensor } from 'onnxruntime-node';
import { AUDIO_FEATURES } from './audio-encoder';
import { DENOISER_AUDIO_WINDOW, buildDenoiser } from './denoiser';
import { buildDenoiserV1 } from './denoiser-v1';
import { C, gaussian } from './test-support';

/**
 * The faster denoiser (warp only for rows with audio, base velocity for every row in place) must
 * compute what the previous formulation computed, within float rounding: for every output,
 * |v − v₁| ≤ TOLERANCE·(1 + |v₁|). Measured worst case 1.7e-6 (velocities up to ≈ 20).
 */
const TOLERANCE = 1e-5;
const K = DENOISER_AUDIO_WINDOW;
const CONDITION = C + 4;

interface Case {
  height: number;
  width: number;
  frames: number;
  /** audio_scale per row; its length is B. */
  scales: number[];
  seed: number;
}

/** Rows that differ in everything a row can differ in: face, motion, timestep, known frames. */
function feeds(c: Case): Record<string, Tensor> {
  const B = c.scales.length;
  const h = c.height / 8;
  const w = c.width / 8;
  const plane = h * w;
  const Fp = c.frames;
  const condition = gaussian(B * CONDITION * Fp * plane, c.seed + 1);
  for (let b = 0; b < B; b++) {
    for (let ch = 0; ch < 4; ch++) {
      for (let f = 0; f < Fp; f++) {
        // frame 0 known; row 1 has a partly known frame 1 (a clip overlap with soft edges)
        const at = ((b * CONDITION + ch) * Fp + f) * plane;
        for (let p = 0; p < plane; p++) {
          condition[at + p] = f === 0 ? 1 : f === 1 && b === 1 ? (p % 3) / 2 : 0;
        }
      }
    }
  }
  const perRow = (values: readonly number[], n: number): Float32Array =>
    Float32Array.from({ length: B * n }, (_, i) => {
      const row = Math.floor(i / n);
      return (values[i % n] as number) + 0.02 * row * ((i % 2) - 0.5);
    });
  const f32 = (data: Float32Array, dims: number[]): Tensor => new Tensor('float32', data, dims);
  return {
    latent: f32(gaussian(B * C * Fp * plane, c.seed), [B, C, Fp, h, w]),
    timestep: f32(
      Float32Array.from(c.scales, (_, b) => 250 + 250 * b),
      [B],
    ),
    context: f32(new Float32Array(B * 128 * 16), [B, 128, 16]),
    image_tokens: f32(new Float32Array(B * 257 * 16), [B, 257, 16]),
    condition: f32(condition, [B, CONDITION, Fp, h, w]),
    audio: f32(
      gaussian(B * Fp * K * AUDIO_FEATURES, c.seed + 2).map((x) => Math.min(1, 0.6 * Math.abs(x))),
      [B, Fp, K, AUDIO_FEATURES],
    ),
    audio_mask: f32(
      Float32Array.from({ length: B * Fp * K }, (_, i) => (i % K < K - 2 ? 1 : 0)),
      [B, Fp, K],
    ),
    audio_scale: f32(Float32Array.from(c.scales), [B]),
    identity: f32(new Float32Array(B * 128), [B, 128]),
    motion: f32(
      Float32Array.from({ length: 2 * B }, (_, i) => [1, 0.8, 0.5, 1.3, 0.7, 0.2][i % 6] as number),
      [B, 2],
    ),
    face_box: f32(perRow([0.3, 0.22, 0.7, 0.72], 4), [B, 4]),
    face_keypoints: f32(
      perRow([0.42, 0.4, 0.58, 0.4, 0.5, 0.5, 0.5, 0.6, 0.32, 0.45, 0.68, 0.45], 12),
      [B, 6, 2],
    ),
  };
}

let current: InferenceSession;
let previous: InferenceSession;

beforeAll(async () => {
  [current, previous] = await Promise.all([
    InferenceSession.create(buildDenoiser()),
    InferenceSession.create(buildDenoiserV1()),
  ]);
});

afterAll(async () => {
  await Promise.all([current.release(), previous.release()]);
});

async function velocities(
  c: Case,
  overrides: Record<string, Tensor> = {},
): Promise<[Float32Array, Float32Array]> {
  const f = { ...feeds(c), ...overrides };
  const [a, b] = [await current.run(f), await previous.run(f)];
  return [a['velocity']?.data as Float32Array, b['velocity']?.data as Float32Array];
}

/** Largest |a − b| / (1 + |b|). */
function worstRelative(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs((a[i] as number) - (b[i] as number)) / (1 + Math.abs(b[i] as number));
    if (!(d <= worst)) worst = d; // NaN propagates as a failure
  }
  return worst;
}

describe('the faster reference denoiser computes what the previous one did', () => {
  const cases: [string, Case][] = [
    [
      'the guidance batch (0, 0, g)',
      { height: 64, width: 64, frames: 3, scales: [0, 0, 1], seed: 11 },
    ],
    [
      'non-square, non-power-of-two, two audio rows',
      { height: 48, width: 80, frames: 2, scales: [1, 0, 2.5], seed: 12 },
    ],
    ['no row with audio', { height: 64, width: 64, frames: 2, scales: [0, 0, 0], seed: 13 }],
    [
      'every row with audio, one latent frame',
      { height: 32, width: 48, frames: 1, scales: [0.5, 1, 2], seed: 14 },
    ],
    ['one row', { height: 128, width: 96, frames: 3, scales: [1], seed: 15 }],
  ];

  it.each(cases)('%s', async (_name, c) => {
    const [v, v1] = await velocities(c);
    expect(v.length).toBe(v1.length);
    expect(worstRelative(v, v1)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('the cases exercise the warp: audio rows differ from the same rows without audio', async () => {
    const c = cases[0]?.[1] as Case;
    const [withAudio] = await velocities(c);
    const [silent, silent1] = await velocities(c, {
      audio_scale: new Tensor('float32', new Float32Array(3), [3]),
    });
    const row = withAudio.length / 3;
    // rows 0 and 1 have audio_scale 0 either way: the same numbers
    expect(worstRelative(withAudio.subarray(0, 2 * row), silent.subarray(0, 2 * row))).toBe(0);
    // row 2 moves (far beyond the tolerance), and the previous graph agrees without audio too
    expect(worstRelative(withAudio.subarray(2 * row), silent.subarray(2 * row))).toBeGreaterThan(
      1000 * TOLERANCE,
    );
    expect(worstRelative(silent, silent1)).toBeLessThanOrEqual(TOLERANCE);
  });
});
