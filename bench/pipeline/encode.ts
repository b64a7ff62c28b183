// Mp4Encoder against the ffmpeg CLI on the same frames (target: ≤ 1.1× the CLI's time).
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import sharp from 'sharp';
import { Mp4Encoder, probeMedia, X264_PRESETS, type X264Preset } from '@likeness/pipeline';
import { faceApiDemoPhotos, toneBursts, writeWav } from '@likeness/pipeline/testing';
import { envInt, median, type BenchSection } from './section';

const FRAMES = envInt('BENCH_ENCODE_FRAMES', 230); // 10 s at 23 fps
const REPEATS = envInt('BENCH_ENCODE_REPEATS', 3);
const PRESET = (process.env['BENCH_ENCODE_PRESET'] ?? 'medium') as X264Preset;
const SIDE = 512;
const FPS = 23;
const CRF = 18;
const TARGET_RATIO = 1.1;

/**
 * A 512×512 camera pan over a real photo (a face-api demo picture), so x264 sees texture and
 * motion rather than a flat test pattern. Written once to a raw RGB24 file both encoders read.
 */
async function writeFrames(path: string): Promise<void> {
  const [photo] = faceApiDemoPhotos();
  const { data, info } = await sharp(photo!)
    .resize(800)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = createWriteStream(path);
  const frame = Buffer.alloc(SIDE * SIDE * 3);
  for (let i = 0; i < FRAMES; i++) {
    const x0 = Math.round(
      (info.width - SIDE) / 2 + 0.4 * (info.width - SIDE) * Math.sin((2 * Math.PI * i) / 46),
    );
    const y0 = Math.round(
      (info.height - SIDE) / 2 + 0.4 * (info.height - SIDE) * Math.sin((2 * Math.PI * i) / 69),
    );
    for (let y = 0; y < SIDE; y++) {
      const from = ((y0 + y) * info.width + x0) * 3;
      data.copy(frame, y * SIDE * 3, from, from + SIDE * 3);
    }
    // Copy: the stream keeps the buffer until it is flushed.
    if (!out.write(Buffer.from(frame))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Ours: frames read from the raw file and streamed through Mp4Encoder one by one. */
async function encodeWithEncoder(raw: string, audioPath: string, path: string): Promise<number> {
  const started = performance.now();
  const encoder = new Mp4Encoder({
    path,
    width: SIDE,
    height: SIDE,
    fps: FPS,
    audioPath,
    preset: PRESET,
    crf: CRF,
  });
  const frameBytes = SIDE * SIDE * 3;
  let frame = Buffer.alloc(frameBytes);
  let filled = 0;
  for await (const chunk of createReadStream(raw, {
    highWaterMark: frameBytes,
  }) as AsyncIterable<Buffer>) {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(chunk.length - offset, frameBytes - filled);
      chunk.copy(frame, filled, offset, offset + n);
      filled += n;
      offset += n;
      if (filled === frameBytes) {
        await encoder.writeFrame(frame);
        frame = Buffer.alloc(frameBytes);
        filled = 0;
      }
    }
  }
  await encoder.finish();
  return (performance.now() - started) / 1000;
}

/** The CLI doing the same job in one command: same frames, x264 settings, AAC cut, faststart. */
async function encodeWithCli(raw: string, audioPath: string, path: string): Promise<number> {
  const started = performance.now();
  const child = spawn(
    'ffmpeg',
    [
      ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-y'],
      ...[
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        '-s',
        `${SIDE}x${SIDE}`,
        '-framerate',
        String(FPS),
        '-i',
        raw,
      ],
      ...['-t', (FRAMES / FPS).toFixed(6), '-i', audioPath, '-map', '0:v:0', '-map', '1:a:0'],
      ...['-c:v', 'libx264', '-preset', PRESET, '-crf', String(CRF)],
      ...['-pix_fmt', 'yuv420p', '-colorspace', 'smpte170m', '-color_range', 'tv'],
      ...['-c:a', 'aac', '-b:a', '128k', '-movflags', '+faststart', '-f', 'mp4', path],
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`ffmpeg CLI exited with ${code}`);
  return (performance.now() - started) / 1000;
}

async function checkOutput(path: string): Promise<void> {
  const probed = await probeMedia(path);
  if (
    probed.video?.frameCount !== FRAMES ||
    probed.video.codec !== 'h264' ||
    probed.audio?.codec !== 'aac'
  ) {
    throw new Error(`${path} is not what both encoders should make: ${JSON.stringify(probed)}`);
  }
}

export const encodeSection: BenchSection = {
  name: 'encode',
  title: `Mp4Encoder vs ffmpeg CLI, ${FRAMES} frames ${SIDE}×${SIDE} @ ${FPS} fps + AAC, preset ${PRESET}, crf ${CRF}`,
  async run({ workDir }) {
    if (!X264_PRESETS.includes(PRESET))
      throw new Error(`BENCH_ENCODE_PRESET must be one of ${X264_PRESETS.join(', ')}`);
    const raw = join(workDir, 'frames.rgb');
    await writeFrames(raw);
    const audioPath = join(workDir, 'audio.wav');
    // One second longer than the video, so both sides cut the audio.
    const seconds = FRAMES / FPS + 1;
    const { samples } = toneBursts({
      durationSeconds: seconds,
      bursts: [{ start: 0, duration: seconds, amplitude: 0.3, frequency: 180 }],
    });
    await writeWav(samples, 16000, audioPath);

    const ours: number[] = [];
    const cli: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      // Alternate the order so neither side always runs on a warmer machine.
      const runOurs = async () =>
        ours.push(await encodeWithEncoder(raw, audioPath, join(workDir, 'ours.mp4')));
      const runCli = async () =>
        cli.push(await encodeWithCli(raw, audioPath, join(workDir, 'cli.mp4')));
      if (r % 2 === 0) {
        await runOurs();
        await runCli();
      } else {
        await runCli();
        await runOurs();
      }
    }
    await checkOutput(join(workDir, 'ours.mp4'));
    await checkOutput(join(workDir, 'cli.mp4'));
    const ratio = median(ours) / median(cli);
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
    return {
      lines: [
        `Mp4Encoder: median ${median(ours).toFixed(2)} s (${(FRAMES / median(ours)).toFixed(1)} fps); runs ${fmt(ours)}`,
        `ffmpeg CLI: median ${median(cli).toFixed(2)} s (${(FRAMES / median(cli)).toFixed(1)} fps); runs ${fmt(cli)}`,
        `ratio ${ratio.toFixed(3)}× (target ≤ ${TARGET_RATIO}×): ${ratio <= TARGET_RATIO ? 'met' : 'MISSED'}`,
      ],
      targetsMet: ratio <= TARGET_RATIO,
    };
  },
};
