import { execFile } from 'node:child_process';
import sharp, { type Metadata } from 'sharp';
import { z } from 'zod';
import type { AssetKind, JsonObject } from '@likeness/db';
import { AssetQuotaException, BadAssetException } from './asset.errors';
import type { MediaFormat } from './sniff';

/** The plan limits probing enforces (from libs/billing's Plan). */
export interface ProbeLimits {
  maxImageMegapixels: number;
  maxAudioUploadSeconds: number;
}

export interface ProbedMedia {
  kind: AssetKind;
  mime: string;
  /** Stored as the Asset's `probe` JSON; the GraphQL Asset fields are read from it. */
  probe: JsonObject;
}

const IMAGE_MIME = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' } as const;
type ImageFormat = keyof typeof IMAGE_MIME;

/**
 * Reads what the asset is from the stored file, after its format was sniffed: images with sharp,
 * audio and video with ffprobe. Throws BAD_USER_INPUT (field `file`) for files that do not read
 * as their format, QUOTA_EXCEEDED for files over the plan's limits.
 */
export async function probeMedia(
  file: string,
  format: MediaFormat,
  limits: ProbeLimits,
): Promise<ProbedMedia> {
  switch (format) {
    case 'jpeg':
    case 'png':
    case 'webp':
      return probeImage(file, format, limits);
    case 'wav':
    case 'mp3':
    case 'aac':
    case 'mp4':
    case 'ogg':
    case 'flac':
      return probeTimed(file, format, limits);
  }
}

/**
 * Images: the header first (sharp `metadata()` decodes no pixels), refused when the declared
 * width × height exceeds the plan, so a decompression bomb (a small file declaring a huge
 * image) is never decoded. Then one decode, bounded by the same pixel limit, to prove the file
 * is whole (a truncated JPEG has a perfect header). Width and height are reported after the
 * EXIF orientation is applied, as viewers show the image.
 */
async function probeImage(
  file: string,
  format: ImageFormat,
  limits: ProbeLimits,
): Promise<ProbedMedia> {
  let meta: Metadata;
  try {
    // No pixel limit here: we want the declared size even when it is absurd, to report it.
    meta = await sharp(file, { limitInputPixels: false }).metadata();
  } catch {
    throw unreadable(format);
  }
  const { width, height } = meta;
  if (meta.format !== format || !width || !height) throw unreadable(format);
  const maxPixels = Math.floor(limits.maxImageMegapixels * 1_000_000);
  if (width * height > maxPixels) {
    throw new AssetQuotaException(
      `The image is ${width}×${height} (${((width * height) / 1e6).toFixed(1)} megapixels); your plan allows ${limits.maxImageMegapixels}`,
      'IMAGE_TOO_LARGE',
    );
  }
  try {
    await sharp(file, { limitInputPixels: maxPixels, failOn: 'error', sequentialRead: true })
      .resize(64, 64, { fit: 'inside' })
      .raw()
      .toBuffer();
  } catch {
    throw unreadable(format);
  }
  const oriented = meta.autoOrient ?? { width, height };
  return {
    kind: 'IMAGE',
    mime: IMAGE_MIME[format],
    probe: {
      format,
      width: oriented.width,
      height: oriented.height,
      orientation: meta.orientation ?? 1,
      hasAlpha: meta.hasAlpha ?? false,
    },
  };
}

type TimedFormat = Exclude<MediaFormat, ImageFormat>;

/** ffprobe's demuxer for each sniffed format: ffprobe never guesses another one. */
const DEMUXER: Record<TimedFormat, string> = {
  wav: 'wav',
  mp3: 'mp3',
  aac: 'aac',
  mp4: 'mov',
  ogg: 'ogg',
  flac: 'flac',
};

const AUDIO_MIME: Record<TimedFormat, string> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  aac: 'audio/aac',
  mp4: 'audio/mp4',
  ogg: 'audio/ogg',
  flac: 'audio/flac',
};

/** Audio codecs we accept inside each container. */
const AUDIO_CODECS: Record<TimedFormat, (codec: string) => boolean> = {
  wav: (c) => c.startsWith('pcm_'),
  mp3: (c) => c === 'mp3',
  aac: (c) => c === 'aac',
  mp4: (c) => c === 'aac' || c === 'alac' || c === 'mp3',
  ogg: (c) => c === 'opus' || c === 'vorbis',
  flac: (c) => c === 'flac',
};

const VIDEO_CODECS = new Set(['h264', 'hevc', 'av1', 'vp9', 'mpeg4']);

const ffprobeOutput = z.object({
  streams: z
    .array(
      z.object({
        codec_type: z.string().optional(),
        codec_name: z.string().optional(),
        sample_rate: z.string().optional(),
        channels: z.number().optional(),
        width: z.number().optional(),
        height: z.number().optional(),
        avg_frame_rate: z.string().optional(),
        duration: z.string().optional(),
        disposition: z.object({ attached_pic: z.number().optional() }).optional(),
      }),
    )
    .default([]),
  format: z.object({ duration: z.string().optional(), bit_rate: z.string().optional() }),
});
type FfprobeStream = z.infer<typeof ffprobeOutput>['streams'][number];

export const FFPROBE_TIMEOUT_MS = 30_000;

/**
 * Audio (and MP4 video) with ffprobe, forced to the sniffed demuxer. A file that sniffs as
 * audio but ffprobe cannot read, that has no audio track, or whose codec does not belong in its
 * container is BAD_USER_INPUT; audio longer than the plan allows is QUOTA_EXCEEDED.
 */
async function probeTimed(
  file: string,
  format: TimedFormat,
  limits: ProbeLimits,
): Promise<ProbedMedia> {
  const output = await ffprobe(file, DEMUXER[format]);
  if (!output) throw unreadable(format);
  const streams = output.streams;
  const audio = streams.find((s) => s.codec_type === 'audio');
  // Cover art in MP3/FLAC/M4A is a one-picture "video" stream; it does not make a video.
  const video = streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  const duration = positive(output.format.duration) ?? positive((video ?? audio)?.duration);

  if (format === 'mp4' && video) {
    const codec = video.codec_name ?? '';
    if (!VIDEO_CODECS.has(codec) || !video.width || !video.height || duration === undefined) {
      throw unreadable(format);
    }
    return {
      kind: 'VIDEO',
      mime: 'video/mp4',
      probe: {
        format,
        codec,
        width: video.width,
        height: video.height,
        durationSeconds: duration,
        fps: frameRate(video.avg_frame_rate),
        ...(audio ? videoAudioFields(audio) : {}),
      },
    };
  }
  if (!audio) {
    throw new BadAssetException(`The ${label(format)} file has no audio track`, 'UNREADABLE_MEDIA');
  }
  const codec = audio.codec_name ?? '';
  const fields = audioFields(audio);
  if (!AUDIO_CODECS[format](codec) || !fields.sampleRate || !fields.channels) {
    throw unreadable(format);
  }
  if (duration === undefined) throw unreadable(format);
  if (duration > limits.maxAudioUploadSeconds) {
    throw new AssetQuotaException(
      `The audio lasts ${duration.toFixed(1)} s; your plan allows ${limits.maxAudioUploadSeconds} s`,
      'AUDIO_TOO_LONG',
    );
  }
  const bitRate = positive(output.format.bit_rate);
  return {
    kind: 'AUDIO',
    mime: AUDIO_MIME[format],
    probe: {
      format,
      durationSeconds: duration,
      ...fields,
      ...(bitRate !== undefined ? { bitRate: Math.round(bitRate) } : {}),
    },
  };
}

function audioFields(stream: FfprobeStream): {
  codec: string;
  sampleRate: number;
  channels: number;
} {
  return {
    codec: stream.codec_name ?? '',
    sampleRate: Math.round(positive(stream.sample_rate) ?? 0),
    channels: stream.channels ?? 0,
  };
}

/** A video's audio track: its codec as `audioCodec` (`codec` is the video's). */
function videoAudioFields(stream: FfprobeStream): {
  audioCodec: string;
  sampleRate: number;
  channels: number;
} {
  const { codec, ...rest } = audioFields(stream);
  return { audioCodec: codec, ...rest };
}

/**
 * Runs ffprobe on a file we wrote ourselves (never a caller's path); null when ffprobe cannot
 * read it or took longer than FFPROBE_TIMEOUT_MS. A missing ffprobe binary is our fault and
 * rejects.
 */
function ffprobe(file: string, demuxer: string): Promise<z.infer<typeof ffprobeOutput> | null> {
  const args = ['-v', 'error', '-f', demuxer, '-print_format', 'json', '-show_format'];
  args.push('-show_streams', '-i', file);
  return new Promise((resolve, reject) => {
    execFile(
      'ffprobe',
      args,
      { timeout: FFPROBE_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024 },
      (error, stdout) => {
        if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new Error('ffprobe is not installed (needed to probe audio and video uploads)'));
          return;
        }
        if (error) {
          resolve(null);
          return;
        }
        try {
          const parsed = ffprobeOutput.safeParse(JSON.parse(stdout));
          resolve(parsed.success ? parsed.data : null);
        } catch {
          resolve(null);
        }
      },
    );
  });
}

function positive(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function frameRate(value: string | undefined): number | null {
  const match = value ? /^(\d+)\/(\d+)$/.exec(value) : null;
  if (!match) return null;
  const [num, den] = [Number(match[1]), Number(match[2])];
  return den > 0 && num > 0 ? Math.round((num / den) * 1000) / 1000 : null;
}

const LABEL: Record<MediaFormat, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  wav: 'WAV',
  mp3: 'MP3',
  aac: 'AAC',
  mp4: 'MP4/M4A',
  ogg: 'Ogg',
  flac: 'FLAC',
};

function label(format: MediaFormat): string {
  return LABEL[format];
}

function unreadable(format: MediaFormat): BadAssetException {
  return new BadAssetException(
    `The file looks like ${label(format)} but cannot be read as one (truncated or corrupt?)`,
    'UNREADABLE_MEDIA',
  );
}
