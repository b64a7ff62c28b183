import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  MANIFEST_FILE,
  type ModelPackManifest,
  type StageName,
  type TensorSpec,
  validateManifest,
} from '@likeness/contracts';
import { faceDetectorModel, identityEncoderModel } from '../face';
import {
  AUDIO_ENCODER_INPUTS,
  AUDIO_ENCODER_OUTPUTS,
  AUDIO_FEATURE_RATE,
  AUDIO_SAMPLE_RATE,
  buildAudioEncoder,
} from './audio-encoder';
import { DENOISER_OUTPUTS, REFERENCE_FPS, buildDenoiser, denoiserInputs } from './denoiser';
import { IMAGE_ENCODER_INPUTS, IMAGE_ENCODER_OUTPUTS, buildImageEncoder } from './image-encoder';
import { TEXT_ENCODER_INPUTS, TEXT_ENCODER_OUTPUTS, buildTextEncoder } from './text-encoder';
import { REFERENCE_VAE, buildVaeDecoder, buildVaeEncoder } from './vae';

/** A ready-made stage graph with its boundary tensors and provenance. */
export interface StageModel {
  bytes: Uint8Array;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Where the weights come from (package, file, licence). */
  source: string;
}

/** Where the pack gets its two face stages (model-zoo's `src/face` by default). */
export interface FaceStageSources {
  faceDetector(): Promise<StageModel>;
  identityEncoder(): Promise<StageModel>;
}

export const REFERENCE_PACK_NAME = 'reference';
/** Bumped by hand when the pack's meaning changes; the content hash follows every byte. */
export const REFERENCE_PACK_RELEASE = '1.0.0';
/**
 * Frames per clip (4n+1), chosen by measurement (`nx run model-zoo:bench-denoiser`, README): a
 * 512×512 guidance step (B = 3) peaks at about 1.4 GB with 21 frames, 1.6 GB with 25 and 1.9 GB
 * with 33, and the render around it needs a few hundred MB more; 21 keeps it under 2 GB.
 */
export const REFERENCE_MAX_FRAMES_PER_CLIP = 21;
export const REFERENCE_MAX_SIDE = 512;

/** File name of each stage inside the pack folder. */
export const REFERENCE_STAGE_FILES: Readonly<Record<StageName, string>> = Object.freeze({
  audioEncoder: 'audio-encoder.onnx',
  faceDetector: 'face-detector.onnx',
  identityEncoder: 'identity-encoder.onnx',
  imageEncoder: 'image-encoder.onnx',
  textEncoder: 'text-encoder.onnx',
  vaeEncoder: 'vae-encoder.onnx',
  vaeDecoder: 'vae-decoder.onnx',
  denoiser: 'denoiser.onnx',
});

export interface ReferencePackOptions {
  /** The face stages; default: model-zoo's BlazeFace and identity encoder. */
  faceStages?: FaceStageSources;
}

/** The pack in memory: its manifest and every file by name. */
export interface ReferencePackContents {
  manifest: ModelPackManifest;
  /** File name → bytes, including model-pack.json. */
  files: ReadonlyMap<string, Uint8Array>;
  /** sha256 (hex) of the graphs and the manifest without its version. */
  contentHash: string;
}

/** Thrown when the pack cannot be built or written; `field` names the culprit. */
export class ReferencePackError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`reference pack: ${field}: ${message}`);
    this.name = 'ReferencePackError';
  }
}

/** model-zoo's own face models: BlazeFace and the identity encoder (`src/face`). */
export const BUILTIN_FACE_STAGES: FaceStageSources = Object.freeze({
  faceDetector: () => faceDetectorModel(),
  identityEncoder: () => identityEncoderModel(),
});

const VAE_VIDEO: TensorSpec = {
  name: 'video',
  dtype: 'float32',
  shape: [1, 3, 'frames', 'height', 'width'],
};
const VAE_LATENT: TensorSpec = {
  name: 'latent',
  dtype: 'float32',
  shape: [1, REFERENCE_VAE.latentChannels, 'latent_frames', 'latent_height', 'latent_width'],
};

/** Builds every graph and the manifest in memory (deterministic: same bytes every time). */
export async function referencePackContents(
  options: ReferencePackOptions = {},
): Promise<ReferencePackContents> {
  const faces = options.faceStages ?? BUILTIN_FACE_STAGES;
  const [detector, identity] = await Promise.all([faces.faceDetector(), faces.identityEncoder()]);
  const embedding = identity.outputs.find((o) => o.name === 'embedding');
  const identityDim = embedding?.shape[1];
  if (typeof identityDim !== 'number') {
    throw new ReferencePackError(
      'identityEncoder',
      'must output "embedding" [1, Di] with a fixed Di',
    );
  }
  const graphs: Record<
    StageName,
    { bytes: Uint8Array; inputs: TensorSpec[]; outputs: TensorSpec[] }
  > = {
    audioEncoder: {
      bytes: buildAudioEncoder(),
      inputs: [...AUDIO_ENCODER_INPUTS],
      outputs: [...AUDIO_ENCODER_OUTPUTS],
    },
    faceDetector: detector,
    identityEncoder: identity,
    imageEncoder: {
      bytes: buildImageEncoder(),
      inputs: [...IMAGE_ENCODER_INPUTS],
      outputs: [...IMAGE_ENCODER_OUTPUTS],
    },
    textEncoder: {
      bytes: buildTextEncoder(),
      inputs: [...TEXT_ENCODER_INPUTS],
      outputs: [...TEXT_ENCODER_OUTPUTS],
    },
    vaeEncoder: { bytes: buildVaeEncoder(), inputs: [VAE_VIDEO], outputs: [VAE_LATENT] },
    vaeDecoder: { bytes: buildVaeDecoder(), inputs: [VAE_LATENT], outputs: [VAE_VIDEO] },
    denoiser: {
      bytes: buildDenoiser({ identityDim }),
      inputs: denoiserInputs({ identityDim }),
      outputs: [...DENOISER_OUTPUTS],
    },
  };

  const stageNames = Object.keys(REFERENCE_STAGE_FILES) as StageName[];
  const stages = Object.fromEntries(
    stageNames.map((name) => [
      name,
      {
        file: REFERENCE_STAGE_FILES[name],
        inputs: graphs[name].inputs.map(copySpec),
        outputs: graphs[name].outputs.map(copySpec),
      },
    ]),
  ) as ModelPackManifest['stages'];
  const unversioned: Omit<ModelPackManifest, 'version'> = {
    name: REFERENCE_PACK_NAME,
    description:
      'Built-in reference pack: analytic CPU-sized graphs with the production stage contracts ' +
      '(libs/model-zoo). Audio: 50 Hz log energy + 15 mel bands; denoiser: flow-matching ' +
      'velocity toward the reference photo warped by audio-driven jaw, sway, nod and roll ' +
      '(ignores context, image_tokens and identity). Face detector: ' +
      detector.source +
      '. Identity encoder: ' +
      identity.source +
      '.',
    fps: REFERENCE_FPS,
    maxFramesPerClip: REFERENCE_MAX_FRAMES_PER_CLIP,
    spatialStride: REFERENCE_VAE.spatialStride,
    temporalStride: REFERENCE_VAE.temporalStride,
    latentChannels: REFERENCE_VAE.latentChannels,
    audio: { sampleRate: AUDIO_SAMPLE_RATE, featureRate: AUDIO_FEATURE_RATE },
    capabilities: { identity: true, motion: true, maxSide: REFERENCE_MAX_SIDE },
    stages,
  };

  const hash = createHash('sha256');
  hash.update(JSON.stringify(unversioned));
  for (const name of stageNames) {
    const bytes = graphs[name].bytes;
    hash.update(`\0${REFERENCE_STAGE_FILES[name]}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  const contentHash = hash.digest('hex');
  const manifest = {
    ...unversioned,
    version: `${REFERENCE_PACK_RELEASE}+${contentHash.slice(0, 12)}`,
  };
  const checked = validateManifest(manifest);
  if (!checked.ok) {
    throw new ReferencePackError(
      'manifest',
      checked.problems.map((p) => `${p.path}: ${p.message}`).join('; '),
    );
  }
  const files = new Map<string, Uint8Array>();
  for (const name of stageNames) files.set(REFERENCE_STAGE_FILES[name], graphs[name].bytes);
  files.set(MANIFEST_FILE, new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`));
  return { manifest: checked.manifest, files, contentHash };
}

function copySpec(spec: TensorSpec): TensorSpec {
  return { name: spec.name, dtype: spec.dtype, shape: [...spec.shape] };
}

export interface WrittenPack {
  /** Absolute path of the pack folder. */
  dir: string;
  manifest: ModelPackManifest;
}

/** Writes the reference pack (every .onnx file and model-pack.json) into `dir`, creating it. */
export async function buildReferencePack(
  dir: string,
  options: ReferencePackOptions = {},
): Promise<WrittenPack> {
  const contents = await referencePackContents(options);
  const target = resolve(dir);
  await writeContents(target, contents);
  return { dir: target, manifest: contents.manifest };
}

async function writeContents(dir: string, contents: ReferencePackContents): Promise<void> {
  await mkdir(dir, { recursive: true });
  // model-pack.json last: a folder with a manifest has all its graphs
  for (const [name, bytes] of contents.files) {
    if (name !== MANIFEST_FILE) await writeFile(join(dir, name), bytes);
  }
  await writeFile(join(dir, MANIFEST_FILE), contents.files.get(MANIFEST_FILE) as Uint8Array);
}

export interface EnsuredPack extends WrittenPack {
  /** True when this call wrote the folder, false when it was already there. */
  built: boolean;
}

const inFlight = new Map<string, Promise<EnsuredPack>>();

/**
 * The reference pack under `<dataDir>/models/reference-<hash>/`, built once per content hash and
 * reused afterwards. The pack is written into a temporary sibling folder and renamed into place,
 * so a half-written pack is never seen under the final name; when several processes race, one
 * rename wins and the others discard their copy (the contents are identical).
 */
export async function ensureReferencePack(
  dataDir: string,
  options: ReferencePackOptions = {},
): Promise<EnsuredPack> {
  if (typeof dataDir !== 'string' || dataDir.trim() === '') {
    throw new ReferencePackError('dataDir', 'must be a non-empty path');
  }
  const contents = await referencePackContents(options);
  const models = resolve(dataDir, 'models');
  const dir = join(models, `${REFERENCE_PACK_NAME}-${contents.contentHash.slice(0, 16)}`);
  const running = inFlight.get(dir);
  if (running) return { ...(await running), built: false };
  const work = ensureDir(dir, models, contents).finally(() => inFlight.delete(dir));
  inFlight.set(dir, work);
  return work;
}

async function ensureDir(
  dir: string,
  models: string,
  contents: ReferencePackContents,
): Promise<EnsuredPack> {
  const manifest = contents.manifest;
  if (await holdsVersion(dir, manifest.version)) return { dir, manifest, built: false };
  await mkdir(models, { recursive: true });
  const temp = join(
    models,
    `.${REFERENCE_PACK_NAME}-partial-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
  try {
    await writeContents(temp, contents);
    await rename(temp, dir);
    return { dir, manifest, built: true };
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    // Another process renamed its copy into place first.
    if (await holdsVersion(dir, manifest.version)) return { dir, manifest, built: false };
    throw new ReferencePackError(
      'dataDir',
      `cannot write ${dir}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

async function holdsVersion(dir: string, version: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as unknown;
    return (
      typeof manifest === 'object' &&
      manifest !== null &&
      (manifest as { version?: unknown }).version === version
    );
  } catch {
    return false;
  }
}
