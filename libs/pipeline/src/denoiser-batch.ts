import { ModelPackError } from './errors';
import {
  GUIDANCE_ROWS,
  combineGuidance,
  splitGuidanceBatch,
  type GuidanceScales,
} from './guidance';
import type { FlowMatchEulerScheduler } from './scheduler';
import type { LatentGeometry } from './clip-tensors';
import type { HostTensor, PinnedFeed, Stage } from './stage';

const B = GUIDANCE_ROWS.length;

/** Latent values updated on the main thread between two yields to the event loop (1 MB). */
export const UPDATE_SLICE = 1 << 18;

export const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => setImmediate(resolve));

/** What stays the same for every step of one clip. */
export interface ClipInputs {
  latent: LatentGeometry;
  /** [t + C, F', h, w] for one row. */
  condition: Float32Array;
  maskChannels: number;
  /** [F', K, Da] and [F', K] for one row (all rows get the same windows; audio_scale mutes them). */
  audio?: { windows: Float32Array; mask: Float32Array; tokens: number; dim: number };
  /** [1, L, Dt] contexts: the negative prompt (uncond row) and the prompt (text rows). */
  negativeContext: HostTensor;
  promptContext: HostTensor;
  /** [1, N, Dc]. */
  imageTokens: HostTensor;
  /** Caller's audio scale for the text+audio row. */
  audioScale: number;
  identity?: Float32Array;
  /** (expression, body). */
  motion?: readonly [number, number];
  faceBox?: Float32Array;
  /** [P·2] normalised (x, y) pairs. */
  faceKeypoints?: Float32Array;
}

/**
 * The denoiser's guidance batch (B = 3 rows: uncond, text, text+audio) for one clip. Everything
 * but the latent and the timestep is built once and pinned in the session thread; each step
 * sends only the timestep, and the thread copies the shared latent into the three rows itself.
 * Only the inputs the manifest declares are fed.
 */
export class DenoiserBatch {
  private readonly timestep = new Float32Array(B);
  readonly size: number;
  readonly dims: readonly number[];

  private constructor(
    private readonly stage: Stage,
    private readonly constant: Record<string, PinnedFeed>,
    latent: LatentGeometry,
  ) {
    const { channels: C, latentFrames: F, height: h, width: w } = latent;
    this.size = C * F * h * w;
    this.dims = [B, C, F, h, w];
  }

  static async create(stage: Stage, inputs: ClipInputs): Promise<DenoiserBatch> {
    const { channels: C, latentFrames: F, height: h, width: w } = inputs.latent;
    // Each input: one row (or all three) and its batch shape; rows are tiled in the thread.
    const tensors: Record<string, { row: Float32Array; rows: number; dims: number[] }> = {};
    const same = (
      row: Float32Array,
      dims: number[],
    ): { row: Float32Array; rows: number; dims: number[] } => ({
      row,
      rows: B,
      dims: [B, ...dims],
    });
    const take = (name: string): boolean => stage.has(name);

    if (take('condition')) {
      tensors['condition'] = same(inputs.condition, [inputs.maskChannels + C, F, h, w]);
    }
    if (take('context')) {
      const { negativeContext: u, promptContext: p } = inputs;
      if (u.dims.length !== 3 || p.dims.length !== 3 || u.data.length !== p.data.length) {
        throw new ModelPackError(
          'run',
          'negative and prompt contexts differ in shape',
          'textEncoder',
          'context',
        );
      }
      const data = new Float32Array(B * p.data.length);
      data.set(u.data, 0);
      data.set(p.data, p.data.length);
      data.set(p.data, 2 * p.data.length);
      tensors['context'] = {
        row: data,
        rows: 1,
        dims: [B, p.dims[1] as number, p.dims[2] as number],
      };
    }
    if (take('image_tokens')) {
      const t = inputs.imageTokens;
      tensors['image_tokens'] = same(t.data, [...t.dims.slice(1)]);
    }
    if (take('audio') || take('audio_mask')) {
      if (!inputs.audio)
        throw new ModelPackError('contract', 'audio windows were not built', 'denoiser', 'audio');
      const { windows, mask, tokens: K, dim } = inputs.audio;
      if (take('audio')) tensors['audio'] = same(windows, [F, K, dim]);
      if (take('audio_mask')) tensors['audio_mask'] = same(mask, [F, K]);
    }
    if (take('audio_scale')) {
      tensors['audio_scale'] = {
        row: Float32Array.from([0, 0, inputs.audioScale]),
        rows: 1,
        dims: [B],
      };
    }
    if (take('identity')) {
      if (!inputs.identity)
        throw new ModelPackError('contract', 'no identity embedding given', 'denoiser', 'identity');
      tensors['identity'] = same(inputs.identity, [inputs.identity.length]);
    }
    if (take('motion')) tensors['motion'] = same(Float32Array.from(inputs.motion ?? [1, 1]), [2]);
    if (take('face_box')) {
      if (!inputs.faceBox)
        throw new ModelPackError('contract', 'no face box given', 'denoiser', 'face_box');
      tensors['face_box'] = same(inputs.faceBox, [4]);
    }
    if (take('face_keypoints')) {
      if (!inputs.faceKeypoints) {
        throw new ModelPackError(
          'contract',
          'no face keypoints given',
          'denoiser',
          'face_keypoints',
        );
      }
      tensors['face_keypoints'] = same(inputs.faceKeypoints, [inputs.faceKeypoints.length / 2, 2]);
    }

    const constant: Record<string, PinnedFeed> = {};
    try {
      for (const [name, { row, rows, dims }] of Object.entries(tensors)) {
        // Only the condition is big; it was built for the thread alone, so it moves instead of
        // being copied. The rest is small and may be shared with the caller.
        constant[name] = await stage.pin(name, row, dims, { rows, transfer: name === 'condition' });
      }
    } catch (error) {
      await stage.unpin(Object.values(constant));
      throw error;
    }
    return new DenoiserBatch(stage, constant, inputs.latent);
  }

  /**
   * Denoiser step `i`: one batch-of-3 session.run at x (on a SharedArrayBuffer, read by the
   * thread without a copy here), then the guided Euler update of x in place. With `inThread`
   * (and a float32 velocity) the session thread does the update and the velocity never comes
   * back; otherwise it is done here with combineGuidance and scheduler.step, in slices between
   * which the event loop runs.
   */
  async step(
    x: Float32Array,
    scheduler: FlowMatchEulerScheduler,
    i: number,
    scales: Required<GuidanceScales>,
    inThread: boolean,
  ): Promise<void> {
    this.timestep.fill(scheduler.timestep(i));
    const feeds = {
      ...this.constant,
      latent: { source: x, rows: B, dims: this.dims },
      timestep: { data: this.timestep, dims: [B] },
    };
    if (inThread && this.stage.output('velocity')?.dtype === 'float32') {
      const dt = scheduler.sigma(i + 1) - scheduler.sigma(i);
      await this.stage.run(feeds, { output: 'velocity', x, dt, ...scales });
      return;
    }
    const { velocity } = await this.stage.run(feeds);
    if (!velocity || velocity.data.length !== B * this.size) {
      throw new ModelPackError('run', `must have ${B * this.size} values`, 'denoiser', 'velocity');
    }
    const rows = splitGuidanceBatch(velocity.data, [B, this.size]);
    for (let start = 0; start < this.size; start += UPDATE_SLICE) {
      const end = Math.min(this.size, start + UPDATE_SLICE);
      const u = rows.uncond.subarray(start, end);
      // The guided velocity overwrites the uncond row (combineGuidance allows aliasing).
      combineGuidance(
        u,
        rows.text.subarray(start, end),
        rows.textAudio.subarray(start, end),
        scales,
        u,
      );
      const xs = x.subarray(start, end);
      scheduler.step(xs, u, i, xs);
      if (end < this.size) await yieldToEventLoop();
    }
  }

  /** Frees the pinned tensors and the latent rows in the session thread. */
  async dispose(): Promise<void> {
    await this.stage.unpin(Object.values(this.constant), true);
  }
}
