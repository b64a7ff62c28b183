import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  AUDIO_FEATURES,
  AUDIO_HOP,
  AUDIO_SAMPLE_RATE,
  AUDIO_WINDOW,
  buildAudioEncoder,
  hannWindow,
  spectrumMatrix,
} from './audio-encoder';

let session: InferenceSession;

beforeAll(async () => {
  session = await InferenceSession.create(buildAudioEncoder());
});

afterAll(async () => {
  await session.release();
});

async function features(audio: Float32Array): Promise<{ data: Float32Array; tokens: number }> {
  const { features: out } = await session.run({
    audio: new Tensor('float32', audio, [1, audio.length]),
  });
  expect(out?.dims[0]).toBe(1);
  expect(out?.dims[2]).toBe(AUDIO_FEATURES);
  return { data: out?.data as Float32Array, tokens: out?.dims[1] as number };
}

const energyOf = (f: { data: Float32Array; tokens: number }): number[] =>
  Array.from({ length: f.tokens }, (_, i) => f.data[i * AUDIO_FEATURES] as number);

function tone(seconds: number, hz: number, amplitude: number): Float32Array {
  return Float32Array.from(
    { length: Math.round(seconds * AUDIO_SAMPLE_RATE) },
    (_, n) => amplitude * Math.sin((2 * Math.PI * hz * n) / AUDIO_SAMPLE_RATE),
  );
}

/**
 * The features computed here in plain TypeScript, from the definition (Hann window, DFT, Parseval
 * scaling, dB ranges): what the graph must reproduce.
 */
function expectedFeatures(audio: Float32Array, token: number): number[] {
  const n = AUDIO_WINDOW;
  const bins = n / 2 + 1;
  const w = hannWindow(n);
  const power = new Float64Array(bins);
  for (let k = 0; k < bins; k++) {
    let re = 0;
    let im = 0;
    for (let j = 0; j < n; j++) {
      const x = (audio[token * AUDIO_HOP + j] ?? 0) * (w[j] as number);
      const angle = (2 * Math.PI * ((k * j) % n)) / n;
      re += x * Math.cos(angle);
      im -= x * Math.sin(angle);
    }
    power[k] = re * re + im * im;
  }
  const matrix = spectrumMatrix();
  return Array.from({ length: AUDIO_FEATURES }, (_, f) => {
    let sum = 0;
    for (let k = 0; k < bins; k++)
      sum += (power[k] as number) * (matrix[k * AUDIO_FEATURES + f] as number);
    const db = 10 * Math.log10(sum + 1e-10);
    const [floor, range] = f === 0 ? [-50, 35] : [-60, 40];
    return Math.min(1, Math.max(0, (db - floor) / range));
  });
}

/** espeak-ng's speech as 16 kHz mono (linear resampling is plenty for energies), or undefined. */
function espeakSpeech(text: string): Float32Array | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'likeness-espeak-'));
  try {
    const file = join(dir, 'speech.wav');
    execFileSync('espeak-ng', ['-w', file, text], { stdio: 'ignore' });
    const wav = readFileSync(file);
    let at = 12;
    let rate = 0;
    while (at + 8 <= wav.length) {
      const id = wav.toString('ascii', at, at + 4);
      const size = wav.readUInt32LE(at + 4);
      if (id === 'fmt ') rate = wav.readUInt32LE(at + 12);
      if (id === 'data') {
        const samples = Math.floor(Math.min(size, wav.length - at - 8) / 2);
        const pcm = Float32Array.from(
          { length: samples },
          (_, k) => wav.readInt16LE(at + 8 + 2 * k) / 32768,
        );
        const out = new Float32Array(Math.floor((samples * AUDIO_SAMPLE_RATE) / rate));
        for (let k = 0; k < out.length; k++) {
          const t = (k * rate) / AUDIO_SAMPLE_RATE;
          const i = Math.floor(t);
          out[k] = (pcm[i] ?? 0) * (1 - (t - i)) + (pcm[i + 1] ?? 0) * (t - i);
        }
        return out;
      }
      at += 8 + size + (size % 2);
    }
    return undefined;
  } catch {
    return undefined; // espeak-ng not installed
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Syllable-like bursts of voiced sound with pauses: the fallback when espeak-ng is missing. */
function syntheticSpeech(): Float32Array {
  const out = new Float32Array(3 * AUDIO_SAMPLE_RATE);
  for (let n = 0; n < out.length; n++) {
    const t = n / AUDIO_SAMPLE_RATE;
    const inWord = t % 0.75 < 0.5;
    const envelope = inWord ? Math.sin((Math.PI * (t % 0.75)) / 0.5) : 0;
    const voice =
      Math.sin(2 * Math.PI * 140 * t) +
      0.5 * Math.sin(2 * Math.PI * 700 * t) +
      0.3 * Math.sin(2 * Math.PI * 2400 * t);
    out[n] = 0.15 * envelope * voice;
  }
  return out;
}

describe('reference audio encoder', () => {
  it('makes T = ceil(S / 320) tokens', async () => {
    for (const S of [1, 319, 320, 321, 400, 640, 16_000, 16_001]) {
      const f = await features(new Float32Array(S).fill(0.01));
      expect(f.tokens).toBe(Math.ceil(S / AUDIO_HOP));
    }
  });

  it('computes log energy and mel band energies exactly as defined (Hann, DFT, Parseval)', async () => {
    const audio = new Float32Array(AUDIO_SAMPLE_RATE / 5);
    for (let n = 0; n < audio.length; n++) {
      audio[n] =
        0.2 * Math.sin(n * 0.09) * Math.sin(n * 0.0031) +
        0.05 * Math.sin(n * 1.3) +
        0.02 * Math.cos(n * 0.47);
    }
    const f = await features(audio);
    let worst = 0;
    for (const token of [0, 3, f.tokens - 1]) {
      const want = expectedFeatures(audio, token);
      want.forEach(
        (v, i) =>
          (worst = Math.max(worst, Math.abs(v - (f.data[token * AUDIO_FEATURES + i] as number)))),
      );
    }
    expect(worst).toBeLessThan(1e-3);
  });

  it('gives silence 0 everywhere and a steady tone a steady energy in its own band', async () => {
    const silence = await features(new Float32Array(AUDIO_SAMPLE_RATE));
    expect(Math.max(...silence.data)).toBe(0);

    const f = await features(tone(1, 440, 0.1)); // RMS −23 dB
    const energies = energyOf(f).slice(0, -2); // the last tokens reach into the zero padding
    for (const e of energies) expect(e).toBeCloseTo((-23.01 + 50) / 35, 2);
    // the loudest band climbs with the pitch
    const loudestBand = async (hz: number): Promise<number> => {
      const g = await features(tone(0.2, hz, 0.1));
      const bands = Array.from(g.data.subarray(5 * AUDIO_FEATURES + 1, 6 * AUDIO_FEATURES));
      return bands.indexOf(Math.max(...bands));
    };
    const order = [];
    for (const hz of [150, 440, 1000, 2500, 6000]) order.push(await loudestBand(hz));
    for (let k = 1; k < order.length; k++) expect(order[k]).toBeGreaterThan(order[k - 1] as number);
    expect(order[1]).toBe(2); // 440 Hz: nearest band centre on the mel scale is band 2 (≈ 500 Hz)
    const quiet = await features(tone(1, 440, 0.01));
    expect(energyOf(quiet)[10]).toBeLessThan((energies[10] as number) - 0.5);
  });

  it('places a burst in the tokens whose window overlaps it', async () => {
    const audio = new Float32Array(AUDIO_SAMPLE_RATE);
    audio.set(tone(0.25, 300, 0.3), 8000); // samples 8000 … 11 999
    const e = energyOf(await features(audio));
    // token i sees [320·i, 320·i + 400): tokens 0…23 end before the burst, 25…36 lie inside it
    for (let i = 0; i <= 23; i++) expect(e[i]).toBe(0);
    for (let i = 25; i <= 36; i++) expect(e[i]).toBeGreaterThan(0.8);
    for (let i = 38; i < e.length; i++) expect(e[i]).toBe(0);
  });

  it('tracks the energy of speech: loud in words, near 0 in pauses', async () => {
    const speech = espeakSpeech('Hello there. This is the reference pack.') ?? syntheticSpeech();
    const f = await features(speech);
    const e = energyOf(f);
    const sorted = [...e].sort((a, b) => a - b);
    expect(sorted[Math.floor(0.9 * e.length)]).toBeGreaterThan(0.6); // words
    expect(sorted[Math.floor(0.05 * e.length)]).toBeLessThan(0.1); // pauses and the silent ends
    // feature 0 follows the per-token loudness computed from the samples (rank correlation)
    const loudness = e.map((_, i) => {
      let sum = 0;
      for (let j = 0; j < AUDIO_WINDOW; j++) sum += (speech[i * AUDIO_HOP + j] ?? 0) ** 2;
      return sum;
    });
    const rank = (xs: number[]): number[] => {
      const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
      const r = new Array<number>(xs.length);
      order.forEach(([, i], k) => (r[i] = k));
      return r;
    };
    const [ra, rb] = [rank(e), rank(loudness)];
    const n = e.length;
    const d2 = ra.reduce((s, r, i) => s + (r - (rb[i] as number)) ** 2, 0);
    const spearman = 1 - (6 * d2) / (n * (n * n - 1));
    expect(spearman).toBeGreaterThan(0.9);
  });
});
