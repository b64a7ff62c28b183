import { PipelineInputError, requireInteger, requirePositiveFinite } from './errors';

/** Denoising steps of the FantasyTalking release. */
export const DEFAULT_STEPS = 30;
/** Sigma shift of the FantasyTalking release. */
export const DEFAULT_SHIFT = 5;
/** Timesteps are sigmas scaled to the training range 0..1000. */
export const NUM_TRAIN_TIMESTEPS = 1000;

/** σ' = shift·σ / (1 + (shift − 1)·σ): spends more steps at high noise when shift > 1. */
export function shiftSigma(sigma: number, shift: number): number {
  return (shift * sigma) / (1 + (shift - 1) * sigma);
}

export interface FlowMatchSchedulerOptions {
  /** Number of Euler steps (default 30). */
  steps?: number;
  /** Sigma shift (default 5); 1 leaves the linear schedule unchanged. */
  shift?: number;
}

/**
 * Flow-matching Euler scheduler with sigma shift. Base sigmas run linearly from 1 to 0 in
 * `steps` steps (steps + 1 values), are shifted, and the denoiser sees t = 1000·σ'. A step moves
 * the latent along the predicted velocity: x_{i+1} = x_i + (σ'_{i+1} − σ'_i)·v.
 */
export class FlowMatchEulerScheduler {
  readonly steps: number;
  readonly shift: number;
  /** Shifted sigmas σ'_0 … σ'_steps, from 1 down to 0. */
  readonly sigmas: Float64Array;
  /** Timesteps t_0 … t_{steps−1} fed to the denoiser: 1000·σ'_i. */
  readonly timesteps: Float64Array;

  constructor(options: FlowMatchSchedulerOptions = {}) {
    this.steps = requireInteger('steps', options.steps ?? DEFAULT_STEPS, 1);
    this.shift = requirePositiveFinite('shift', options.shift ?? DEFAULT_SHIFT);
    this.sigmas = new Float64Array(this.steps + 1);
    for (let i = 0; i <= this.steps; i++) {
      this.sigmas[i] = shiftSigma(1 - i / this.steps, this.shift);
    }
    this.timesteps = this.sigmas.slice(0, this.steps).map((s) => NUM_TRAIN_TIMESTEPS * s);
  }

  /** σ' at step `i` (0 ≤ i ≤ steps). */
  sigma(i: number): number {
    requireInteger('i', i, 0);
    if (i > this.steps) throw new PipelineInputError('i', `must be ≤ ${this.steps}, got ${i}`);
    return this.sigmas[i] as number;
  }

  /** The denoiser's timestep at step `i` (0 ≤ i < steps). */
  timestep(i: number): number {
    this.requireStepIndex(i);
    return this.timesteps[i] as number;
  }

  /**
   * One Euler step from step `i` to `i + 1`. Returns a new array unless `out` is given (which may
   * be `latent` itself, to step in place).
   */
  step(latent: Float32Array, velocity: Float32Array, i: number, out?: Float32Array): Float32Array {
    this.requireStepIndex(i);
    if (velocity.length !== latent.length) {
      throw new PipelineInputError(
        'velocity',
        `has ${velocity.length} values, the latent has ${latent.length}`,
      );
    }
    const target = out ?? new Float32Array(latent.length);
    if (target.length !== latent.length) {
      throw new PipelineInputError(
        'out',
        `has ${target.length} values, the latent has ${latent.length}`,
      );
    }
    const dt = (this.sigmas[i + 1] as number) - (this.sigmas[i] as number);
    for (let k = 0; k < latent.length; k++) {
      target[k] = (latent[k] as number) + dt * (velocity[k] as number);
    }
    return target;
  }

  private requireStepIndex(i: number): void {
    requireInteger('i', i, 0);
    if (i >= this.steps) throw new PipelineInputError('i', `must be < ${this.steps}, got ${i}`);
  }
}
