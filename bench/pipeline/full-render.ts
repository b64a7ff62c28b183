// Issue 4 item 7: whole renders on the reference pack, streamed into an MP4 as the worker does —
// by default 10 s and 40 s of audio at 512×512 with 30 steps. Prints wall time, time per
// denoiser step, the share of the render outside session.run, peak RSS, the encoder against the
// ffmpeg CLI on the frames the first render produced, and the wall-time ratio of the renders.
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  framesForDuration,
  loadModelPack,
  measureRender,
  Mp4Encoder,
  type FrameSink,
  type ModelPack,
} from '@likeness/pipeline';
import { writeWav } from '@likeness/pipeline/testing';
import { compareEncoders, CRF, PRESET } from './encode';
import { benchRequest, referencePack, voicedTone } from './render';
import { envInt, type BenchSection } from './section';

const SECONDS = (process.env['BENCH_FULL_SECONDS'] ?? '10,40').split(',').map((v) => {
  const n = Number(v);
  if (!(n > 0)) throw new Error(`BENCH_FULL_SECONDS must be positive numbers, got ${v}`);
  return n;
});
const STEPS = envInt('BENCH_FULL_STEPS', 30);
const SIZE = envInt('BENCH_FULL_SIZE', 512);
const ENCODE_REPEATS = envInt('BENCH_FULL_ENCODE_REPEATS', 3);
/** `0` turns off the session thread's garbage collection (loadModelPack's collectThreadGarbage). */
const COLLECT_THREAD_GARBAGE = process.env['BENCH_COLLECT_THREAD_GARBAGE'] !== '0';
const TARGETS = { outsideRunShare: 0.15, peakRssBytes: 2 * 2 ** 30, encodeRatio: 1.1, linear: 1.1 };

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const verdict = (ok: boolean): string => (ok ? 'met' : 'MISSED');

/** Passes frames on to the MP4 encoder and, when given a file, keeps a raw RGB24 copy. */
class TeeSink implements FrameSink {
  constructor(
    private readonly encoder: Mp4Encoder,
    private readonly raw: WriteStream | null,
  ) {}
  async write(frames: Uint8Array, width: number, height: number): Promise<void> {
    if (this.raw && !this.raw.write(Buffer.from(frames))) await once(this.raw, 'drain');
    await this.encoder.write(frames, width, height);
  }
}

interface RenderRun {
  seconds: number;
  fps: number;
  wallMs: number;
  frames: number;
}

async function renderOnce(
  pack: ModelPack,
  seconds: number,
  workDir: string,
  rawPath: string | null,
  lines: string[],
): Promise<RenderRun & { targetsMet: boolean }> {
  const g = pack.geometry;
  const samples = voicedTone(seconds, g.sampleRate);
  const audioPath = join(workDir, `audio-${seconds}.wav`);
  await writeWav(samples, g.sampleRate, audioPath);
  const before = load();
  const started = performance.now();
  const encoder = new Mp4Encoder({
    path: join(workDir, `render-${seconds}.mp4`),
    width: SIZE,
    height: SIZE,
    fps: g.fps,
    audioPath,
    expectedFrames: framesForDuration(samples.length / g.sampleRate, g.fps),
    preset: PRESET,
    crf: CRF,
  });
  const raw = rawPath ? createWriteStream(rawPath) : null;
  const m = await measureRender(benchRequest(pack, SIZE, samples, STEPS), {
    sink: new TeeSink(encoder, raw),
  });
  const rendered = performance.now();
  const mp4 = await encoder.finish();
  const finished = performance.now();
  const wallMs = finished - started;
  if (raw) {
    raw.end();
    await once(raw, 'finish');
  }
  const t = m.result.timings;
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  const shareOk = t.outsideRunShare <= TARGETS.outsideRunShare;
  const rssOk = m.peakRssBytes < TARGETS.peakRssBytes;
  lines.push(
    `${seconds} s of audio → ${m.result.frames} frames (${mp4.durationSeconds.toFixed(2)} s of video) in ${m.result.clips} clip(s), ${t.stepMs.length} denoiser steps; load average ${before} → ${load()}`,
    `  wall ${s(wallMs)} (render ${s(t.totalMs)} + MP4 finish ${s(finished - rendered)}); ` +
      `prepare ${s(t.prepareMs)}, steps ${s(sum(t.stepMs))}, decode ${s(sum(t.decodeMs))}, frames to ffmpeg ${s(sum(t.writeMs))}`,
    `  per denoiser step ${m.meanStepMs.toFixed(0)} ms (session.run ${m.meanStepRunMs.toFixed(0)} ms)`,
    `  outside session.run ${(100 * t.outsideRunShare).toFixed(1)} % of the render (target ≤ ${100 * TARGETS.outsideRunShare} %): ${verdict(shareOk)}`,
    `  peak RSS ${(m.peakRssBytes / 2 ** 20).toFixed(0)} MiB (target < 2048 MiB): ${verdict(rssOk)}`,
    `  event loop p50 ${m.eventLoop.p50Ms.toFixed(1)} / p99 ${m.eventLoop.p99Ms.toFixed(1)} / max ${m.eventLoop.maxMs.toFixed(1)} ms`,
  );
  return { seconds, fps: g.fps, wallMs, frames: m.result.frames, targetsMet: shareOk && rssOk };
}

export const fullRenderSection: BenchSection = {
  name: 'full',
  title: `whole renders of ${SECONDS.join(' s, ')} s at ${SIZE}×${SIZE}, ${STEPS} steps, streamed to MP4 (preset ${PRESET}, crf ${CRF})`,
  async run({ workDir }) {
    const lines: string[] = [];
    let targetsMet = true;
    const dir = referencePack(); // built (or found in the cache) before the clock starts
    const loading = performance.now();
    const pack = await loadModelPack(dir, { collectThreadGarbage: COLLECT_THREAD_GARBAGE });
    lines.push(
      `pack ${pack.name}@${pack.version} loaded and warmed in ${s(performance.now() - loading)} (${pack.provider})`,
    );
    const runs: RenderRun[] = [];
    const rawPath = join(workDir, 'first-render.rgb');
    try {
      for (const [i, seconds] of SECONDS.entries()) {
        const run = await renderOnce(pack, seconds, workDir, i === 0 ? rawPath : null, lines);
        runs.push(run);
        targetsMet &&= run.targetsMet;
      }
      const gc = await pack.threadGcStats();
      lines.push(
        gc.enabled
          ? `session thread: ${gc.collections} garbage collections, ${(gc.ms / 1000).toFixed(1)} s in all (${(gc.ms / Math.max(1, gc.collections)).toFixed(0)} ms each)`
          : 'session thread: garbage collection off (BENCH_COLLECT_THREAD_GARBAGE=0)',
      );
    } finally {
      await pack.release();
    }

    const first = runs[0] as RenderRun;
    lines.push(
      `encoder vs ffmpeg CLI on the ${first.frames} frames of the ${first.seconds} s render (load average ${load()}):`,
    );
    const encode = await compareEncoders(
      {
        raw: rawPath,
        audioPath: join(workDir, `audio-${first.seconds}.wav`),
        width: SIZE,
        height: SIZE,
        fps: first.fps,
        frames: first.frames,
        preset: PRESET,
        crf: CRF,
      },
      workDir,
      ENCODE_REPEATS,
    );
    lines.push(...encode.lines.map((l) => `  ${l}`));
    targetsMet &&= encode.targetsMet;

    for (const run of runs.slice(1)) {
      const ratio = run.wallMs / first.wallMs;
      const target = TARGETS.linear * (run.seconds / first.seconds);
      lines.push(
        `wall ${run.seconds} s / ${first.seconds} s = ${ratio.toFixed(2)} (target ≤ ${target.toFixed(2)}, i.e. linear within 10 %): ${verdict(ratio <= target)}`,
      );
      targetsMet &&= ratio <= target;
    }
    return { lines, targetsMet };
  },
};
