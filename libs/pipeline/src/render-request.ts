import { createHash } from 'node:crypto';
import { SIDE_MULTIPLE } from '@likeness/contracts';
import { DEFAULT_AUDIO_CFG, DEFAULT_PROMPT_CFG } from './guidance';
import {
  PipelineInputError,
  UnsupportedByModelError,
  requireInRange,
  requireInteger,
  requirePositiveFinite,
} from './errors';
import type { ModelPack } from './model-pack';
import { DEFAULT_OVERLAP_LATENTS } from './render-plan';
import { DEFAULT_SHIFT, DEFAULT_STEPS } from './scheduler';
import { validateSeed } from './seeded-noise';
import { DEFAULT_NEGATIVE_PROMPT } from './text-context';

/** The avatar photo after preparation: sides multiples of 16, long side ≤ maxSide. */
export interface RenderImage {
  width: number;
  height: number;
  /** Planar RGB [3, H, W] in −1..1 (the VAE's input range). */
  pixels: Float32Array;
  /** The imageEncoder's input: planar [3, h, w] in −1..1 at the manifest's size (224 × 224). */
  encoderPixels: Float32Array;
}

/** Decoded audio: mono samples in −1..1 at the pack's sample rate (16 kHz). */
export interface RenderAudio {
  sampleRate: number;
  samples: Float32Array;
}

export type FaceBox = readonly [number, number, number, number];
/** The same box as `DetectedFace.normalized.box`. */
export interface FaceBoxObject {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}
/** A point as in `DetectedFace.normalized.keypoints`. */
export interface FacePointObject {
  x: number;
  y: number;
}

export interface RenderRequest {
  pack: ModelPack;
  image: RenderImage;
  audio: RenderAudio;
  /** (x0, y0, x1, y1) normalised 0..1 in output-image coordinates; required when the denoiser takes `face_box`. */
  faceBox?: FaceBox | readonly number[] | FaceBoxObject | null;
  /** BlazeFace's 6 keypoints (x, y) normalised 0..1; required when the denoiser takes `face_keypoints`. */
  faceKeypoints?: readonly (readonly number[] | FacePointObject)[] | null;
  /** The avatar's identity embedding; only for packs with the `identity` capability (and then required). */
  identity?: Float32Array | readonly number[] | null;
  prompt: string;
  /** Default: the release's negative prompt. */
  negativePrompt?: string;
  seed: number;
  /** Default 30. */
  steps?: number;
  /** Default 5. */
  shift?: number;
  /** Default 5. */
  promptCfg?: number;
  /** Default 5. */
  audioCfg?: number;
  /** Audio scale of the text+audio row (default 1). */
  audioScale?: number;
  /** Facial motion 0..1; only for packs with the `motion` capability (default 1 there). */
  expression?: number | null;
  /** Body motion 0..1; only for packs with the `motion` capability (default 1 there). */
  body?: number | null;
  /** Longest side allowed for this render (default and ceiling: the pack's maxSide). */
  maxSide?: number;
  /** Latent frames each clip takes over from the previous one (default 1). */
  overlapLatents?: number;
}

export const DEFAULT_AUDIO_SCALE = 1;
export const DEFAULT_EXPRESSION = 1;
export const DEFAULT_BODY = 1;
/** Bumped when a change to the pipeline would make old checkpoints produce different frames. */
export const RENDER_FORMAT = 1;

/** A validated request with every default filled in. */
export interface NormalizedRenderRequest {
  pack: ModelPack;
  image: RenderImage;
  audio: RenderAudio;
  faceBox: Float32Array | undefined;
  faceKeypoints: Float32Array | undefined;
  identity: Float32Array | undefined;
  prompt: string;
  negativePrompt: string;
  seed: number;
  steps: number;
  shift: number;
  promptCfg: number;
  audioCfg: number;
  audioScale: number;
  expression: number;
  body: number;
  maxSide: number;
  overlapLatents: number;
}

function isSet<T>(value: T | null | undefined): value is T {
  return value !== undefined && value !== null;
}

function requireFiniteArray(field: string, values: ArrayLike<number>): void {
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new PipelineInputError(field, `value ${k} is not a finite number: ${String(v)}`);
    }
  }
}

/**
 * Checks every field against the pack and fills in defaults. A control the pack cannot honour
 * is an UnsupportedByModelError naming the field; every other problem a PipelineInputError.
 */
export function normalizeRenderRequest(request: RenderRequest): NormalizedRenderRequest {
  const { pack } = request;
  const { capabilities } = pack.manifest;
  const g = pack.geometry;

  const identitySet = isSet(request.identity);
  if (identitySet && !capabilities.identity)
    throw new UnsupportedByModelError('identity', pack.name, 'identity');
  for (const field of ['expression', 'body'] as const) {
    if (isSet(request[field]) && !capabilities.motion)
      throw new UnsupportedByModelError(field, pack.name, 'motion');
  }

  const maxSide = requireInteger('maxSide', request.maxSide ?? capabilities.maxSide, SIDE_MULTIPLE);
  if (maxSide % SIDE_MULTIPLE !== 0) {
    throw new PipelineInputError(
      'maxSide',
      `must be a multiple of ${SIDE_MULTIPLE}, got ${maxSide}`,
    );
  }
  if (maxSide > capabilities.maxSide) {
    throw new PipelineInputError(
      'maxSide',
      `is ${maxSide}, model pack "${pack.name}" renders at most ${capabilities.maxSide}`,
    );
  }

  const { image } = request;
  if (!image || typeof image !== 'object') throw new PipelineInputError('image', 'is required');
  const width = requireInteger('image.width', image.width, 1);
  const height = requireInteger('image.height', image.height, 1);
  const multiple = Math.max(SIDE_MULTIPLE, g.spatialStride);
  for (const [field, side] of [
    ['image.width', width],
    ['image.height', height],
  ] as const) {
    if (side % SIDE_MULTIPLE !== 0 || side % g.spatialStride !== 0) {
      throw new PipelineInputError(field, `must be a multiple of ${multiple}, got ${side}`);
    }
  }
  if (Math.max(width, height) > maxSide) {
    throw new PipelineInputError(
      'image',
      `is ${width}×${height}, its long side is over maxSide ${maxSide}`,
    );
  }
  if (!(image.pixels instanceof Float32Array) || image.pixels.length !== 3 * width * height) {
    throw new PipelineInputError(
      'image.pixels',
      `must be a Float32Array of 3·${height}·${width} values`,
    );
  }
  requireFiniteArray('image.pixels', image.pixels);
  const encoderValues = 3 * g.imageEncoderHeight * g.imageEncoderWidth;
  if (
    !(image.encoderPixels instanceof Float32Array) ||
    image.encoderPixels.length !== encoderValues
  ) {
    throw new PipelineInputError(
      'image.encoderPixels',
      `must be a Float32Array of 3·${g.imageEncoderHeight}·${g.imageEncoderWidth} values`,
    );
  }
  requireFiniteArray('image.encoderPixels', image.encoderPixels);

  const { audio } = request;
  if (!audio || typeof audio !== 'object') throw new PipelineInputError('audio', 'is required');
  if (audio.sampleRate !== g.sampleRate) {
    throw new PipelineInputError(
      'audio.sampleRate',
      `must be ${g.sampleRate} Hz for this pack, got ${String(audio.sampleRate)}`,
    );
  }
  if (!(audio.samples instanceof Float32Array) || audio.samples.length === 0) {
    throw new PipelineInputError('audio.samples', 'must be a non-empty Float32Array');
  }
  requireFiniteArray('audio.samples', audio.samples);

  let faceBox: Float32Array | undefined;
  if (isSet(request.faceBox)) {
    const box = request.faceBox;
    const values = 'x0' in box ? [box.x0, box.y0, box.x1, box.y1] : Array.from(box);
    if (values.length !== 4) throw new PipelineInputError('faceBox', 'must be (x0, y0, x1, y1)');
    faceBox = Float32Array.from(values, (v, k) => requireInRange(`faceBox[${k}]`, v, 0, 1));
    if (!(
      (faceBox[0] as number) < (faceBox[2] as number) &&
      (faceBox[1] as number) < (faceBox[3] as number)
    )) {
      throw new PipelineInputError('faceBox', 'must have x0 < x1 and y0 < y1');
    }
  } else if (pack.denoiserTakes('face_box')) {
    throw new PipelineInputError('faceBox', `is required by model pack "${pack.name}"`);
  }

  let faceKeypoints: Float32Array | undefined;
  if (isSet(request.faceKeypoints)) {
    const points = request.faceKeypoints;
    const expected = g.faceKeypoints ?? points.length;
    if (points.length !== expected) {
      throw new PipelineInputError(
        'faceKeypoints',
        `must have ${expected} points, got ${points.length}`,
      );
    }
    const xy = new Float32Array(points.length * 2);
    points.forEach((point, k) => {
      const pair = point && 'x' in point ? [point.x, point.y] : point;
      if (!pair || pair.length !== 2)
        throw new PipelineInputError(`faceKeypoints[${k}]`, 'must be (x, y)');
      xy[2 * k] = requireInRange(`faceKeypoints[${k}].x`, pair[0] as number, 0, 1);
      xy[2 * k + 1] = requireInRange(`faceKeypoints[${k}].y`, pair[1] as number, 0, 1);
    });
    faceKeypoints = xy;
  } else if (pack.denoiserTakes('face_keypoints')) {
    throw new PipelineInputError('faceKeypoints', `are required by model pack "${pack.name}"`);
  }

  let identity: Float32Array | undefined;
  if (identitySet) {
    identity = Float32Array.from(request.identity as ArrayLike<number>);
    if (identity.length === 0) throw new PipelineInputError('identity', 'is empty');
    if (g.identityDim !== undefined && identity.length !== g.identityDim) {
      throw new PipelineInputError(
        'identity',
        `must have ${g.identityDim} values, got ${identity.length}`,
      );
    }
    requireFiniteArray('identity', identity);
  } else if (capabilities.identity && pack.denoiserTakes('identity')) {
    throw new PipelineInputError(
      'identity',
      `is required by model pack "${pack.name}" (the avatar's embedding)`,
    );
  }

  if (typeof request.prompt !== 'string')
    throw new PipelineInputError('prompt', 'must be a string');
  const negativePrompt = request.negativePrompt ?? DEFAULT_NEGATIVE_PROMPT;
  if (typeof negativePrompt !== 'string')
    throw new PipelineInputError('negativePrompt', 'must be a string');

  const steps = requireInteger('steps', request.steps ?? DEFAULT_STEPS, 1);
  if (steps > 1000) throw new PipelineInputError('steps', `must be ≤ 1000, got ${steps}`);

  return {
    pack,
    image,
    audio,
    faceBox,
    faceKeypoints,
    identity,
    prompt: request.prompt,
    negativePrompt,
    seed: validateSeed(request.seed),
    steps,
    shift: requirePositiveFinite('shift', request.shift ?? DEFAULT_SHIFT),
    promptCfg: requireInRange('promptCfg', request.promptCfg ?? DEFAULT_PROMPT_CFG, 0, 100),
    audioCfg: requireInRange('audioCfg', request.audioCfg ?? DEFAULT_AUDIO_CFG, 0, 100),
    audioScale: requireInRange('audioScale', request.audioScale ?? DEFAULT_AUDIO_SCALE, 0, 100),
    expression: requireInRange('expression', request.expression ?? DEFAULT_EXPRESSION, 0, 1),
    body: requireInRange('body', request.body ?? DEFAULT_BODY, 0, 1),
    maxSide,
    overlapLatents: requireInteger(
      'overlapLatents',
      request.overlapLatents ?? DEFAULT_OVERLAP_LATENTS,
      0,
    ),
  };
}

function bytesOf(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * sha256 of everything that decides the frames: pack name and version, every control, and the
 * image, audio, face and identity data. Checkpoints are only resumed under the same hash.
 */
export function renderRequestHash(r: NormalizedRenderRequest): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      format: RENDER_FORMAT,
      pack: r.pack.name,
      version: r.pack.version,
      maxFramesPerClip: r.pack.geometry.maxFramesPerClip,
      width: r.image.width,
      height: r.image.height,
      sampleRate: r.audio.sampleRate,
      samples: r.audio.samples.length,
      prompt: r.prompt,
      negativePrompt: r.negativePrompt,
      seed: r.seed,
      steps: r.steps,
      shift: r.shift,
      promptCfg: r.promptCfg,
      audioCfg: r.audioCfg,
      audioScale: r.audioScale,
      expression: r.expression,
      body: r.body,
      maxSide: r.maxSide,
      overlapLatents: r.overlapLatents,
      faceBox: r.faceBox ? Array.from(r.faceBox) : null,
      faceKeypoints: r.faceKeypoints ? Array.from(r.faceKeypoints) : null,
      identity: r.identity ? Array.from(r.identity) : null,
    }),
  );
  hash.update(bytesOf(r.image.pixels));
  hash.update(bytesOf(r.image.encoderPixels));
  hash.update(bytesOf(r.audio.samples));
  return hash.digest('hex');
}
