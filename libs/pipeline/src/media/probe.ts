import { PipelineInputError } from '../errors';
import { runTool } from './ffmpeg';
import { MediaToolError } from './media.errors';

export interface ProbedVideoStream {
  codec: string;
  /** e.g. yuv420p. */
  pixFmt: string | null;
  width: number;
  height: number;
  /** Average frame rate (frames / duration), e.g. 23. */
  fps: number;
  /** The rate as ffprobe states it, e.g. "23/1". */
  fpsText: string;
  /** From the container's index when it has one (MP4), else by counting packets. */
  frameCount: number | null;
  durationSeconds: number | null;
}

export interface ProbedAudioStream {
  codec: string;
  sampleRate: number;
  channels: number;
  durationSeconds: number | null;
}

export interface ProbedMedia {
  /** ffprobe's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "wav". */
  formatName: string;
  /** The container's duration (the longest stream), seconds. */
  durationSeconds: number | null;
  /** The first video stream (cover art excluded), if any. */
  video: ProbedVideoStream | null;
  /** The first audio stream, if any. */
  audio: ProbedAudioStream | null;
}

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  pix_fmt?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  nb_read_packets?: string;
  duration?: string;
  sample_rate?: string;
  channels?: number;
  disposition?: { attached_pic?: number };
}

interface FfprobeOutput {
  streams?: FfprobeStream[];
  format?: { format_name?: string; duration?: string };
}

function num(text: string | undefined): number | null {
  if (text === undefined || text === 'N/A') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/** "24000/1001" → 23.976…; "0/0" → null. */
function rate(text: string | undefined): number | null {
  if (!text) return null;
  const [a, b = '1'] = text.split('/');
  const n = Number(a) / Number(b);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/**
 * What a media file holds, from ffprobe's JSON: container duration, the first video stream
 * (codec, pix_fmt, size, fps, frame count) and the first audio stream (codec, rate, channels).
 * A file ffprobe cannot read is a PipelineInputError naming `field` (default 'file').
 */
export async function probeMedia(path: string, field = 'file'): Promise<ProbedMedia> {
  const { exit, stdout } = await runTool('ffprobe', [
    ...['-v', 'error', '-hide_banner', '-print_format', 'json'],
    ...['-show_format', '-show_streams', '-count_packets', path],
  ]);
  if (exit.code !== 0) {
    throw new PipelineInputError(
      field,
      `is not a readable media file (${exit.stderr.lastLine() || `ffprobe exited with ${exit.code}`})`,
    );
  }
  let parsed: FfprobeOutput;
  try {
    parsed = JSON.parse(stdout.toString()) as FfprobeOutput;
  } catch {
    throw new MediaToolError(
      'ffprobe',
      'printed something other than JSON',
      exit.stderr.toString(),
    );
  }
  const streams = parsed.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const a = streams.find((s) => s.codec_type === 'audio');
  const fpsText = v?.avg_frame_rate && rate(v.avg_frame_rate) ? v.avg_frame_rate : v?.r_frame_rate;
  return {
    formatName: parsed.format?.format_name ?? 'unknown',
    durationSeconds: num(parsed.format?.duration),
    video: v
      ? {
          codec: v.codec_name ?? 'unknown',
          pixFmt: v.pix_fmt ?? null,
          width: v.width ?? 0,
          height: v.height ?? 0,
          fps: rate(fpsText) ?? 0,
          fpsText: fpsText ?? '0/0',
          frameCount: num(v.nb_frames) ?? num(v.nb_read_packets),
          durationSeconds: num(v.duration),
        }
      : null,
    audio: a
      ? {
          codec: a.codec_name ?? 'unknown',
          sampleRate: num(a.sample_rate) ?? 0,
          channels: a.channels ?? 0,
          durationSeconds: num(a.duration),
        }
      : null,
  };
}
