import { PipelineInputError, requireInteger, requirePositiveFinite } from '../errors';
import { startTool, killTool } from './ffmpeg';

/** The audio encoder's sample rate in the release and the reference pack. */
export const DEFAULT_SAMPLE_RATE = 16000;

export interface DecodeAudioOptions {
  /** Output rate in Hz (default 16000). */
  sampleRate?: number;
  /** Refuse audio longer than this (ffmpeg is stopped as soon as it is exceeded). */
  maxSeconds?: number;
  /** The request field errors name (default 'audio'). */
  field?: string;
}

/** Decoded audio (structurally a `RenderAudio`). */
export interface DecodedAudio {
  sampleRate: number;
  /** Mono, −1..1 (channels averaged). */
  samples: Float32Array;
  durationSeconds: number;
}

/**
 * Decodes the first audio stream of any file ffmpeg reads (WAV, MP3, AAC/M4A, Ogg, FLAC, the
 * audio of a video …) to mono float samples at `sampleRate`, through an ffmpeg child process
 * writing f32le to a pipe: only the PCM is held, in chunks, copied once into the result.
 * Anything that does not decode as audio (no audio stream, corrupt data, empty) is a
 * PipelineInputError naming `field`.
 */
export async function decodeAudio(
  path: string,
  options: DecodeAudioOptions = {},
): Promise<DecodedAudio> {
  const field = options.field ?? 'audio';
  const sampleRate = requireInteger('sampleRate', options.sampleRate ?? DEFAULT_SAMPLE_RATE, 1);
  const maxSeconds =
    options.maxSeconds === undefined
      ? Infinity
      : requirePositiveFinite('maxSeconds', options.maxSeconds);
  if (typeof path !== 'string' || path === '') {
    throw new PipelineInputError(field, 'must be a file path');
  }
  const maxBytes = Math.min(Number.MAX_SAFE_INTEGER, Math.ceil(maxSeconds * sampleRate) * 4);

  const run = startTool(
    'ffmpeg',
    [
      ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', path],
      ...['-map', '0:a:0', '-vn', '-sn', '-dn'],
      // ffmpeg's plain `-ac 1` sums channels at 0.707 each (L = R = 1 gives 1.41, clipping);
      // rematrix_maxval=1 normalises the mix, which for stereo is the average (L + R) / 2.
      ...['-af', `aresample=ocl=mono:osr=${sampleRate}:rematrix_maxval=1`],
      ...['-ac', '1', '-ar', String(sampleRate), '-c:a', 'pcm_f32le', '-f', 'f32le', 'pipe:1'],
    ],
    { stdout: true },
  );
  const chunks: Buffer[] = [];
  let bytes = 0;
  let tooLong = false;
  run.stdout?.on('data', (chunk: Buffer) => {
    if (tooLong) return;
    bytes += chunk.length;
    chunks.push(chunk);
    if (bytes > maxBytes) {
      tooLong = true;
      void killTool(run);
    }
  });
  const exit = await run.exited;
  if (tooLong) {
    throw new PipelineInputError(field, `is longer than the ${maxSeconds} s allowed`);
  }
  if (exit.code !== 0) {
    const reason = exit.stderr.lastLine() || `ffmpeg exited with ${exit.code ?? exit.signal}`;
    throw new PipelineInputError(field, `could not be decoded as audio (${reason})`);
  }
  const samples = new Float32Array(Math.floor(bytes / 4));
  if (samples.length === 0) throw new PipelineInputError(field, 'contains no audio samples');
  // Chunks may split a float; copy bytes (the result is 4-byte aligned, chunks need not be).
  // f32le is the host's order on every platform Node runs on here (x86-64, arm64).
  const view = new Uint8Array(samples.buffer);
  let offset = 0;
  for (const chunk of chunks) {
    const n = Math.min(chunk.length, view.length - offset);
    view.set(chunk.subarray(0, n), offset);
    offset += n;
  }
  chunks.length = 0;
  // Resampling can overshoot full scale slightly; the contract is −1..1.
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i]!;
    if (v > 1) samples[i] = 1;
    else if (v < -1) samples[i] = -1;
  }
  return { sampleRate, samples, durationSeconds: samples.length / sampleRate };
}
