import type { TensorSpec } from '@likeness/contracts';
import { GraphBuilder, attr } from '../graph-builder';
import { GraphMath } from '../graph-math';

/**
 * The reference pack's audio encoder: real speech features computed inside the graph.
 *
 * `audio` f32 [1, S] (16 kHz mono, −1..1) → `features` f32 [1, T, 16] at 50 Hz, T = ceil(S/320).
 * Token i looks at samples [320·i, 320·i + 400) (25 ms, Hann window; zeros past the end):
 *
 *   X_k   = Σ_n w[n]·x[320·i + n]·e^(−2πi·k·n/400)      k = 0 … 200 (40 Hz bins), one strided
 *                                                        Conv whose 402 filters are the
 *                                                        windowed cos/sin rows of the DFT
 *   P_k   = |X_k|²
 *   E     = (P_0 + 2·Σ_{k=1}^{199} P_k + P_200) / (400·Σ w²)   (Parseval: the windowed mean
 *                                                        square, 0.5 for a full-scale sine)
 *   B_j   = Σ_k tri_j(k)·P_k · 2/(400·Σ w²)              15 triangular mel bands, 60 Hz–8 kHz
 *
 *   feature 0       = clip((10·log10(E + 1e−10) + 50) / 35, 0, 1)    −50 dB → 0, −15 dB → 1
 *   feature 1 + j   = clip((10·log10(B_j + 1e−10) + 60) / 40, 0, 1)  −60 dB → 0, −20 dB → 1
 *
 * So silence gives 0 everywhere, ordinary speech (RMS −30…−15 dB) an energy of about 0.6…1. The
 * reference denoiser reads feature 0 as the energy and the band balance (low minus high bands)
 * as a slow "tone" for the head sway.
 */
export const AUDIO_SAMPLE_RATE = 16_000;
export const AUDIO_FEATURE_RATE = 50;
/** Samples between tokens (sampleRate / featureRate). */
export const AUDIO_HOP = AUDIO_SAMPLE_RATE / AUDIO_FEATURE_RATE;
/** Samples each token looks at. */
export const AUDIO_WINDOW = 400;
export const AUDIO_BANDS = 15;
/** Features per token: energy + band energies. */
export const AUDIO_FEATURES = 1 + AUDIO_BANDS;
/** Bands counted as "low" / "high" for the tone the denoiser reads (indices into the bands). */
export const LOW_BANDS: readonly number[] = [0, 1, 2, 3, 4, 5];
export const HIGH_BANDS: readonly number[] = [9, 10, 11, 12, 13, 14];

const ENERGY_DB = { floor: -50, range: 35 } as const;
const BAND_DB = { floor: -60, range: 40 } as const;
const EPS = 1e-10;
const BAND_LOW_HZ = 60;
const BAND_HIGH_HZ = 8000;

export const AUDIO_ENCODER_INPUTS: readonly TensorSpec[] = [
  { name: 'audio', dtype: 'float32', shape: [1, 'samples'] },
];
export const AUDIO_ENCODER_OUTPUTS: readonly TensorSpec[] = [
  { name: 'features', dtype: 'float32', shape: [1, 'tokens', AUDIO_FEATURES] },
];

/** Periodic Hann window of `n` samples. */
export function hannWindow(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, k) => 0.5 - 0.5 * Math.cos((2 * Math.PI * k) / n));
}

const mel = (hz: number): number => 2595 * Math.log10(1 + hz / 700);
const hzOfMel = (m: number): number => 700 * (10 ** (m / 2595) - 1);

/**
 * [bins, 1 + bands] matrix from power spectrum to (energy, band energies), Parseval-scaled so
 * that each column is a mean square of the windowed signal.
 */
export function spectrumMatrix(
  window = AUDIO_WINDOW,
  sampleRate = AUDIO_SAMPLE_RATE,
): Float32Array {
  const bins = window / 2 + 1;
  const w = hannWindow(window);
  const norm = window * w.reduce((s, v) => s + v * v, 0);
  const out = new Float32Array(bins * AUDIO_FEATURES);
  for (let k = 0; k < bins; k++) {
    const twice = k === 0 || k === bins - 1 ? 1 : 2;
    out[k * AUDIO_FEATURES] = twice / norm;
  }
  const edges = Array.from({ length: AUDIO_BANDS + 2 }, (_, j) =>
    hzOfMel(mel(BAND_LOW_HZ) + ((mel(BAND_HIGH_HZ) - mel(BAND_LOW_HZ)) * j) / (AUDIO_BANDS + 1)),
  );
  const binHz = sampleRate / window;
  for (let j = 0; j < AUDIO_BANDS; j++) {
    const [lo, mid, hi] = [edges[j] as number, edges[j + 1] as number, edges[j + 2] as number];
    for (let k = 1; k < bins - 1; k++) {
      const f = k * binHz;
      // Triangle, but at least the nearest bin, so the narrow low bands never come out empty.
      let tri = f <= lo || f >= hi ? 0 : f <= mid ? (f - lo) / (mid - lo) : (hi - f) / (hi - mid);
      if (Math.abs(f - mid) < binHz / 2) tri = Math.max(tri, 1);
      out[k * AUDIO_FEATURES + 1 + j] = (2 * tri) / norm;
    }
  }
  return out;
}

/** ONNX model `audioEncoder`: `audio` f32 [1, S] → `features` f32 [1, ceil(S/320), 16]. */
export function buildAudioEncoder(): Uint8Array {
  const g = new GraphBuilder('audioEncoder', {
    docString:
      'reference audio encoder: 50 Hz log energy + 15 mel band energies from a Hann-windowed DFT',
  });
  const m = new GraphMath(g);
  const [input] = AUDIO_ENCODER_INPUTS as [TensorSpec];
  const [output] = AUDIO_ENCODER_OUTPUTS as [TensorSpec];
  const audio = g.input(input.name, 'float', input.shape);
  g.output(output.name, 'float', output.shape);

  const n = AUDIO_WINDOW;
  const bins = n / 2 + 1;
  const w = hannWindow(n);
  // Conv filters [2·bins, 1, n]: rows 0..bins−1 are w·cos, rows bins.. are w·sin.
  const filters = new Float32Array(2 * bins * n);
  for (let k = 0; k < bins; k++) {
    for (let j = 0; j < n; j++) {
      // k·j mod n keeps the angle small, so cos/sin stay exact to float precision
      const angle = (2 * Math.PI * ((k * j) % n)) / n;
      filters[k * n + j] = (w[j] as number) * Math.cos(angle);
      filters[(bins + k) * n + j] = (w[j] as number) * Math.sin(angle);
    }
  }
  // Pad the end with n − 1 zeros: a strided conv then yields floor((S − 1)/hop) + 1 = ceil(S/hop)
  // windows, the last one zero-padded.
  const signal = m.unsqueeze(audio, [1]); // [1, 1, S]
  const padded = g.op('Pad', [signal, g.i64([0, 0, 0, 0, 0, n - 1])]);
  const spectrum = g.op('Conv', [padded, g.initializer('dft', filters, [2 * bins, 1, n])], {
    strides: attr.ints([AUDIO_HOP]),
  }); // [1, 2·bins, T]
  const power = m.reduceSum(
    m.reshape(m.mul(spectrum, spectrum), m.shape([1, 2, bins, -1])),
    [1],
    false,
  );
  const perToken = m.transpose(power, [0, 2, 1]); // [1, T, bins]
  const meanSquares = m.matmul(
    perToken,
    g.initializer('spectrum_to_features', spectrumMatrix(), [bins, AUDIO_FEATURES]),
  ); // [1, T, 16]
  const db = m.mul(m.unary('Log', m.add(meanSquares, EPS)), 10 / Math.LN10);
  const floors = [ENERGY_DB.floor, ...Array<number>(AUDIO_BANDS).fill(BAND_DB.floor)];
  const ranges = [ENERGY_DB.range, ...Array<number>(AUDIO_BANDS).fill(BAND_DB.range)];
  const scaled = m.div(m.sub(db, g.f32(floors)), g.f32(ranges));
  g.node('Clip', [scaled, m.c(0), m.c(1)], [output.name]);
  return g.toBytes();
}
