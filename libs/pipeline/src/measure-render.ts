import { monitorEventLoopDelay } from 'node:perf_hooks';
import { render, type FrameSink, type RenderOptions, type RenderResult } from './render';
import type { RenderRequest } from './render-request';

export interface RenderMeasurement {
  result: RenderResult;
  /** Event-loop delay during the render (ms), from perf_hooks.monitorEventLoopDelay. */
  eventLoop: { meanMs: number; p50Ms: number; p99Ms: number; maxMs: number };
  /** Mean denoiser step (ms) and mean session.run inside it. */
  meanStepMs: number;
  meanStepRunMs: number;
  /** Peak resident set size seen (sampled every 50 ms), bytes. */
  peakRssBytes: number;
}

/** A sink that only counts frames (for measurements). */
export class CountingSink implements FrameSink {
  frames = 0;
  bytes = 0;
  async write(frames: Uint8Array, width: number, height: number): Promise<void> {
    this.frames += frames.byteLength / (width * height * 3);
    this.bytes += frames.byteLength;
  }
}

/**
 * Runs one render while sampling event-loop delay and RSS: for bench scripts (no assertions).
 * The worker keeps its BullMQ lock alive only if the loop stays responsive during a render.
 */
export async function measureRender(
  request: RenderRequest,
  options: Partial<RenderOptions> = {},
): Promise<RenderMeasurement> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  let peakRssBytes = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss);
  }, 50);
  histogram.enable();
  try {
    const result = await render(request, { sink: new CountingSink(), ...options });
    const mean = (values: number[]): number =>
      values.length === 0 ? 0 : values.reduce((n, v) => n + v, 0) / values.length;
    return {
      result,
      eventLoop: {
        meanMs: histogram.mean / 1e6,
        p50Ms: histogram.percentile(50) / 1e6,
        p99Ms: histogram.percentile(99) / 1e6,
        maxMs: histogram.max / 1e6,
      },
      meanStepMs: mean(result.timings.stepMs),
      meanStepRunMs: mean(result.timings.stepRunMs),
      peakRssBytes: Math.max(peakRssBytes, process.memoryUsage().rss),
    };
  } finally {
    histogram.disable();
    clearInterval(sampler);
  }
}
