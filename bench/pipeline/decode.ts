// decodeAudio and readVideoFrames speed (no targets yet: printed for the record).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { decodeAudio, Mp4Encoder, readVideoFrames } from '@likeness/pipeline';
import { smoothImage } from '@likeness/pipeline/testing';
import { envInt, median, type BenchSection } from './section';

const AUDIO_SECONDS = envInt('BENCH_DECODE_AUDIO_SECONDS', 60);
const VIDEO_FRAMES = envInt('BENCH_DECODE_VIDEO_FRAMES', 230);
const REPEATS = envInt('BENCH_DECODE_REPEATS', 3);

async function ffmpeg(args: string[]): Promise<void> {
  const child = spawn('ffmpeg', ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`ffmpeg exited with ${code}`);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const runs: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const started = performance.now();
    await fn();
    runs.push(performance.now() - started);
  }
  return median(runs);
}

export const decodeSection: BenchSection = {
  name: 'decode',
  title: `decodeAudio (${AUDIO_SECONDS} s, to 16 kHz mono) and readVideoFrames (${VIDEO_FRAMES} frames 512×512)`,
  async run({ workDir }) {
    const lines: string[] = [];
    // A 220 Hz tone, 44.1 kHz stereo: a typical upload's format (decode cost hardly depends on content).
    const source = [
      '-f',
      'lavfi',
      '-i',
      `sine=frequency=220:sample_rate=44100:duration=${AUDIO_SECONDS}`,
    ];
    const inputs = [
      { name: 'WAV 44.1 kHz stereo', file: 'a.wav', codec: ['-c:a', 'pcm_s16le'] },
      { name: 'AAC 44.1 kHz stereo (m4a)', file: 'a.m4a', codec: ['-c:a', 'aac', '-b:a', '128k'] },
      { name: 'MP3 44.1 kHz stereo', file: 'a.mp3', codec: ['-c:a', 'libmp3lame', '-b:a', '128k'] },
    ];
    for (const input of inputs) {
      const path = join(workDir, input.file);
      await ffmpeg([...source, '-ac', '2', ...input.codec, path]);
      let samples = 0;
      const ms = await timed(async () => (samples = (await decodeAudio(path)).samples.length));
      lines.push(
        `decodeAudio ${input.name}: ${ms.toFixed(0)} ms for ${AUDIO_SECONDS} s (${(AUDIO_SECONDS / (ms / 1000)).toFixed(0)}× real time), ${samples} samples`,
      );
    }

    const video = join(workDir, 'v.mp4');
    const encoder = new Mp4Encoder({ path: video, width: 512, height: 512, preset: 'veryfast' });
    for (let i = 0; i < VIDEO_FRAMES; i++)
      await encoder.writeFrame(smoothImage(512, 512, (i % 46) / 46));
    await encoder.finish();
    let frames = 0;
    const ms = await timed(async () => {
      frames = 0;
      for await (const frame of readVideoFrames(video)) frames += frame.index >= 0 ? 1 : 0;
    });
    lines.push(
      `readVideoFrames: ${ms.toFixed(0)} ms for ${frames} frames (${((frames * 1000) / ms).toFixed(0)} fps)`,
    );
    return { lines, targetsMet: true };
  },
};
