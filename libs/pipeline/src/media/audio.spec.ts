import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTool } from './ffmpeg';
import { makeSpeechWav } from '../testing/speech';
import { toneBursts, writeWav } from '../testing/synthetic-audio';
import { decodeAudio } from './audio';
import { rejectedField, useTempDir } from './spec-helpers';

jest.setTimeout(30_000);
const dir = useTempDir('audio');
const SAMPLES_PER_VIDEO_FRAME = 16000 / 23;

function rms(x: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / (to - from));
}

async function ffmpeg(args: string[]): Promise<void> {
  const exit = await startTool('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', ...args]).exited;
  if (exit.code !== 0) throw new Error(exit.stderr.toString());
}

describe('decodeAudio', () => {
  it('decodes 3.2 s of espeak-ng speech (22.05 kHz) to 51200 samples at 16 kHz', async () => {
    const speech = await makeSpeechWav(
      'The quick brown fox jumps over the lazy dog.',
      join(dir(), 'speech.wav'),
      { durationSeconds: 3.2 },
    );
    expect(speech.sampleRate).toBe(22050);
    expect(speech.samples).toBe(70560);

    const audio = await decodeAudio(speech.path);
    expect(audio.sampleRate).toBe(16000);
    expect(Math.abs(audio.samples.length - 51200)).toBeLessThanOrEqual(SAMPLES_PER_VIDEO_FRAME);
    expect(audio.durationSeconds).toBeCloseTo(audio.samples.length / 16000, 9);
    // Real speech: audible, within −1..1.
    expect(rms(audio.samples, 0, 32000)).toBeGreaterThan(0.01);
    expect(Math.max(...audio.samples.map(Math.abs))).toBeLessThanOrEqual(1);
  });

  it('keeps the energy envelope when resampling (44.1 kHz tone bursts → 16 kHz)', async () => {
    const bursts = [
      { start: 0.2, duration: 0.4, amplitude: 0.8 },
      { start: 1.0, duration: 0.3, amplitude: 0.2, frequency: 440 },
    ];
    const synth = toneBursts({ durationSeconds: 1.5, sampleRate: 44100, bursts });
    const path = join(dir(), 'bursts.wav');
    await writeWav(synth.samples, 44100, path);
    const audio = await decodeAudio(path);
    expect(Math.abs(audio.samples.length - 24000)).toBeLessThanOrEqual(1);
    const at = (t0: number, t1: number) => rms(audio.samples, t0 * 16000, t1 * 16000);
    // A sine of amplitude a has RMS a/√2 (windows inside the bursts, away from the ramps).
    expect(at(0.25, 0.55)).toBeCloseTo(0.8 / Math.SQRT2, 2);
    expect(at(1.05, 1.25)).toBeCloseTo(0.2 / Math.SQRT2, 2);
    expect(at(0.7, 0.9)).toBeLessThan(1e-3);
    expect(synth.envelope(0.4)).toBe(0.8);
    expect(synth.envelope(0.8)).toBe(0);
  });

  it('averages stereo channels into mono', async () => {
    const path = join(dir(), 'stereo.wav');
    // Left: a 0.5-amplitude tone; right: silence.
    await ffmpeg([
      ...['-f', 'lavfi', '-i', 'sine=frequency=300:sample_rate=48000:duration=1'],
      ...['-af', 'volume=4,pan=stereo|c0=c0|c1=0*c0', path],
    ]);
    const audio = await decodeAudio(path);
    // lavfi's sine is at 1/8 amplitude: ×4 = 0.5 on the left; the mono mix is half of it.
    expect(rms(audio.samples, 1600, 14400)).toBeCloseTo(0.25 / Math.SQRT2, 2);

    // The same loud tone on both channels stays as loud (a plain sum would clip).
    const both = join(dir(), 'both.wav');
    await ffmpeg([
      ...['-f', 'lavfi', '-i', 'sine=frequency=300:sample_rate=48000:duration=1'],
      ...['-af', 'volume=7,pan=stereo|c0=c0|c1=c0', both],
    ]);
    expect(rms((await decodeAudio(both)).samples, 1600, 14400)).toBeCloseTo(0.875 / Math.SQRT2, 2);
  });

  it('refuses what is not audio, naming the field', async () => {
    const fake = join(dir(), 'fake.wav');
    await writeFile(fake, 'RIFF but really just some text, not a wave file at all');
    expect(await rejectedField(decodeAudio(fake))).toBe('audio');
    expect(await rejectedField(decodeAudio(join(dir(), 'missing.wav')))).toBe('audio');
    const empty = join(dir(), 'empty.wav');
    await writeWav(new Float32Array(0), 16000, empty);
    expect(await rejectedField(decodeAudio(empty, { field: 'voice' }))).toBe('voice');
    // A video with no audio stream.
    const silentVideo = join(dir(), 'no-audio.mp4');
    await ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=64x64:rate=23',
      '-frames:v',
      '5',
      silentVideo,
    ]);
    expect(await rejectedField(decodeAudio(silentVideo))).toBe('audio');
  });

  it('stops at maxSeconds', async () => {
    const path = join(dir(), 'long.wav');
    await writeWav(new Float32Array(16000 * 3), 16000, path);
    expect(await rejectedField(decodeAudio(path, { maxSeconds: 1 }))).toBe('audio');
    expect((await decodeAudio(path, { maxSeconds: 3 })).samples).toHaveLength(48000);
    expect(await rejectedField(decodeAudio(path, { sampleRate: 0 }))).toBe('sampleRate');
  });
});
