import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FrameSink } from '../render';
import { smoothImage } from '../testing/synthetic-images';
import { toneBursts, writeWav } from '../testing/synthetic-audio';
import { decodeAudio } from './audio';
import { startTool } from './ffmpeg';
import { psnr, rgbToChw, type RgbFrame } from './frames';
import { MediaToolError } from './media.errors';
import { Mp4Encoder } from './mp4-encoder';
import { readMp4Boxes } from './mp4-boxes';
import { probeMedia } from './probe';
import { rejectedField, useTempDir } from './spec-helpers';
import { readVideoFrames } from './video-frames';

jest.setTimeout(60_000);
const tmp = useTempDir('mp4');
const W = 96;
const H = 64;
const FRAME = 1 / 23;

/** A folder of its own per test, so "nothing else is left" can be checked. */
let n = 0;
async function folder(): Promise<string> {
  const dir = join(tmp(), `t${n++}`);
  await mkdir(dir);
  return dir;
}

/** Every encoder a test opens; aborted after each test so a failed test leaves no ffmpeg running. */
const opened: Mp4Encoder[] = [];
function encoderFor(options: ConstructorParameters<typeof Mp4Encoder>[0]): Mp4Encoder {
  const encoder = new Mp4Encoder(options);
  opened.push(encoder);
  return encoder;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((e) => e.abort()));
});

const frames: RgbFrame[] = Array.from({ length: 12 }, (_, i) => smoothImage(W, H, i / 12));

async function toneWav(dir: string, seconds: number): Promise<string> {
  const path = join(dir, 'tone.wav');
  const { samples } = toneBursts({
    durationSeconds: seconds,
    bursts: [{ start: 0, duration: seconds, amplitude: 0.5 }],
  });
  await writeWav(samples, 16000, path);
  return path;
}

async function readAll(path: string): Promise<RgbFrame[]> {
  const out: RgbFrame[] = [];
  for await (const frame of readVideoFrames(path)) out.push(frame);
  return out;
}

describe('Mp4Encoder', () => {
  it.each([
    ['frame count unknown: video, then a second pass adds the audio', undefined, 2],
    ['frame count announced: audio and video in one ffmpeg run', 12, 1],
    ['a wrong count announced (20): falls back to the second pass', 20, 2],
  ] as const)(
    'writes H.264 yuv420p at exactly 23 fps with AAC cut to the video, moov before mdat (%s)',
    async (_case, expectedFrames, passes) => {
      const dir = await folder();
      const audioPath = await toneWav(dir, 3); // longer than the video
      const path = join(dir, 'out.mp4');
      const encoder = encoderFor({
        path,
        width: W,
        height: H,
        audioPath,
        preset: 'veryfast',
        ...(expectedFrames !== undefined ? { expectedFrames } : {}),
      });
      for (const frame of frames) await encoder.writeFrame(frame);
      // Nothing at the final path while encoding.
      expect(existsSync(path)).toBe(false);
      const result = await encoder.finish();
      expect(result).toEqual({ path, frames: 12, durationSeconds: 12 / 23, passes });
      expect(await readdir(dir)).toEqual(['out.mp4', 'tone.wav']);

      const probed = await probeMedia(path);
      expect(probed.video).toMatchObject({ codec: 'h264', pixFmt: 'yuv420p', width: W, height: H });
      expect(probed.video?.fps).toBe(23);
      expect(probed.video?.frameCount).toBe(12);
      expect(Math.abs(probed.video!.durationSeconds! - 12 / 23)).toBeLessThan(FRAME);
      expect(probed.audio).toMatchObject({ codec: 'aac', sampleRate: 16000, channels: 1 });
      // The 3 s of audio were cut to the video's 0.52 s.
      expect(probed.audio!.durationSeconds!).toBeLessThanOrEqual(12 / 23 + 1e-3);
      expect(probed.audio!.durationSeconds!).toBeGreaterThan(12 / 23 - FRAME);
      expect(probed.durationSeconds!).toBeLessThan(12 / 23 + FRAME);

      const boxes = (await readMp4Boxes(path)).map((b) => b.type);
      expect(boxes.indexOf('moov')).toBeGreaterThanOrEqual(0);
      expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));

      // The audio is really there (a 0.5 tone, not silence).
      // Decoders ignore the edit list's end trim, so they return whole AAC frames (1024 samples):
      // up to one frame more than the video, and that extra is the encoder's silent padding.
      const audio = await decodeAudio(path);
      const end = Math.round((12 / 23) * 16000);
      expect(audio.samples.length).toBeGreaterThanOrEqual(end);
      expect(audio.samples.length).toBeLessThan(end + 1024);
      const rmsOf = (from: number, to: number) =>
        Math.sqrt(audio.samples.subarray(from, to).reduce((a, v) => a + v * v, 0) / (to - from));
      expect(rmsOf(1000, end - 500)).toBeCloseTo(0.5 / Math.SQRT2, 1);
      expect(rmsOf(end + 200, audio.samples.length)).toBeLessThan(0.02);
    },
  );

  it('gives back the frames it was given, within codec tolerance (PSNR > 35 dB)', async () => {
    const dir = await folder();
    const path = join(dir, 'roundtrip.mp4');
    const encoder = encoderFor({ path, width: W, height: H });
    // Several frames in one FrameSink write, the rest one by one.
    const firstFour = new Uint8Array(4 * W * H * 3);
    frames.slice(0, 4).forEach((f, i) => firstFour.set(f.data, i * W * H * 3));
    await encoder.write(firstFour, W, H);
    for (const frame of frames.slice(4)) await encoder.writeFrame(frame);
    await encoder.finish();

    const decoded = await readAll(path);
    expect(decoded).toHaveLength(frames.length);
    decoded.forEach((frame, i) => {
      expect([frame.width, frame.height]).toEqual([W, H]);
      expect(psnr(frame.data, frames[i]!.data)).toBeGreaterThan(35);
    });
    // Frames stay in order: each is closer to its own source than to a neighbour's.
    expect(psnr(decoded[5]!.data, frames[5]!.data)).toBeGreaterThan(
      psnr(decoded[5]!.data, frames[8]!.data),
    );
    expect((await probeMedia(path)).audio).toBeNull();
    const boxes = (await readMp4Boxes(path)).map((b) => b.type);
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
  });

  it('lets the caller reuse a frame buffer once a write has resolved (the render loop does)', async () => {
    const dir = await folder();
    const path = join(dir, 'reuse.mp4');
    const sink: FrameSink = encoderFor({ path, width: 32, height: 16, preset: 'ultrafast' });
    const buffer = new Uint8Array(32 * 16 * 3);
    for (let i = 0; i < 8; i++) {
      buffer.fill(20 + 25 * i);
      await sink.write(buffer, 32, 16);
    }
    await (sink as Mp4Encoder).finish();
    const means = (await readAll(path)).map(
      (f) => f.data.reduce((a, v) => a + v, 0) / f.data.length,
    );
    expect(means).toHaveLength(8);
    means.forEach((mean, i) => expect(Math.abs(mean - (20 + 25 * i))).toBeLessThan(3));
  });

  it('takes a float video chunk [3, F, H, W] in −1..1 and a frame range of it', async () => {
    const dir = await folder();
    const path = join(dir, 'chunk.mp4');
    const F = 5;
    const plane = F * H * W;
    const video = new Float32Array(3 * plane);
    for (let f = 0; f < F; f++) {
      const chw = rgbToChw(frames[f]!.data, W, H);
      for (let c = 0; c < 3; c++)
        video.set(chw.subarray(c * H * W, (c + 1) * H * W), c * plane + f * H * W);
    }
    const encoder = encoderFor({ path, width: W, height: H, preset: 'ultrafast' });
    await encoder.writeVideo(video, F, { start: 1, end: 4 });
    expect(encoder.framesWritten).toBe(3);
    await encoder.finish();
    const decoded = await readAll(path);
    expect(decoded).toHaveLength(3);
    decoded.forEach((frame, i) =>
      expect(psnr(frame.data, frames[i + 1]!.data)).toBeGreaterThan(35),
    );
  });

  it('keeps every video frame when the audio is shorter than the video', async () => {
    const dir = await folder();
    const audioPath = await toneWav(dir, 0.2);
    const path = join(dir, 'short-audio.mp4');
    const encoder = encoderFor({ path, width: W, height: H, audioPath, preset: 'ultrafast' });
    for (const frame of frames) await encoder.writeFrame(frame);
    await encoder.finish();
    const probed = await probeMedia(path);
    expect(probed.video?.frameCount).toBe(12);
    expect(probed.audio!.durationSeconds!).toBeLessThan(0.3);
  });

  it('waits for ffmpeg to take the frames (backpressure)', async () => {
    const dir = await folder();
    const path = join(dir, 'slow.mp4');
    const big = smoothImage(512, 512);
    const encoder = encoderFor({ path, width: 512, height: 512, preset: 'ultrafast' });
    await encoder.writeFrame(big);
    // Freeze ffmpeg: a frame (768 KiB) cannot go into a 64 KiB pipe, so the write must wait.
    process.kill(encoder.pid!, 'SIGSTOP');
    let done = false;
    const pending = encoder.writeFrame(big).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    process.kill(encoder.pid!, 'SIGCONT');
    await pending;
    expect(done).toBe(true);
    await encoder.finish();
    expect((await probeMedia(path)).video?.frameCount).toBe(2);
  });

  it('abort() kills ffmpeg and leaves no file', async () => {
    const dir = await folder();
    const path = join(dir, 'aborted.mp4');
    const encoder = encoderFor({ path, width: W, height: H, audioPath: await toneWav(dir, 1) });
    for (const frame of frames.slice(0, 6)) await encoder.writeFrame(frame);
    // ffmpeg's temporary file appears once it has seen the first frame.
    for (let i = 0; i < 100 && (await readdir(dir)).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await readdir(dir)).length).toBe(2);
    const pid = encoder.pid!;
    await encoder.abort();
    expect(await readdir(dir)).toEqual(['tone.wav']);
    expect(() => process.kill(pid, 0)).toThrow(); // the process is gone
    expect(await rejectedField(encoder.writeFrame(frames[0]!))).toBe('encoder');
    expect(await rejectedField(encoder.finish())).toBe('encoder');
    await encoder.abort(); // idempotent
  });

  it('aborts on its signal', async () => {
    const dir = await folder();
    const controller = new AbortController();
    const path = join(dir, 'signal.mp4');
    const encoder = encoderFor({ path, width: W, height: H, signal: controller.signal });
    await encoder.writeFrame(frames[0]!);
    controller.abort();
    await expect(encoder.finish()).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 50));
    expect(await readdir(dir)).toEqual([]);
  });

  it.each([
    ['in the second pass', undefined],
    ['in the single pass', 12],
  ] as const)(
    'rejects with ffmpeg’s stderr when the audio cannot be read (%s), and leaves no file',
    async (_case, expectedFrames) => {
      const dir = await folder();
      const notAudio = join(dir, 'notes.wav');
      await writeFile(notAudio, 'not audio');
      const path = join(dir, 'bad.mp4');
      const encoder = encoderFor({
        path,
        width: W,
        height: H,
        audioPath: notAudio,
        preset: 'ultrafast',
        ...(expectedFrames !== undefined ? { expectedFrames } : {}),
      });
      // In the single pass ffmpeg gives up at once: the write or finish() rejects, never a crash.
      const error: unknown = await encoder
        .writeFrame(frames[0]!)
        .then(() => encoder.finish())
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MediaToolError);
      expect((error as MediaToolError).stderrTail).toMatch(/notes\.wav|Invalid data/);
      expect(await readdir(dir)).toEqual(['notes.wav']);
    },
  );

  it('names the field for bad options and frames', async () => {
    const dir = await folder();
    const path = join(dir, 'x.mp4');
    const fieldOfNew = (o: Partial<ConstructorParameters<typeof Mp4Encoder>[0]>): string => {
      try {
        new Mp4Encoder({ path, width: W, height: H, ...o });
      } catch (e) {
        return (e as { field?: string }).field ?? 'other';
      }
      return 'no error';
    };
    expect(fieldOfNew({ width: 95 })).toBe('width');
    expect(fieldOfNew({ height: 0 })).toBe('height');
    expect(fieldOfNew({ fps: -1 })).toBe('fps');
    expect(fieldOfNew({ preset: 'warp' as never })).toBe('preset');
    expect(fieldOfNew({ audioPath: '/tmp/a.wav', expectedFrames: 0 })).toBe('expectedFrames');
    expect(fieldOfNew({ crf: 60 })).toBe('crf');

    const encoder = encoderFor({ path, width: W, height: H });
    expect(await rejectedField(encoder.write(new Uint8Array(10), W, H))).toBe('frames');
    expect(await rejectedField(encoder.write(frames[0]!.data, W + 2, H))).toBe('frames');
    expect(await rejectedField(encoder.writeVideo(new Float32Array(5), 1))).toBe('video');
    // Validation errors do not break the encoder, but finishing with no frames does not make a file.
    expect(await rejectedField(encoder.finish())).toBe('frames');
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('readMp4Boxes', () => {
  it('sees mdat before moov in an MP4 written without faststart', async () => {
    const dir = await folder();
    const path = join(dir, 'plain.mp4');
    const exit = await startTool('ffmpeg', [
      ...['-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=64x64:rate=23'],
      ...['-frames:v', '3', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', path],
    ]).exited;
    expect(exit.code).toBe(0);
    const boxes = (await readMp4Boxes(path)).map((b) => b.type);
    expect(boxes[0]).toBe('ftyp');
    expect(boxes.indexOf('mdat')).toBeLessThan(boxes.indexOf('moov'));
    expect(await rejectedField(readMp4Boxes(join(dir, '..', 't0', 'tone.wav')))).toBe('file');
  });
});

describe('readVideoFrames', () => {
  it('stops early at maxFrames and refuses files without video', async () => {
    const dir = await folder();
    const path = join(dir, 'v.mp4');
    const encoder = encoderFor({ path, width: W, height: H, preset: 'ultrafast' });
    for (const frame of frames) await encoder.writeFrame(frame);
    await encoder.finish();
    const some: number[] = [];
    for await (const frame of readVideoFrames(path, { maxFrames: 3 })) some.push(frame.index);
    expect(some).toEqual([0, 1, 2]);
    const wav = await toneWav(dir, 0.1);
    const read = async () => {
      for await (const frame of readVideoFrames(wav)) void frame;
    };
    expect(await rejectedField(read())).toBe('video');
  });
});
