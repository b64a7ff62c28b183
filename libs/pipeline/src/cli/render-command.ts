import { randomInt } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { MANIFEST_FILE } from '@likeness/contracts';
import {
  ModelPackError,
  PipelineInputError,
  RenderCanceled,
  UnsupportedByModelError,
} from '../errors';
import { FaceError } from '../face/face.errors';
import { framesForDuration } from '../frame-plan';
import { decodeAudio } from '../media/audio';
import { MediaToolError } from '../media/media.errors';
import { Mp4Encoder } from '../media/mp4-encoder';
import { writePoster } from '../media/poster';
import { loadModelPack, type ExecutionProvider, type ModelPack } from '../model-pack';
import { preparePortrait } from '../portrait';
import { render, type FrameSink } from '../render';
import { MAX_SEED } from '../seeded-noise';
import { BUILD_PACK_COMMAND, newestPack } from './pack-dir';
import { ProgressDisplay } from './progress-display';

/** Exit codes: scripts branch on them. */
export const PipelineExitCode = {
  Ok: 0,
  /** The render failed for a reason that is not the caller's (ffmpeg, a broken stage). */
  Failure: 1,
  /** Bad flags or input files (the message names the flag). */
  Usage: 2,
  /** Interrupted (SIGINT/SIGTERM): nothing was written at --out. */
  Canceled: 130,
} as const;
export type PipelineExitCode = (typeof PipelineExitCode)[keyof typeof PipelineExitCode];

export interface PipelineCliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Relative paths are resolved against this (default process.cwd()). */
  readonly cwd?: string;
  stdout(text: string): void;
  stderr(text: string): void;
  /** stderr is a terminal: progress is a bar drawn in place, else one line per change. */
  readonly stderrIsTTY?: boolean;
  readonly stderrStream?: NodeJS.WriteStream;
  /** Aborts the render (the CLI's main wires SIGINT/SIGTERM to it). */
  readonly signal?: AbortSignal;
}

/** A bad flag or input: the message starts with the flag (`--expression: must be in 0..1, got 2`). */
export class CliUsageError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`${flag}: ${message}`);
    this.name = 'CliUsageError';
  }
}

/** Pipeline field → the flag that sets it. */
const FLAG_OF_FIELD: Readonly<Record<string, string>> = {
  image: '--image',
  audio: '--audio',
  expression: '--expression',
  body: '--body',
  seed: '--seed',
  steps: '--steps',
  maxSide: '--max-side',
  prompt: '--prompt',
  faceIndex: '--face-index',
  identity: '--image',
  faceBox: '--image',
  faceKeypoints: '--image',
};

export interface RenderFlags {
  image: string;
  audio: string;
  out: string;
  poster: string;
  pack: string;
  /** Undefined: the pack's default (1), and no motion asked of a pack without it. */
  expression: number | undefined;
  body: number | undefined;
  seed: number;
  steps: number;
  maxSide: number | undefined;
  provider: ExecutionProvider;
  prompt: string;
  faceIndex: number | undefined;
}

interface RawFlags {
  image?: string;
  audio?: string;
  out?: string;
  poster?: string;
  pack?: string;
  expression?: string;
  body?: string;
  seed?: string;
  steps: string;
  maxSide?: string;
  provider: string;
  prompt: string;
  faceIndex?: string;
}

function number(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) {
    throw new CliUsageError(flag, `must be a number, got "${text}"`);
  }
  return value;
}

function fraction(flag: string, text: string): number {
  const value = number(flag, text);
  if (value < 0 || value > 1) throw new CliUsageError(flag, `must be 0..1, got ${text}`);
  return value;
}

function integer(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = number(flag, text);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new CliUsageError(flag, `must be an integer in ${min}..${max}, got ${text}`);
  }
  return value;
}

function readableFile(flag: string, path: string): string {
  if (!existsSync(path)) throw new CliUsageError(flag, `${path} does not exist`);
  if (!statSync(path).isFile()) throw new CliUsageError(flag, `${path} is not a file`);
  return path;
}

function writableTarget(flag: string, path: string, extensions: readonly string[]): string {
  if (!extensions.includes(extname(path).toLowerCase())) {
    throw new CliUsageError(flag, `must end in ${extensions.join(' or ')}, got ${path}`);
  }
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw new CliUsageError(flag, `${path} is a directory`);
  }
  const dir = dirname(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CliUsageError(flag, `folder ${dir} does not exist`);
  }
  return path;
}

/** Checks every flag before any work, so a typo costs nothing. Relative paths against `cwd`. */
export function resolveRenderFlags(
  raw: RawFlags,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): RenderFlags {
  const path = (p: string): string => resolve(cwd, p);
  if (!raw.image) throw new CliUsageError('--image', 'is required (the portrait photo)');
  if (!raw.audio) throw new CliUsageError('--audio', 'is required (the speech track)');
  if (!raw.out) throw new CliUsageError('--out', 'is required (the MP4 to write)');
  const expression =
    raw.expression === undefined ? undefined : fraction('--expression', raw.expression);
  const body = raw.body === undefined ? undefined : fraction('--body', raw.body);
  const seed =
    raw.seed === undefined ? randomInt(0, 2 ** 31) : integer('--seed', raw.seed, 0, MAX_SEED);
  const steps = integer('--steps', raw.steps, 1, 1000);
  let maxSide: number | undefined;
  if (raw.maxSide !== undefined) {
    maxSide = integer('--max-side', raw.maxSide, 16);
    if (maxSide % 16 !== 0) {
      throw new CliUsageError('--max-side', `must be a multiple of 16, got ${raw.maxSide}`);
    }
  }
  if (raw.provider !== 'cpu' && raw.provider !== 'cuda') {
    throw new CliUsageError('--provider', `must be cpu or cuda, got "${raw.provider}"`);
  }
  if (raw.prompt.trim() === '') throw new CliUsageError('--prompt', 'must not be empty');
  const faceIndex =
    raw.faceIndex === undefined ? undefined : integer('--face-index', raw.faceIndex, 0);
  const image = readableFile('--image', path(raw.image));
  const audio = readableFile('--audio', path(raw.audio));
  const out = writableTarget('--out', path(raw.out), ['.mp4']);
  const poster = writableTarget(
    '--poster',
    raw.poster ? path(raw.poster) : join(dirname(out), `${basename(out, extname(out))}.jpg`),
    ['.jpg', '.jpeg', '.png'],
  );
  if (poster === out) throw new CliUsageError('--poster', 'must differ from --out');

  let pack: string;
  if (raw.pack) {
    pack = path(raw.pack);
    if (!existsSync(join(pack, MANIFEST_FILE))) {
      throw new CliUsageError('--pack', `${pack} holds no ${MANIFEST_FILE}`);
    }
  } else {
    const dataDir = path(env['LIKENESS_DATA_DIR'] ?? '.data');
    const found = newestPack(dataDir);
    if (!found) {
      throw new CliUsageError(
        '--pack',
        `no model pack under ${join(dataDir, 'models')}; build the reference pack with\n  ${BUILD_PACK_COMMAND}\n(from the repository root) or pass --pack <dir>`,
      );
    }
    pack = found;
  }
  return {
    image,
    audio,
    out,
    poster,
    pack,
    expression,
    body,
    seed,
    steps,
    maxSide,
    provider: raw.provider,
    prompt: raw.prompt,
    faceIndex,
  };
}

/** Keeps frame 0 (the poster) and passes every frame on. */
class PosterTap implements FrameSink {
  first: Uint8Array | undefined;

  constructor(private readonly next: FrameSink) {}

  async write(frames: Uint8Array, width: number, height: number): Promise<void> {
    this.first ??= frames.slice(0, width * height * 3);
    await this.next.write(frames, width, height);
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);

/** One `render` invocation; returns the exit code. Progress on stderr, the result on stdout. */
async function runRender(flags: RenderFlags, io: PipelineCliIo): Promise<void> {
  const started = performance.now();
  const display = new ProgressDisplay({
    write: (text) => io.stderr(text),
    isTTY: io.stderrIsTTY ?? false,
    ...(io.stderrStream ? { stream: io.stderrStream } : {}),
  });
  io.stderr(`loading model pack ${flags.pack} (${flags.provider})\n`);
  let pack: ModelPack;
  try {
    pack = await loadModelPack(flags.pack, {
      provider: flags.provider,
      logger: {
        info: () => undefined,
        warn: (obj, msg) => io.stderr(`warning: ${msg} ${JSON.stringify(obj)}\n`),
      },
    });
  } catch (e) {
    if (e instanceof ModelPackError && (e.problem === 'manifest' || e.problem === 'file')) {
      throw new CliUsageError('--pack', e.message);
    }
    throw e;
  }
  const loadedAt = performance.now();
  let encoder: Mp4Encoder | undefined;
  try {
    const maxSide = flags.maxSide ?? pack.manifest.capabilities.maxSide;
    if (maxSide > pack.manifest.capabilities.maxSide) {
      throw new CliUsageError(
        '--max-side',
        `model pack "${pack.name}" renders at most ${pack.manifest.capabilities.maxSide} px, got ${maxSide}`,
      );
    }
    const portrait = await preparePortrait(pack, flags.image, {
      maxSide,
      ...(flags.faceIndex !== undefined ? { faceIndex: flags.faceIndex } : {}),
    });
    const faceAt = performance.now();
    const audio = await decodeAudio(flags.audio, { sampleRate: pack.geometry.sampleRate });
    const audioAt = performance.now();
    const { width, height } = portrait.image;
    io.stderr(
      `face ${Math.round(portrait.face.size)} px (score ${portrait.face.score.toFixed(2)}); ` +
        `${width}×${height}, ${audio.durationSeconds.toFixed(2)} s of audio, seed ${flags.seed}\n`,
    );
    encoder = new Mp4Encoder({
      path: flags.out,
      width,
      height,
      fps: pack.geometry.fps,
      audioPath: flags.audio,
      // The render makes a frame for every started frame of audio: one ffmpeg run for both.
      expectedFrames: framesForDuration(audio.samples.length / audio.sampleRate, pack.geometry.fps),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    const tap = new PosterTap(encoder);
    const result = await render(
      {
        pack,
        image: portrait.image,
        audio: { sampleRate: audio.sampleRate, samples: audio.samples },
        faceBox: portrait.faceBox,
        faceKeypoints: portrait.faceKeypoints,
        identity: portrait.identity ?? null,
        prompt: flags.prompt,
        seed: flags.seed,
        steps: flags.steps,
        ...(flags.expression !== undefined ? { expression: flags.expression } : {}),
        ...(flags.body !== undefined ? { body: flags.body } : {}),
        maxSide,
      },
      {
        sink: tap,
        onProgress: (p) => display.update(p),
        ...(io.signal ? { signal: io.signal } : {}),
      },
    );
    display.stop();
    const renderedAt = performance.now();
    const mp4 = await encoder.finish();
    const finishedAt = performance.now();
    if (tap.first) await writePoster({ width, height, data: tap.first }, flags.poster);
    const t = result.timings;
    io.stdout(
      [
        `video   ${mp4.path} (${width}×${height}, ${mp4.frames} frames, ${mp4.durationSeconds.toFixed(2)} s, ${result.clips} clip(s))`,
        `poster  ${flags.poster}`,
        `seed    ${result.seed}`,
        `timings total ${seconds(performance.now() - started)}: pack ${seconds(loadedAt - started)}, ` +
          `face + image ${seconds(faceAt - loadedAt)}, audio ${seconds(audioAt - faceAt)}, ` +
          `render ${seconds(renderedAt - audioAt)} (encoders ${seconds(t.prepareMs)}, ` +
          `${t.stepMs.length} steps ${seconds(sum(t.stepMs))} = ${(sum(t.stepMs) / Math.max(1, t.stepMs.length)).toFixed(0)} ms/step, ` +
          `decode ${seconds(sum(t.decodeMs))}, frames to ffmpeg ${seconds(sum(t.writeMs))}), ` +
          `mux ${seconds(finishedAt - renderedAt)}`,
      ].join('\n') + '\n',
    );
  } catch (e) {
    display.stop();
    await encoder?.abort();
    throw e;
  } finally {
    await pack.release();
  }
}

function buildProgram(io: PipelineCliIo): Command {
  const program = new Command('likeness-pipeline')
    .description(
      'Likeness render pipeline, locally: talking-portrait video from a photo and speech',
    )
    .exitOverride()
    .configureOutput({ writeOut: (t) => io.stdout(t), writeErr: (t) => io.stderr(t) })
    .showHelpAfterError('(run likeness-pipeline render --help for usage)');

  program
    .command('render')
    .description('render an MP4 (H.264 + AAC) and a poster JPEG with a model pack on this machine')
    .option('--image <file>', 'portrait photo (JPEG, PNG or WebP) with one face')
    .option('--audio <file>', 'speech (any format ffmpeg reads)')
    .option('--out <file.mp4>', 'the video to write')
    .option('--poster <file>', 'poster frame (.jpg/.png; default: --out with .jpg)')
    .option(
      '--pack <dir>',
      'model pack folder (default: the newest under $LIKENESS_DATA_DIR/models or ./.data/models)',
    )
    .option('--expression <0..1>', 'facial motion (default 1)')
    .option('--body <0..1>', 'head and body motion (default 1)')
    .option('--seed <n>', 'noise seed (default: random, printed)')
    .option('--steps <n>', 'denoiser steps', '30')
    .option(
      '--max-side <px>',
      "long side of the video, a multiple of 16 (default: the pack's, 512)",
    )
    .option('--provider <cpu|cuda>', 'onnxruntime execution provider', 'cpu')
    .option('--prompt <text>', 'text prompt', 'A person is talking.')
    .option('--face-index <n>', 'which face, when the photo shows several')
    .action(async (raw: RawFlags) => {
      const flags = resolveRenderFlags(raw, io.env, io.cwd ?? process.cwd());
      await runRender(flags, io);
    });
  return program;
}

/** The message for a failure, with the flag it is about first. */
function describeError(e: unknown): { code: PipelineExitCode; message: string } {
  if (e instanceof CliUsageError) return { code: PipelineExitCode.Usage, message: e.message };
  if (e instanceof FaceError) {
    const flag = FLAG_OF_FIELD[e.field] ?? e.field;
    const text = e.code === 'NO_FACE' ? 'no face found in the photo' : e.message;
    return { code: PipelineExitCode.Usage, message: `${flag}: ${text} (${e.code})` };
  }
  if (e instanceof UnsupportedByModelError || e instanceof PipelineInputError) {
    const flag = FLAG_OF_FIELD[e.field] ?? e.field;
    const text = e.message.startsWith(`${e.field}: `)
      ? e.message.slice(e.field.length + 2)
      : e.message;
    return { code: PipelineExitCode.Usage, message: `${flag}: ${text}` };
  }
  if (e instanceof RenderCanceled) {
    return { code: PipelineExitCode.Canceled, message: `${e.message}; nothing was written` };
  }
  if (e instanceof MediaToolError) {
    return { code: PipelineExitCode.Failure, message: `${e.message}` };
  }
  if (e instanceof ModelPackError) {
    return { code: PipelineExitCode.Failure, message: `model pack: ${e.message}` };
  }
  return {
    code: PipelineExitCode.Failure,
    message: `unexpected failure: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
  };
}

/** Runs one invocation (`render …`) and returns its exit code; never calls process.exit. */
export async function runPipelineCli(
  args: readonly string[],
  io: PipelineCliIo,
): Promise<PipelineExitCode> {
  const program = buildProgram(io);
  try {
    if (args.length === 0) {
      io.stderr(program.helpInformation());
      return PipelineExitCode.Usage;
    }
    await program.parseAsync([...args], { from: 'user' });
    return PipelineExitCode.Ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? PipelineExitCode.Ok : PipelineExitCode.Usage;
    }
    const { code, message } = describeError(error);
    io.stderr(`error: ${message}\n`);
    return code;
  }
}
