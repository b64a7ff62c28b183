import { PipelineInputError, requireInteger } from '../errors';
import { killTool, startTool } from './ffmpeg';
import type { RgbFrame } from './frames';
import { MediaToolError } from './media.errors';
import { probeMedia } from './probe';

export interface ReadVideoFramesOptions {
  /** Stop after this many frames (ffmpeg is stopped too). */
  maxFrames?: number;
  /** The request field errors name (default 'video'). */
  field?: string;
}

export interface VideoFrame extends RgbFrame {
  /** 0-based frame number. */
  index: number;
}

/**
 * Decodes the first video stream of `path` to RGB24 frames, one at a time, as an async
 * iterator: ffmpeg writes raw frames to a pipe and only the frame being assembled is held.
 * Stopping early (break) stops ffmpeg. Each yielded frame owns its buffer. Frames come as stored
 * (rotation metadata is not applied, so sizes match `probeMedia`). A file without a video stream
 * is a PipelineInputError naming `field`; a decoding failure midway a MediaToolError.
 */
export async function* readVideoFrames(
  path: string,
  options: ReadVideoFramesOptions = {},
): AsyncGenerator<VideoFrame, void, undefined> {
  const field = options.field ?? 'video';
  const maxFrames =
    options.maxFrames === undefined ? Infinity : requireInteger('maxFrames', options.maxFrames, 1);
  const probed = await probeMedia(path, field);
  if (!probed.video || probed.video.width < 1 || probed.video.height < 1) {
    throw new PipelineInputError(field, 'has no video stream');
  }
  const { width, height } = probed.video;
  const frameBytes = width * height * 3;

  const run = startTool(
    'ffmpeg',
    [
      ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-noautorotate', '-i', path],
      ...['-map', '0:v:0', '-fps_mode', 'passthrough'],
      ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    ],
    { stdout: true },
  );
  let index = 0;
  let finished = false;
  try {
    let frame = new Uint8Array(frameBytes);
    let filled = 0;
    for await (const chunk of run.stdout as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        const n = Math.min(chunk.length - offset, frameBytes - filled);
        frame.set(chunk.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === frameBytes) {
          yield { index: index++, width, height, data: frame };
          if (index >= maxFrames) return;
          frame = new Uint8Array(frameBytes);
          filled = 0;
        }
      }
    }
    const exit = await run.exited;
    if (exit.code !== 0) {
      throw new MediaToolError(
        'ffmpeg',
        `decoding ${path} failed after ${index} frames (exit ${exit.code ?? exit.signal})`,
        exit.stderr.toString(),
        exit.code,
      );
    }
    if (filled !== 0) {
      throw new MediaToolError(
        'ffmpeg',
        `ended inside frame ${index} (${filled} of ${frameBytes} bytes)`,
      );
    }
    finished = true;
  } finally {
    if (!finished) await killTool(run);
  }
}
