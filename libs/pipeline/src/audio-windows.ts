import { ModelPackError, PipelineInputError, requireInteger } from './errors';
import { latentFrameSpan, type RenderClip } from './render-plan';
import type { Stage } from './stage';

/** Audio features of a whole track: `tokens` × `dim`, row-major, at the pack's feature rate. */
export interface AudioFeatures {
  data: Float32Array;
  tokens: number;
  dim: number;
}

export interface EncodeAudioOptions {
  /** Samples per feature token (sampleRate / featureRate: 320 at 16 kHz → 50 Hz). */
  hop: number;
  /** Longest piece given to the encoder at once, in tokens (default 1500 = 30 s at 50 Hz). */
  chunkTokens?: number;
}

/**
 * Runs the audioEncoder over the whole track and returns T = ceil(S / hop) tokens (fewer if the
 * encoder returns fewer). Long tracks go in chunks of `chunkTokens`, each given one extra hop of
 * samples past its end so that the last token of a chunk sees its whole window (token i covers
 * samples [hop·i, hop·i + window) with window ≤ 2·hop), and only the chunk's own tokens are
 * kept: for a local encoder such as the reference pack's, chunked and whole results are equal.
 */
export async function encodeAudio(
  stage: Stage,
  samples: Float32Array,
  options: EncodeAudioOptions,
): Promise<AudioFeatures> {
  const hop = requireInteger('hop', options.hop, 1);
  const chunkTokens = requireInteger('chunkTokens', options.chunkTokens ?? 1500, 1);
  if (samples.length === 0) throw new PipelineInputError('audio', 'has no samples');
  const total = Math.ceil(samples.length / hop);
  let data: Float32Array | undefined;
  let dim = 0;
  let tokens = 0;
  for (let first = 0; first < total; first += chunkTokens) {
    const last = Math.min(total, first + chunkTokens);
    const piece = samples.subarray(first * hop, Math.min(samples.length, last * hop + hop));
    const { features } = await stage.run({ audio: { data: piece, dims: [1, piece.length] } });
    if (!features || features.dims.length !== 3) {
      throw new ModelPackError('run', 'must be [1, T, D]', stage.name, 'features');
    }
    const got = features.dims[1] as number;
    if (!data) {
      dim = features.dims[2] as number;
      data = new Float32Array(total * dim);
    }
    const keep = Math.min(got, last - first);
    data.set(features.data.subarray(0, keep * dim), tokens * dim);
    tokens += keep;
    if (keep < last - first) break; // the encoder makes fewer tokens than T: use what it gave
  }
  return { data: (data as Float32Array).subarray(0, tokens * dim), tokens, dim };
}

/** Per-latent-frame audio of one clip: `audio` [F', K, D] and `mask` [F', K]. */
export interface ClipAudioWindows {
  audio: Float32Array;
  mask: Float32Array;
  /** First token index (on the global timeline, may be negative) of each latent frame's window. */
  firstToken: Int32Array;
}

export interface AudioWindowOptions {
  /** Window length K (17 in the release). */
  tokens: number;
  fps: number;
  featureRate: number;
  temporalStride: number;
}

/**
 * The centre token of a span of video frames: the token whose interval [i/rate, (i+1)/rate)
 * holds the span's midpoint (first + last + 1)/(2·fps). Integer arithmetic, so exact.
 */
export function centreToken(first: number, last: number, fps: number, featureRate: number): number {
  return Math.floor(((first + last + 1) * featureRate) / (2 * fps));
}

/**
 * For each latent frame of `clip`, the K tokens centred on its video frames on the global
 * timeline (tokens c − ⌊(K−1)/2⌋ … c + ⌈(K−1)/2⌉). Tokens before the start or past the end of
 * the audio stay in place as zeros with mask 0, so a window's position still tells the
 * denoiser which token belongs to which video frame.
 */
export function clipAudioWindows(
  features: AudioFeatures,
  clip: RenderClip,
  options: AudioWindowOptions,
): ClipAudioWindows {
  const K = requireInteger('tokens', options.tokens, 1);
  const { dim } = features;
  const latents = clip.latentFrames;
  const audio = new Float32Array(latents * K * dim);
  const mask = new Float32Array(latents * K);
  const firstToken = new Int32Array(latents);
  const before = Math.floor((K - 1) / 2);
  for (let i = 0; i < latents; i++) {
    const [first, last] = latentFrameSpan(clip, i, options.temporalStride);
    const start = centreToken(first, last, options.fps, options.featureRate) - before;
    firstToken[i] = start;
    for (let k = 0; k < K; k++) {
      const token = start + k;
      if (token < 0 || token >= features.tokens) continue;
      mask[i * K + k] = 1;
      audio.set(features.data.subarray(token * dim, (token + 1) * dim), (i * K + k) * dim);
    }
  }
  return { audio, mask, firstToken };
}
