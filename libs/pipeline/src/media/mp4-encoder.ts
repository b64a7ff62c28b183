import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FPS } from '../frame-plan';
import {
  PipelineInputError,
  requireInRange,
  requireInteger,
  requirePositiveFinite,
} from '../errors';
import { killTool, startTool, type RunningTool } from './ffmpeg';
import { requireVideoChunk, videoFrameToRgb, type RgbFrame, type VideoChunkShape } from './frames';
import { MediaToolError } from './media.errors';

export const X264_PRESETS = [
  'ultrafast',
  'superfast',
  'veryfast',
  'faster',
  'fast',
  'medium',
  'slow',
  'slower',
  'veryslow',
] as const;
export type X264Preset = (typeof X264_PRESETS)[number];

export interface Mp4EncoderOptions {
  /** The finished MP4. Nothing appears here until `finish()` succeeds. */
  path: string;
  /** Frame size in pixels; both even (yuv420p). */
  width: number;
  height: number;
  /** Frames per second (default 23). */
  fps?: number;
  /** Audio to mux (any file ffmpeg reads), re-encoded to AAC and cut to the video's length. */
  audioPath?: string | null;
  /**
   * The number of frames that will be written, when known (a render plan knows it). With audio,
   * the audio is then encoded in the same ffmpeg run as the video, cut at expectedFrames/fps —
   * one pass, as the ffmpeg CLI would do it; if another count is written after all, `finish()`
   * falls back to the second pass below, so the result is right either way.
   */
  expectedFrames?: number;
  /** x264 preset (default 'medium'). */
  preset?: X264Preset;
  /** x264 constant rate factor, 0–51 (default 18: visually lossless for our content). */
  crf?: number;
  /** AAC bitrate (default '128k'). */
  audioBitrate?: string;
  /** Aborts the encoder (kills ffmpeg, removes the partial files) when it fires. */
  signal?: AbortSignal;
}

export interface Mp4Result {
  path: string;
  frames: number;
  /** frames / fps. */
  durationSeconds: number;
  /** ffmpeg runs it took: 1, or 2 when audio had to be added after the video. */
  passes: 1 | 2;
}

type State = 'open' | 'finishing' | 'finished' | 'aborted' | 'failed';

/**
 * Streams frames into an MP4 as they are produced, never holding the video in memory:
 *
 * 1. ffmpeg reads raw RGB24 frames from its stdin at exactly `fps` (frame n at n/fps) and encodes
 *    H.264 yuv420p with libx264 into a hidden temporary file next to `path`; every write waits
 *    until the pipe has taken its bytes, so a slow encoder holds the producer back instead of
 *    frames piling up;
 * 2. `finish()` ends the stream; with audio, a second ffmpeg copies the video stream and adds the
 *    audio encoded as AAC, cut at exactly frames/fps seconds (ffmpeg's `-shortest` overshoots by up
 *    to an AAC frame, and would cut the video instead if the audio were shorter); `+faststart`
 *    puts the index (moov) before the media data, so a browser plays while downloading;
 * 3. the result is renamed onto `path`, so a half-written MP4 never sits at the final path.
 *
 * `abort()` (or the signal) kills ffmpeg and removes the temporary files.
 * Implements the pipeline's `FrameSink` (`write(frames, width, height)`).
 */
export class Mp4Encoder {
  readonly path: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  private readonly audioPath: string | null;
  private readonly audioBitrate: string;
  private readonly videoTemp: string;
  private readonly outputTemp: string;
  private readonly video: RunningTool;
  private mux: RunningTool | null = null;
  /** Frames the single pass cut the audio for; null = video only in the first run. */
  private readonly singlePassFrames: number | null;
  private state: State = 'open';
  private frames = 0;
  /** Writes run one after another, each waiting until the pipe has taken its bytes. */
  private queue: Promise<void> = Promise.resolve();
  private readonly onAbortSignal = (): void => void this.abort();

  constructor(private readonly options: Mp4EncoderOptions) {
    if (typeof options.path !== 'string' || options.path === '') {
      throw new PipelineInputError('path', 'must be a file path');
    }
    this.width = requireInteger('width', options.width, 2);
    this.height = requireInteger('height', options.height, 2);
    if (this.width % 2 !== 0 || this.height % 2 !== 0) {
      throw new PipelineInputError(
        this.width % 2 !== 0 ? 'width' : 'height',
        `must be even for yuv420p, got ${this.width}×${this.height}`,
      );
    }
    this.fps = requirePositiveFinite('fps', options.fps ?? FPS);
    const preset = options.preset ?? 'medium';
    if (!X264_PRESETS.includes(preset)) {
      throw new PipelineInputError('preset', `must be one of ${X264_PRESETS.join(', ')}`);
    }
    const crf = requireInRange('crf', options.crf ?? 18, 0, 51);
    this.audioBitrate = options.audioBitrate ?? '128k';
    if (!/^\d+k?$/.test(this.audioBitrate)) {
      throw new PipelineInputError('audioBitrate', `must look like 128k, got ${this.audioBitrate}`);
    }
    this.audioPath = options.audioPath ?? null;
    this.singlePassFrames =
      options.expectedFrames !== undefined && this.audioPath !== null
        ? requireInteger('expectedFrames', options.expectedFrames, 1)
        : null;
    if (options.signal?.aborted) throw new PipelineInputError('signal', 'is already aborted');

    this.path = options.path;
    const tag = `.${basename(this.path)}.${randomBytes(6).toString('hex')}`;
    this.videoTemp = join(dirname(this.path), `${tag}.video.mp4`);
    this.outputTemp = join(dirname(this.path), `${tag}.partial.mp4`);

    // Without audio, or with audio and a known frame count, one run writes the final MP4;
    // otherwise the first run writes the video alone and finish() adds the audio.
    const onePass = this.audioPath === null || this.singlePassFrames !== null;
    this.video = startTool(
      'ffmpeg',
      [
        ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'],
        ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${this.width}x${this.height}`],
        ...['-framerate', String(this.fps), '-i', 'pipe:0'],
        ...(this.audioPath !== null && this.singlePassFrames !== null
          ? ['-t', this.secondsOf(this.singlePassFrames), '-i', this.audioPath]
          : []),
        ...['-map', '0:v:0', '-c:v', 'libx264', '-preset', preset, '-crf', String(crf)],
        // swscale converts RGB with the BT.601 matrix into limited range: say so in the stream.
        ...['-pix_fmt', 'yuv420p', '-colorspace', 'smpte170m', '-color_range', 'tv'],
        ...(this.singlePassFrames !== null
          ? // The audio is read long before x264's first packet: let the muxer queue all of it.
            ['-map', '1:a:0', '-c:a', 'aac', '-b:a', this.audioBitrate]
          : []),
        ...(this.singlePassFrames !== null ? ['-max_muxing_queue_size', '65536'] : []),
        ...(onePass ? ['-movflags', '+faststart'] : []),
        ...['-f', 'mp4', onePass ? this.outputTemp : this.videoTemp],
      ],
      { stdin: true },
    );
    options.signal?.addEventListener('abort', this.onAbortSignal, { once: true });
  }

  /** The encoding ffmpeg's process id (for logs). */
  get pid(): number | undefined {
    return this.video.child.pid;
  }

  /** Frames accepted so far. */
  get framesWritten(): number {
    return this.frames;
  }

  /** One frame of packed RGB24 (height · width · 3 bytes). */
  async writeFrame(frame: Uint8Array | RgbFrame): Promise<void> {
    const data = frame instanceof Uint8Array ? frame : frame.data;
    if (!(frame instanceof Uint8Array)) this.requireSize(frame.width, frame.height);
    return this.write(data, this.width, this.height);
  }

  /**
   * Whole frames of packed RGB24, `frames.length / (width·height·3)` of them (the pipeline's
   * FrameSink). The bytes must not be changed until the returned promise settles; after that
   * ffmpeg has them and the buffer may be reused.
   */
  async write(frames: Uint8Array, width: number, height: number): Promise<void> {
    this.requireSize(width, height);
    const frameBytes = this.width * this.height * 3;
    if (
      !(frames instanceof Uint8Array) ||
      frames.length === 0 ||
      frames.length % frameBytes !== 0
    ) {
      throw new PipelineInputError(
        'frames',
        `must be whole ${this.width}×${this.height} RGB24 frames (a multiple of ${frameBytes} bytes)`,
      );
    }
    const count = frames.length / frameBytes;
    return this.enqueue(async () => {
      await this.push(frames);
      this.frames += count;
    });
  }

  /**
   * Frames [start, end) of a video chunk [3, F, H, W] in −1..1 (the vaeDecoder's `video`),
   * converted to RGB24 one frame at a time as the pipe takes them.
   */
  async writeVideo(
    video: Float32Array,
    frames: number,
    range: { start?: number; end?: number } = {},
  ): Promise<void> {
    const shape: VideoChunkShape = { frames, height: this.height, width: this.width };
    requireVideoChunk(video, shape);
    const start = requireInteger('start', range.start ?? 0, 0);
    const end = requireInteger('end', range.end ?? frames, start);
    if (end > frames) throw new PipelineInputError('end', `must be ≤ ${frames}, got ${end}`);
    return this.enqueue(async () => {
      // One buffer for all frames: push() returns once ffmpeg's pipe has taken the bytes.
      const rgb = new Uint8Array(this.width * this.height * 3);
      for (let i = start; i < end; i++) {
        await this.push(videoFrameToRgb(video, shape, i, rgb).data);
        this.frames++;
      }
    });
  }

  /**
   * Ends the stream and produces the MP4 at `path`. Rejects with a MediaToolError carrying
   * ffmpeg's stderr tail if either ffmpeg run fails (the temporary files are then removed).
   */
  async finish(): Promise<Mp4Result> {
    if (this.state !== 'open') throw this.notOpen();
    this.state = 'finishing';
    try {
      await this.queue;
      if (this.frames === 0) throw new PipelineInputError('frames', 'no frames were written');
      this.video.stdin?.end();
      const exit = await this.video.exited;
      this.assertActive();
      if (exit.code !== 0) {
        throw new MediaToolError(
          'ffmpeg',
          `H.264 encoding failed (exit ${exit.code ?? exit.signal})`,
          exit.stderr.toString(),
          exit.code,
        );
      }
      let passes: 1 | 2 = 1;
      if (this.audioPath !== null && this.singlePassFrames === null) {
        passes = 2;
        await this.muxAudio(this.audioPath, this.videoTemp);
      } else if (this.audioPath !== null && this.singlePassFrames !== this.frames) {
        // Another count than announced: the audio was cut for the wrong length. Take the video
        // stream of the single pass and add the audio again, cut right.
        passes = 2;
        await rename(this.outputTemp, this.videoTemp);
        await this.muxAudio(this.audioPath, this.videoTemp);
      }
      this.assertActive();
      await rename(this.outputTemp, this.path);
      await rm(this.videoTemp, { force: true });
      this.state = 'finished';
      return {
        path: this.path,
        frames: this.frames,
        durationSeconds: this.frames / this.fps,
        passes,
      };
    } catch (e) {
      if (this.state === 'finishing') {
        this.state = 'failed';
        await this.cleanUp();
      }
      throw e;
    } finally {
      this.options.signal?.removeEventListener('abort', this.onAbortSignal);
    }
  }

  /** Kills ffmpeg and removes the temporary files; `path` is left as it was. Idempotent. */
  async abort(): Promise<void> {
    if (this.state === 'finished' || this.state === 'aborted') return;
    this.state = 'aborted';
    this.options.signal?.removeEventListener('abort', this.onAbortSignal);
    await this.cleanUp();
  }

  private secondsOf(frames: number): string {
    return (frames / this.fps).toFixed(6);
  }

  private async muxAudio(audioPath: string, videoPath: string): Promise<void> {
    const duration = this.secondsOf(this.frames);
    this.mux = startTool('ffmpeg', [
      ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'],
      ...['-i', videoPath, '-t', duration, '-i', audioPath],
      ...['-map', '0:v:0', '-map', '1:a:0', '-c:v', 'copy'],
      ...['-c:a', 'aac', '-b:a', this.audioBitrate],
      ...['-movflags', '+faststart', '-f', 'mp4', this.outputTemp],
    ]);
    const exit = await this.mux.exited;
    this.assertActive();
    if (exit.code !== 0) {
      throw new MediaToolError(
        'ffmpeg',
        `adding the audio failed (exit ${exit.code ?? exit.signal})`,
        exit.stderr.toString(),
        exit.code,
      );
    }
  }

  private async cleanUp(): Promise<void> {
    await Promise.all([killTool(this.video), this.mux ? killTool(this.mux) : undefined]);
    await Promise.all([rm(this.videoTemp, { force: true }), rm(this.outputTemp, { force: true })]);
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    if (this.state !== 'open') return Promise.reject(this.notOpen());
    const run = this.queue.then(task);
    // A failed write fails the encoder: later writes and finish() see the same error.
    this.queue = run.catch(async (e: unknown) => {
      if (this.state === 'open') {
        this.state = 'failed';
        await this.cleanUp();
      }
      throw e;
    });
    this.queue.catch(() => undefined);
    return run;
  }

  /**
   * Writes bytes to ffmpeg's stdin and resolves once they are handed to the OS (the write's
   * callback), so the caller may reuse the buffer and at most one write is ever queued here: a
   * slow ffmpeg holds the producer back instead of frames piling up in memory.
   */
  private async push(bytes: Uint8Array): Promise<void> {
    if (this.state !== 'open') throw this.notOpen();
    const stdin = this.video.stdin;
    if (!stdin || stdin.destroyed || this.video.child.exitCode !== null) throw await this.died();
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        stdin.off('close', onClose);
        if (ok) resolve();
        else this.died().then(reject, reject);
      };
      const onClose = (): void => settle(false);
      stdin.on('close', onClose);
      stdin.write(bytes, (error) => settle(!error));
    });
  }

  /** The error for ffmpeg having gone away while frames were still coming. */
  private async died(): Promise<Error> {
    if (this.state === 'aborted') return this.notOpen();
    const exit = await this.video.exited.catch((e: unknown) => e);
    if (exit instanceof Error) return exit;
    const { code, signal, stderr } = exit as Awaited<RunningTool['exited']>;
    return new MediaToolError(
      'ffmpeg',
      `stopped after ${this.frames} frames (exit ${code ?? signal})`,
      stderr.toString(),
      code,
    );
  }

  private assertActive(): void {
    if (this.state === 'aborted') throw this.notOpen();
  }

  private notOpen(): Error {
    return new PipelineInputError('encoder', `is ${this.state}, it takes no more calls`);
  }

  private requireSize(width: number, height: number): void {
    if (width !== this.width || height !== this.height) {
      throw new PipelineInputError(
        'frames',
        `are ${width}×${height}, the encoder was opened for ${this.width}×${this.height}`,
      );
    }
  }
}
