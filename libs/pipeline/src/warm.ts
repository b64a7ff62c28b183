import type { TensorSpec } from '@likeness/contracts';
import { clipAudioWindows, encodeAudio } from './audio-windows';
import { buildCondition } from './clip-tensors';
import { DenoiserBatch } from './denoiser-batch';
import type { ModelPack } from './model-pack';
import { planRender, type RenderClip } from './render-plan';
import { FlowMatchEulerScheduler } from './scheduler';
import { sharedFloat32, type HostTensor, type Stage } from './stage';
import { tokenizeBytes } from './text-context';

/** Zeros in a stage input's declared shape; symbolic sizes become 1 on axis 0, else `side`. */
function zerosLike(spec: TensorSpec, side: number): HostTensor {
  const dims = spec.shape.map((d, axis) => (typeof d === 'number' ? d : axis === 0 ? 1 : side));
  return { data: new Float32Array(dims.reduce((n, d) => n * d, 1)), dims };
}

async function runZeros(stage: Stage, side: number): Promise<void> {
  await stage.run(
    Object.fromEntries(stage.spec.inputs.map((spec) => [spec.name, zerosLike(spec, side)])),
  );
}

/**
 * Runs every stage once on small inputs, so the first render does not pay for lazy allocation
 * and kernel selection, and a pack that loads but cannot run fails at load time. The denoiser
 * and the VAE get a 2-latent-frame clip of 2 × 2 latent cells.
 */
export async function warmModelPack(pack: ModelPack): Promise<void> {
  const g = pack.geometry;
  const { stages } = pack;
  const side = 2 * g.spatialStride;

  const samples = new Float32Array(4 * g.hop);
  for (let k = 0; k < samples.length; k++) samples[k] = 0.1 * Math.sin(k / 7);
  const features = await encodeAudio(stages.audioEncoder, samples, { hop: g.hop });

  const { inputIds, attentionMask } = tokenizeBytes('warm', g.textTokens);
  const textFeeds: Record<string, HostTensor<BigInt64Array>> = {
    input_ids: { data: inputIds, dims: [1, g.textTokens] },
  };
  if (stages.textEncoder.has('attention_mask')) {
    textFeeds['attention_mask'] = { data: attentionMask, dims: [1, g.textTokens] };
  }
  const context = await stages.textEncoder.runOne(textFeeds, 'context');

  const tokens = await stages.imageEncoder.runOne(
    {
      image: {
        data: new Float32Array(3 * g.imageEncoderHeight * g.imageEncoderWidth),
        dims: [1, 3, g.imageEncoderHeight, g.imageEncoderWidth],
      },
    },
    'tokens',
  );
  const latent = await stages.vaeEncoder.runOne(
    {
      video: { data: new Float32Array(3 * side * side), dims: [1, 3, 1, side, side] },
    },
    'latent',
  );

  const clip = planRender(g.temporalStride + 1, {
    maxFramesPerClip: g.temporalStride + 1,
    temporalStride: g.temporalStride,
    overlapLatents: 0,
  })[0] as RenderClip;
  const geometry = { channels: g.latentChannels, latentFrames: 2, height: 2, width: 2 };
  const windows = clipAudioWindows(features, clip, {
    tokens: g.audioWindow,
    fps: g.fps,
    featureRate: g.featureRate,
    temporalStride: g.temporalStride,
  });
  const points = g.faceKeypoints ?? 6;
  const batch = await DenoiserBatch.create(stages.denoiser, {
    latent: geometry,
    condition: await buildCondition(geometry, g.temporalStride, new Map([[0, latent.data]])),
    maskChannels: g.temporalStride,
    audio: { windows: windows.audio, mask: windows.mask, tokens: g.audioWindow, dim: features.dim },
    negativeContext: context,
    promptContext: context,
    imageTokens: tokens,
    audioScale: 1,
    identity: unitVector(g.identityDim ?? 1),
    motion: [0.5, 0.5],
    faceBox: Float32Array.from([0.25, 0.2, 0.75, 0.8]),
    faceKeypoints: Float32Array.from({ length: 2 * points }, (_, k) =>
      k % 2 === 0 ? 0.5 : 0.3 + 0.05 * k,
    ),
  });
  const x = sharedFloat32(batch.size);
  try {
    const scheduler = new FlowMatchEulerScheduler({ steps: 2 });
    await batch.step(x, scheduler, 0, { promptCfg: 5, audioCfg: 5 }, true);
  } finally {
    await batch.dispose();
  }
  await stages.vaeDecoder.run({
    latent: { source: x, rows: 1, dims: [1, g.latentChannels, 2, 2, 2] },
  });

  await runZeros(stages.faceDetector, 128);
  await runZeros(stages.identityEncoder, 112);
}

function unitVector(n: number): Float32Array {
  const v = new Float32Array(n);
  v[0] = 1;
  return v;
}
