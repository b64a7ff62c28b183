import { startTool } from '../media/ffmpeg';
import { MediaToolError } from '../media/media.errors';

export interface ToneBurst {
  /** Start time, seconds. */
  start: number;
  /** Length, seconds (ramps included). */
  duration: number;
  /** Peak amplitude, 0..1. */
  amplitude: number;
  /** Tone frequency in Hz (default 220: in the speech band). */
  frequency?: number;
}

export interface ToneBurstsOptions {
  durationSeconds: number;
  bursts: readonly ToneBurst[];
  /** Default 16000. */
  sampleRate?: number;
  /** Raised-cosine fade at each end of a burst, seconds (default 0.01): no clicks. */
  rampSeconds?: number;
}

export interface SyntheticAudio {
  sampleRate: number;
  samples: Float32Array;
  /** The amplitude envelope the signal was built with, at time `t` seconds (0 in silence). */
  envelope(t: number): number;
}

/** 0..1: how much of burst `b` sounds `u` seconds after its start (raised-cosine ramps). */
function burstGain(b: ToneBurst, u: number, ramp: number): number {
  if (u < 0 || u >= b.duration) return 0;
  const edge = Math.min(u, b.duration - u);
  return ramp > 0 && edge < ramp ? 0.5 - 0.5 * Math.cos((Math.PI * edge) / ramp) : 1;
}

/**
 * Sine bursts over silence with a known amplitude envelope: audio whose energy per video frame
 * tests can predict (loud here, silent there) without a speech model.
 */
export function toneBursts(options: ToneBurstsOptions): SyntheticAudio {
  const sampleRate = options.sampleRate ?? 16000;
  const ramp = options.rampSeconds ?? 0.01;
  const envelope = (t: number): number =>
    options.bursts.reduce((a, b) => a + b.amplitude * burstGain(b, t - b.start, ramp), 0);
  const samples = new Float32Array(Math.round(options.durationSeconds * sampleRate));
  for (let i = 0; i < samples.length; i++) {
    const t = i / sampleRate;
    let v = 0;
    for (const b of options.bursts) {
      const u = t - b.start;
      const gain = burstGain(b, u, ramp);
      if (gain > 0) v += b.amplitude * gain * Math.sin(2 * Math.PI * (b.frequency ?? 220) * u);
    }
    samples[i] = Math.max(-1, Math.min(1, v));
  }
  return { sampleRate, samples, envelope };
}

/** `seconds` of silence. */
export function silence(seconds: number, sampleRate = 16000): Float32Array {
  return new Float32Array(Math.round(seconds * sampleRate));
}

/**
 * Writes mono float samples as a WAV file through ffmpeg (16-bit PCM by default, or 32-bit
 * float with `float: true`).
 */
export async function writeWav(
  samples: Float32Array,
  sampleRate: number,
  path: string,
  options: { float?: boolean } = {},
): Promise<void> {
  const run = startTool(
    'ffmpeg',
    [
      ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'],
      ...['-f', 'f32le', '-ar', String(sampleRate), '-ac', '1', '-i', 'pipe:0'],
      ...['-c:a', options.float ? 'pcm_f32le' : 'pcm_s16le', '-f', 'wav', path],
    ],
    { stdin: true },
  );
  run.stdin?.end(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength));
  const exit = await run.exited;
  if (exit.code !== 0)
    throw new MediaToolError('ffmpeg', 'writing WAV failed', exit.stderr.toString());
}
