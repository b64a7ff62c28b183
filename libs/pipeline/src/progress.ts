/** Phases a render reports, with the same names as the worker events' `RenderPhase`. */
export type RenderPhase = 'preparing' | 'encoding-audio' | 'denoising' | 'decoding' | 'encoding';

export interface RenderProgress {
  phase: RenderPhase;
  /** 0-based clip being worked on. */
  clip: number;
  clips: number;
  /** Denoiser steps finished in this clip (0..steps). */
  step: number;
  steps: number;
  /** Share of the whole render done, 0..1, never decreasing; 1 when the last frame is written. */
  fraction: number;
  /** Seconds left, from measured step, decode and write times; null before the first step. */
  etaSeconds: number | null;
}

export type ProgressListener = (progress: RenderProgress) => void;

/**
 * Turns pipeline events into RenderProgress. Work is counted in units: the preparation (audio,
 * text, image) is one, each denoiser step one, each clip's decode and its write one each; clips
 * resumed from checkpoints count as done. ETA = remaining steps × mean step time + remaining
 * decodes/writes × their mean times (a step's time until one was measured).
 */
export class ProgressTracker {
  private done = 0;
  private readonly total: number;
  private lastFraction = 0;
  private stepMs: number[] = [];
  private decodeMs: number[] = [];
  private writeMs: number[] = [];
  private stepsLeft: number;
  private decodesLeft: number;
  private writesLeft: number;

  constructor(
    private readonly clips: number,
    private readonly steps: number,
    private readonly listener: ProgressListener | undefined,
  ) {
    this.total = 1 + clips * (steps + 2);
    this.stepsLeft = clips * steps;
    this.decodesLeft = clips;
    this.writesLeft = clips;
  }

  /** Clips already finished (resumed from checkpoints). */
  skipClips(count: number): void {
    this.done += count * (this.steps + 2);
    this.stepsLeft -= count * this.steps;
    this.decodesLeft -= count;
    this.writesLeft -= count;
  }

  prepared(): void {
    this.done += 1;
  }

  stepDone(ms: number): void {
    this.stepMs.push(ms);
    this.done += 1;
    this.stepsLeft -= 1;
  }

  decoded(ms: number): void {
    this.decodeMs.push(ms);
    this.done += 1;
    this.decodesLeft -= 1;
  }

  written(ms: number): void {
    this.writeMs.push(ms);
    this.done += 1;
    this.writesLeft -= 1;
  }

  report(phase: RenderPhase, clip: number, step: number): RenderProgress {
    // Rounding can make done/total a hair below an earlier value; progress never goes back.
    const fraction = Math.min(1, Math.max(this.lastFraction, this.done / this.total));
    this.lastFraction = fraction;
    const progress: RenderProgress = {
      phase,
      clip,
      clips: this.clips,
      step,
      steps: this.steps,
      fraction,
      etaSeconds: this.eta(),
    };
    this.listener?.(progress);
    return progress;
  }

  private eta(): number | null {
    if (this.stepsLeft === 0 && this.decodesLeft === 0 && this.writesLeft === 0) return 0;
    if (this.stepMs.length === 0) return null;
    const step = mean(this.stepMs);
    const decode = this.decodeMs.length > 0 ? mean(this.decodeMs) : step;
    const write = this.writeMs.length > 0 ? mean(this.writeMs) : step;
    return (this.stepsLeft * step + this.decodesLeft * decode + this.writesLeft * write) / 1000;
  }
}

function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}
