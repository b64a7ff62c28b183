import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MANIFEST_FILE,
  stageNames,
  validateManifest,
  type ModelPackManifest,
  type StageName,
  type TensorSpec,
} from '@likeness/contracts';
import type * as ort from 'onnxruntime-node';
import { ModelPackError, requireInteger } from './errors';
import { SessionThread, ThreadSession, type ThreadGcStats } from './runtime/session-thread';
import { Stage, checkGraphAgainstManifest } from './stage';
import { DEFAULT_TEXT_TOKENS, TextContextCache } from './text-context';
import { warmModelPack } from './warm';

/** Logger the pipeline writes to: pino's (obj, msg) signature, so a pino logger fits as is. */
export interface PipelineLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export const silentLogger: PipelineLogger = { info: () => undefined, warn: () => undefined };

export type ExecutionProvider = 'cpu' | 'cuda';

export interface LoadModelPackOptions {
  /** Requested provider (default cpu). `cuda` falls back to cpu, with the reason logged. */
  provider?: ExecutionProvider;
  logger?: PipelineLogger;
  /** Threads per operator (onnxruntime's intra-op pool); default: onnxruntime's choice. */
  intraOpThreads?: number;
  /** Run every stage once on small dummy inputs before returning (default true). */
  warm?: boolean;
  /** Prompt contexts kept per pack (default 64). */
  textCacheSize?: number;
  /**
   * onnxruntime's CPU memory arena (default off): with it, a 512² reference denoiser step grew the
   * process to 2.7 GB on its second run, without it 0.65 GB, at no measurable speed cost.
   */
  cpuMemArena?: boolean;
  /**
   * onnxruntime's memory pattern (default off): planned from a run's shapes and applied to later
   * runs as one block; with the arena off it buys nothing at these sizes (measured, README).
   */
  memPattern?: boolean;
  /**
   * The session thread collects its own garbage after dropping large buffers (default true): a
   * 512² denoiser step's 216 MiB velocity copy otherwise stayed resident through the next step.
   */
  collectThreadGarbage?: boolean;
  /** onnxruntime's own log level for the sessions: 0 verbose … 4 fatal (default 3, errors). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/** Inputs the pipeline knows how to produce for the denoiser (ref-pack contract). */
export const DENOISER_INPUTS = [
  'latent',
  'timestep',
  'context',
  'image_tokens',
  'condition',
  'audio',
  'audio_mask',
  'audio_scale',
  'identity',
  'motion',
  'face_box',
  'face_keypoints',
] as const;
export type DenoiserInput = (typeof DENOISER_INPUTS)[number];

/** Sizes the pipeline derives from the manifest (never from constants). */
export interface PackGeometry {
  fps: number;
  maxFramesPerClip: number;
  spatialStride: number;
  temporalStride: number;
  latentChannels: number;
  sampleRate: number;
  featureRate: number;
  /** Samples per audio token: sampleRate / featureRate. */
  hop: number;
  /** K: audio tokens per latent frame window (from the denoiser's `audio` input). */
  audioWindow: number;
  /** L: text tokens (fixed by the textEncoder or the denoiser's `context`, else 128). */
  textTokens: number;
  /** The imageEncoder's input side(s). */
  imageEncoderHeight: number;
  imageEncoderWidth: number;
  /** Di, when the denoiser takes `identity`. */
  identityDim: number | undefined;
  /** Face keypoints the denoiser takes (6 for BlazeFace), when it takes `face_keypoints`. */
  faceKeypoints: number | undefined;
}

/** A model pack with one warmed session per stage, ready to render. Load once per worker. */
export class ModelPack {
  /** Prompt contexts of this pack (LRU) and its negative prompts (kept). */
  readonly text: TextContextCache;
  private released = false;

  constructor(
    readonly dir: string,
    readonly manifest: ModelPackManifest,
    readonly stages: Readonly<Record<StageName, Stage>>,
    readonly geometry: PackGeometry,
    /** The provider each stage's session actually runs on. */
    readonly providers: Readonly<Record<StageName, ExecutionProvider>>,
    /** Why `cuda` was asked for but `cpu` is used, if so. */
    readonly providerFallbackReason: string | undefined,
    textCacheSize: number,
    private readonly thread: SessionThread,
  ) {
    this.text = new TextContextCache(
      stages.textEncoder,
      `${manifest.name}@${manifest.version}`,
      geometry.textTokens,
      textCacheSize,
    );
  }

  /** `cuda` when every stage runs on CUDA, else `cpu`. */
  get provider(): ExecutionProvider {
    return stageNames.every((n) => this.providers[n] === 'cuda') ? 'cuda' : 'cpu';
  }

  get name(): string {
    return this.manifest.name;
  }

  get version(): string {
    return this.manifest.version;
  }

  /** The denoiser declares input `name` (the pipeline feeds only declared inputs). */
  denoiserTakes(name: DenoiserInput): boolean {
    return this.stages.denoiser.has(name);
  }

  /** Per stage: runs and milliseconds (inside session.run, thread-side updates, wall) so far. */
  runStats(): Record<StageName, Stage['stats']> {
    return Object.fromEntries(stageNames.map((n) => [n, { ...this.stages[n].stats }])) as Record<
      StageName,
      Stage['stats']
    >;
  }

  /**
   * The session thread's garbage collections (`collectThreadGarbage`): whether on, how many so
   * far and their milliseconds, and the ArrayBuffer bytes its heap holds now.
   */
  threadGcStats(): Promise<ThreadGcStats> {
    return this.thread.gcStats();
  }

  /** Releases every session and stops the session thread. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await Promise.all(stageNames.map((n) => this.stages[n].session.release()));
    } finally {
      await this.thread.close();
    }
  }
}

/**
 * Reads and validates `dir/model-pack.json`, checks the pipeline can drive it, creates one
 * session per stage (from the file path, so ONNX external data beside a graph loads), compares
 * every graph with its manifest entry, and warms each session with a small run.
 */
export async function loadModelPack(
  dir: string,
  options: LoadModelPackOptions = {},
): Promise<ModelPack> {
  const logger = options.logger ?? silentLogger;
  const manifest = await readManifest(dir);
  const geometry = packGeometry(manifest);
  const threads =
    options.intraOpThreads === undefined
      ? undefined
      : requireInteger('intraOpThreads', options.intraOpThreads, 1);
  const textCacheSize = requireInteger('textCacheSize', options.textCacheSize ?? 64, 1);

  // Once CUDA has failed, later stages go straight to the CPU (stages created before keep CUDA).
  let provider: ExecutionProvider = options.provider ?? 'cpu';
  let fallbackReason: string | undefined;
  const thread = new SessionThread({ collectGarbage: options.collectThreadGarbage ?? true });
  const sessions: Partial<Record<StageName, ThreadSession>> = {};
  const providers: Partial<Record<StageName, ExecutionProvider>> = {};
  const started = performance.now();
  try {
    for (const name of stageNames) {
      const spec = manifest.stages[name];
      const path = join(dir, spec.file);
      await requireFile(path, name, spec.file);
      if (spec.externalData) {
        // Weights beside the graph: onnxruntime resolves them relative to the graph's folder.
        logger.info({ stage: name, file: spec.file }, 'stage uses ONNX external data');
      }
      const sessionOptions = (ep: ExecutionProvider): ort.InferenceSession.SessionOptions => ({
        executionProviders: [ep],
        graphOptimizationLevel: 'all',
        enableCpuMemArena: options.cpuMemArena ?? false,
        enableMemPattern: options.memPattern ?? false,
        logSeverityLevel: options.logSeverityLevel ?? 3,
        ...(threads === undefined ? {} : { intraOpNumThreads: threads }),
      });
      let session: ThreadSession | undefined;
      if (provider === 'cuda') {
        try {
          session = await ThreadSession.create(thread, name, path, sessionOptions('cuda'));
        } catch (error) {
          fallbackReason = (error as Error).message;
          provider = 'cpu';
          logger.warn(
            { stage: name, reason: fallbackReason },
            'CUDA provider unavailable; using CPU',
          );
        }
      }
      try {
        session ??= await ThreadSession.create(thread, name, path, sessionOptions(provider));
      } catch (error) {
        throw new ModelPackError(
          'session',
          `cannot create session: ${(error as Error).message}`,
          name,
        );
      }
      sessions[name] = session;
      providers[name] = provider;
      checkGraphAgainstManifest(name, spec, session);
    }
  } catch (error) {
    await thread.close();
    throw error;
  }
  const stages = Object.fromEntries(
    stageNames.map((name) => [
      name,
      new Stage(name, manifest.stages[name], sessions[name] as ThreadSession),
    ]),
  ) as Record<StageName, Stage>;
  const pack = new ModelPack(
    dir,
    manifest,
    stages,
    geometry,
    providers as Record<StageName, ExecutionProvider>,
    fallbackReason,
    textCacheSize,
    thread,
  );
  logger.info(
    {
      pack: manifest.name,
      version: manifest.version,
      provider: pack.provider,
      ms: Math.round(performance.now() - started),
    },
    'model pack sessions created',
  );
  if (options.warm ?? true) {
    try {
      const warmStarted = performance.now();
      await warmModelPack(pack);
      logger.info(
        { pack: manifest.name, ms: Math.round(performance.now() - warmStarted) },
        'model pack warmed',
      );
    } catch (error) {
      await pack.release();
      throw error;
    }
  }
  return pack;
}

async function readManifest(dir: string): Promise<ModelPackManifest> {
  let raw: string;
  try {
    raw = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    throw new ModelPackError(
      'manifest',
      `cannot read ${join(dir, MANIFEST_FILE)}: ${(error as Error).message}`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (error) {
    throw new ModelPackError(
      'manifest',
      `${MANIFEST_FILE} is not JSON: ${(error as Error).message}`,
    );
  }
  const result = validateManifest(data);
  if (!result.ok) {
    throw new ModelPackError(
      'manifest',
      `${MANIFEST_FILE} is invalid: ${result.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
    );
  }
  return result.manifest;
}

async function requireFile(path: string, stage: StageName, file: string): Promise<void> {
  try {
    await access(path);
  } catch {
    throw new ModelPackError('file', `graph file ${file} is missing from the pack`, stage);
  }
}

function fixedDim(spec: TensorSpec | undefined, axis: number): number | undefined {
  const d = spec?.shape[axis];
  return typeof d === 'number' ? d : undefined;
}

function requireTensor(
  manifest: ModelPackManifest,
  stage: StageName,
  kind: 'inputs' | 'outputs',
  name: string,
  rank: number,
): TensorSpec {
  const spec = manifest.stages[stage][kind].find((t) => t.name === name);
  if (!spec) {
    throw new ModelPackError(
      'contract',
      `the pipeline needs ${kind === 'inputs' ? 'input' : 'output'} "${name}"`,
      stage,
      name,
    );
  }
  if (spec.shape.length !== rank) {
    throw new ModelPackError(
      'contract',
      `must have rank ${rank}, the manifest says [${spec.shape.join(', ')}]`,
      stage,
      name,
    );
  }
  return spec;
}

function expectFixed(
  stage: StageName,
  spec: TensorSpec | undefined,
  axis: number,
  value: number,
  what: string,
): void {
  const d = fixedDim(spec, axis);
  if (spec && d !== undefined && d !== value) {
    throw new ModelPackError(
      'contract',
      `axis ${axis} is fixed at ${d} but ${what} is ${value}`,
      stage,
      spec.name,
    );
  }
}

/**
 * Checks that the pipeline can drive the manifest's stages and derives the sizes it needs. The
 * denoiser may declare only inputs of DENOISER_INPUTS: anything else would go unfed.
 */
export function packGeometry(manifest: ModelPackManifest): PackGeometry {
  const { stages } = manifest;
  for (const input of stages.denoiser.inputs) {
    if (!(DENOISER_INPUTS as readonly string[]).includes(input.name)) {
      throw new ModelPackError(
        'unknown-input',
        `the pipeline does not know how to produce this input (it knows ${DENOISER_INPUTS.join(', ')})`,
        'denoiser',
        input.name,
      );
    }
  }
  const hop = manifest.audio.sampleRate / manifest.audio.featureRate;
  if (!Number.isInteger(hop)) {
    throw new ModelPackError(
      'contract',
      `audio.sampleRate / audio.featureRate must be a whole number of samples, got ${hop}`,
    );
  }
  const C = manifest.latentChannels;
  const t = manifest.temporalStride;

  requireTensor(manifest, 'audioEncoder', 'inputs', 'audio', 2);
  const features = requireTensor(manifest, 'audioEncoder', 'outputs', 'features', 3);
  const inputIds = requireTensor(manifest, 'textEncoder', 'inputs', 'input_ids', 2);
  requireTensor(manifest, 'textEncoder', 'outputs', 'context', 3);
  const image = requireTensor(manifest, 'imageEncoder', 'inputs', 'image', 4);
  requireTensor(manifest, 'imageEncoder', 'outputs', 'tokens', 3);
  requireTensor(manifest, 'vaeEncoder', 'inputs', 'video', 5);
  expectFixed(
    'vaeEncoder',
    requireTensor(manifest, 'vaeEncoder', 'outputs', 'latent', 5),
    1,
    C,
    'latentChannels',
  );
  expectFixed(
    'vaeDecoder',
    requireTensor(manifest, 'vaeDecoder', 'inputs', 'latent', 5),
    1,
    C,
    'latentChannels',
  );
  requireTensor(manifest, 'vaeDecoder', 'outputs', 'video', 5);
  expectFixed(
    'denoiser',
    requireTensor(manifest, 'denoiser', 'inputs', 'latent', 5),
    1,
    C,
    'latentChannels',
  );
  requireTensor(manifest, 'denoiser', 'inputs', 'timestep', 1);
  expectFixed(
    'denoiser',
    requireTensor(manifest, 'denoiser', 'outputs', 'velocity', 5),
    1,
    C,
    'latentChannels',
  );

  const find = (name: string): TensorSpec | undefined =>
    stages.denoiser.inputs.find((i) => i.name === name);
  const ranks: Partial<Record<DenoiserInput, number>> = {
    context: 3,
    image_tokens: 3,
    condition: 5,
    audio: 4,
    audio_mask: 3,
    audio_scale: 1,
    identity: 2,
    motion: 2,
    face_box: 2,
    face_keypoints: 3,
  };
  for (const [name, rank] of Object.entries(ranks)) {
    if (find(name)) requireTensor(manifest, 'denoiser', 'inputs', name, rank);
  }
  expectFixed('denoiser', find('condition'), 1, t + C, 'temporalStride + latentChannels');
  expectFixed('denoiser', find('motion'), 1, 2, 'the motion pair (expression, body)');
  expectFixed('denoiser', find('face_box'), 1, 4, 'the box (x0, y0, x1, y1)');
  expectFixed('denoiser', find('face_keypoints'), 2, 2, 'a point (x, y)');

  const audio = find('audio');
  let audioWindow = 1;
  if (audio) {
    const K = fixedDim(audio, 2);
    if (K === undefined) {
      throw new ModelPackError(
        'contract',
        'axis 2 (K, tokens per latent frame) must be a fixed size',
        'denoiser',
        'audio',
      );
    }
    audioWindow = K;
    const Da = fixedDim(audio, 3);
    const encoded = fixedDim(features, 2);
    if (Da !== undefined && encoded !== undefined && Da !== encoded) {
      throw new ModelPackError(
        'contract',
        `axis 3 is ${Da} but the audioEncoder makes ${encoded} features`,
        'denoiser',
        'audio',
      );
    }
    expectFixed('denoiser', find('audio_mask'), 2, K, 'K of the audio input');
  }

  const textFromEncoder = fixedDim(inputIds, 1);
  const textFromDenoiser = fixedDim(find('context'), 1);
  if (
    textFromEncoder !== undefined &&
    textFromDenoiser !== undefined &&
    textFromEncoder !== textFromDenoiser
  ) {
    throw new ModelPackError(
      'contract',
      `axis 1 is ${textFromDenoiser} but the textEncoder takes ${textFromEncoder} tokens`,
      'denoiser',
      'context',
    );
  }
  const attention = stages.textEncoder.inputs.find((i) => i.name === 'attention_mask');
  for (const input of stages.textEncoder.inputs) {
    if (input !== inputIds && input !== attention) {
      throw new ModelPackError(
        'unknown-input',
        'the pipeline does not know how to produce this input',
        'textEncoder',
        input.name,
      );
    }
  }

  const identity = find('identity');
  return {
    fps: manifest.fps,
    maxFramesPerClip: manifest.maxFramesPerClip,
    spatialStride: manifest.spatialStride,
    temporalStride: t,
    latentChannels: C,
    sampleRate: manifest.audio.sampleRate,
    featureRate: manifest.audio.featureRate,
    hop,
    audioWindow,
    textTokens: textFromEncoder ?? textFromDenoiser ?? DEFAULT_TEXT_TOKENS,
    imageEncoderHeight: fixedDim(image, 2) ?? 224,
    imageEncoderWidth: fixedDim(image, 3) ?? 224,
    identityDim: identity ? fixedDim(identity, 1) : undefined,
    faceKeypoints: find('face_keypoints') ? (fixedDim(find('face_keypoints'), 1) ?? 6) : undefined,
  };
}
