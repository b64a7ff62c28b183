import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MANIFEST_FILE, stageNames } from '@likeness/contracts';

/** A manifest shaped like the reference pack of DESIGN.md's stage table (small dims, CPU-sized). */
export function validManifest(): Record<string, unknown> & {
  stages: Record<string, Record<string, unknown>>;
} {
  const f32 = (name: string, shape: (number | string)[]) => ({ name, dtype: 'float32', shape });
  const i64 = (name: string, shape: (number | string)[]) => ({ name, dtype: 'int64', shape });
  return {
    name: 'reference',
    version: '0.1.0',
    fps: 23,
    maxFramesPerClip: 81,
    spatialStride: 8,
    temporalStride: 4,
    latentChannels: 16,
    audio: { sampleRate: 16000, featureRate: 50 },
    capabilities: { identity: true, motion: true, maxSide: 512 },
    stages: {
      audioEncoder: {
        file: 'audio-encoder.onnx',
        inputs: [f32('audio', [1, 'S'])],
        outputs: [f32('features', [1, 'T', 768])],
      },
      faceDetector: {
        file: 'face-detector.onnx',
        inputs: [f32('image', [1, 128, 128, 3])],
        outputs: [f32('scores', [1, 896, 1]), f32('boxes', [1, 896, 16])],
      },
      identityEncoder: {
        file: 'identity-encoder.onnx',
        inputs: [f32('face', [1, 3, 112, 112])],
        outputs: [f32('embedding', [1, 512])],
      },
      imageEncoder: {
        file: 'image-encoder.onnx',
        inputs: [f32('image', [1, 3, 224, 224])],
        outputs: [f32('tokens', [1, 257, 1280])],
      },
      textEncoder: {
        file: 'text-encoder.onnx',
        inputs: [i64('input_ids', [1, 'L']), i64('attention_mask', [1, 'L'])],
        outputs: [f32('context', [1, 'L', 4096])],
      },
      vaeEncoder: {
        file: 'vae-encoder.onnx',
        inputs: [f32('video', [1, 3, 'F', 'H', 'W'])],
        outputs: [f32('latent', [1, 16, "F'", 'h', 'w'])],
      },
      vaeDecoder: {
        file: 'vae-decoder.onnx',
        inputs: [f32('latent', [1, 16, "F'", 'h', 'w'])],
        outputs: [f32('video', [1, 3, 'F', 'H', 'W'])],
      },
      denoiser: {
        file: 'denoiser.onnx',
        externalData: true,
        inputs: [
          f32('latent', ['B', 16, "F'", 'h', 'w']),
          f32('timestep', ['B']),
          f32('context', ['B', 'L', 4096]),
          f32('image_tokens', ['B', 257, 1280]),
          f32('condition', ['B', 20, "F'", 'h', 'w']),
          f32('audio', ['B', "F'", 17, 768]),
          f32('audio_mask', ['B', "F'", 17]),
          f32('audio_scale', ['B']),
          f32('identity', ['B', 512]),
          f32('motion', ['B', 2]),
          f32('face_box', ['B', 4]),
        ],
        outputs: [f32('velocity', ['B', 16, "F'", 'h', 'w'])],
      },
    },
  };
}

export interface TempPack {
  readonly dir: string;
  remove(): Promise<void>;
}

/** Writes a pack folder: the manifest and a placeholder ONNX file for each stage (the validator only needs them to exist). */
export async function writePack(
  manifest: unknown = validManifest(),
  options: { skipFiles?: readonly string[] } = {},
): Promise<TempPack> {
  const dir = await mkdtemp(join(tmpdir(), 'likeness-pack-'));
  await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
  const files = stageNames.map(
    (name) => `${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}.onnx`,
  );
  for (const file of files) {
    if (options.skipFiles?.includes(file)) continue;
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await writeFile(join(dir, file), Buffer.from([0x08, 0x08])); // not a real graph: existence is what is checked
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
