// Mp4Encoder against the ffmpeg CLI on the same frames (target: ≤ 1.1× the CLI's time).
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import sharp from 'sharp';
import { Mp4Encoder, probeMedia, X264_PRESETS, type X264Preset } from '@likeness/pipeline';
import { faceApiDemoPhotos, toneBursts, writeWav } from '@likeness/pipeline/testing';
import { envInt, median, type BenchSection } from './section';

const FRAMES = envInt('BENCH_ENCODE_FRAMES', 230); // 10 s at 23 fps
const REPEATS = envInt('BENCH_ENCODE_REPEATS', 3);
export const PRESET = (process.env['BENCH_ENCODE_PRESET'] ?? 'medium') as X264Preset;
const SIDE = 512;
const FPS = 23;
export const CRF = 18;
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

const CLOCK_TICKS =
  Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/**
 * CPU seconds (user + system) of this process's children that have exited and been reaped
 * (/proc/self/stat cutime + cstime): the ffmpeg runs, since nothing else is spawned meanwhile.
 */
function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

/** What both encoders are given: raw RGB24 frames of this size and rate, and the x264 settings. */
export interface EncodeJob {
  raw: string;
  audioPath: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  preset: X264Preset;
  crf: number;
}

const JOB = { width: SIDE, height: SIDE, fps: FPS, frames: FRAMES, preset: PRESET, crf: CRF };

/** Ours: frames read from the raw file and streamed through Mp4Encoder one by one. Seconds. */
export async function encodeWithEncoder(job: EncodeJob, path: string): Promise<number> {
  const { raw, audioPath, width, height, fps, preset, crf, frames } = job;
  const started = performance.now();
  const encoder = new Mp4Encoder({
    path,
    width,
    height,
    fps,
    audioPath,
    preset,
    crf,
    expectedFrames: frames,
  });
  // Two buffers, read into straight from the file, the next frame while ffmpeg's pipe takes
  // this one: Mp4Encoder.write resolves once the pipe has the bytes, after which the buffer may be
  // reused (its contract).
  const frameBytes = width * height * 3;
  const buffers = [Buffer.allocUnsafe(frameBytes), Buffer.allocUnsafe(frameBytes)];
  const file = await open(raw, 'r');
  const read = async (i: number): Promise<Buffer> => {
    const buffer = buffers[i % 2] as Buffer;
    const { bytesRead } = await file.read(buffer, 0, frameBytes, i * frameBytes);
    if (bytesRead !== frameBytes) throw new Error(`${raw} ends inside frame ${i}`);
    return buffer;
  };
  try {
    let next = read(0);
    for (let i = 0; i < frames; i++) {
      const frame = await next;
      next = i + 1 < frames ? read(i + 1) : next;
      await encoder.writeFrame(frame);
    }
  } finally {
    await file.close();
  }
  await encoder.finish();
  return (performance.now() - started) / 1000;
}

/** The CLI doing the same job in one command: same frames, x264 settings, AAC cut, faststart. */
export async function encodeWithCli(job: EncodeJob, path: string): Promise<number> {
  const { raw, audioPath, width, height, fps, frames, preset, crf } = job;
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
        `${width}x${height}`,
        '-framerate',
        String(fps),
        '-i',
        raw,
      ],
      ...['-t', (frames / fps).toFixed(6), '-i', audioPath, '-map', '0:v:0', '-map', '1:a:0'],
      ...['-c:v', 'libx264', '-preset', preset, '-crf', String(crf)],
      ...['-pix_fmt', 'yuv420p', '-colorspace', 'smpte170m', '-color_range', 'tv'],
      ...['-c:a', 'aac', '-b:a', '128k', '-movflags', '+faststart', '-f', 'mp4', path],
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`ffmpeg CLI exited with ${code}`);
  return (performance.now() - started) / 1000;
}

export async function checkOutput(path: string, frames: number): Promise<void> {
  const probed = await probeMedia(path);
  if (
    probed.video?.frameCount !== frames ||
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

    return compareEncoders({ ...JOB, raw, audioPath }, workDir, REPEATS);
  },
};

/**
 * Both encoders on the same raw frames, `repeats` times each in alternating order; medians
 * compared against the 1.1× target.
 */
export async function compareEncoders(
  job: EncodeJob,
  workDir: string,
  repeats: number,
): Promise<{ lines: string[]; targetsMet: boolean; ratio: number }> {
  const ours: number[] = [];
  const cli: number[] = [];
  // CPU seconds: ffmpeg's (reaped children) and, for ours, this process's own.
  const oursCpu: number[] = [];
  const oursFfmpegCpu: number[] = [];
  const cliCpu: number[] = [];
  for (let r = 0; r < repeats; r++) {
    // Alternate the order so neither side always runs on a warmer machine.
    const runOurs = async () => {
      const own = process.cpuUsage();
      const children = childrenCpuSeconds();
      ours.push(await encodeWithEncoder(job, join(workDir, 'ours.mp4')));
      oursFfmpegCpu.push(childrenCpuSeconds() - children);
      const used = process.cpuUsage(own);
      oursCpu.push((used.user + used.system) / 1e6);
    };
    const runCli = async () => {
      const children = childrenCpuSeconds();
      cli.push(await encodeWithCli(job, join(workDir, 'cli.mp4')));
      cliCpu.push(childrenCpuSeconds() - children);
    };
    if (r % 2 === 0) {
      await runOurs();
      await runCli();
    } else {
      await runCli();
      await runOurs();
    }
  }
  await checkOutput(join(workDir, 'ours.mp4'), job.frames);
  await checkOutput(join(workDir, 'cli.mp4'), job.frames);
  const ratio = median(ours) / median(cli);
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
  return {
    lines: [
      `Mp4Encoder: median ${median(ours).toFixed(2)} s (${(job.frames / median(ours)).toFixed(1)} fps); runs ${fmt(ours)}; CPU: ffmpeg ${fmt(oursFfmpegCpu)} s + this process ${fmt(oursCpu)} s`,
      `ffmpeg CLI: median ${median(cli).toFixed(2)} s (${(job.frames / median(cli)).toFixed(1)} fps); runs ${fmt(cli)}; CPU: ffmpeg ${fmt(cliCpu)} s`,
      `CPU seconds, ours (ffmpeg + this process) / CLI, medians: ${((median(oursFfmpegCpu) + median(oursCpu)) / median(cliCpu)).toFixed(3)}× (for the record: less load-sensitive than wall time)`,
      `ratio ${ratio.toFixed(3)}× (target ≤ ${TARGET_RATIO}×): ${ratio <= TARGET_RATIO ? 'met' : 'MISSED'}`,
    ],
    targetsMet: ratio <= TARGET_RATIO,
    ratio,
  };
}
