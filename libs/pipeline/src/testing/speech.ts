import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTool } from '../media/ffmpeg';
import { MediaToolError } from '../media/media.errors';
import { probeMedia } from '../media/probe';

export interface SpeechWavOptions {
  /** Pad with silence or cut to exactly this long (at the wav's own rate). */
  durationSeconds?: number;
  /** espeak-ng voice (default 'en-us'). */
  voice?: string;
  /** Words per minute (espeak-ng default 175). */
  wordsPerMinute?: number;
}

export interface SpeechWav {
  path: string;
  sampleRate: number;
  /** Sample frames in the file. */
  samples: number;
  durationSeconds: number;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (e) =>
      reject(new MediaToolError(command, `${e.message} (install it: scripts/ensure-deps.sh)`)),
    );
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new MediaToolError(command, `exit ${code}`, stderr)),
    );
  });
}

/**
 * Real synthetic speech for tests: `text` spoken by espeak-ng (22.05 kHz mono 16-bit WAV),
 * optionally padded with silence or cut so the file is exactly `durationSeconds` long.
 */
export async function makeSpeechWav(
  text: string,
  path: string,
  options: SpeechWavOptions = {},
): Promise<SpeechWav> {
  const args = ['-v', options.voice ?? 'en-us'];
  if (options.wordsPerMinute) args.push('-s', String(options.wordsPerMinute));
  if (options.durationSeconds === undefined) {
    await run('espeak-ng', [...args, '-w', path, text]);
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'likeness-speech-'));
    try {
      const raw = join(dir, 'speech.wav');
      await run('espeak-ng', [...args, '-w', raw, text]);
      const { audio } = await probeMedia(raw);
      const rate = audio?.sampleRate ?? 22050;
      const samples = Math.round(options.durationSeconds * rate);
      const ffmpeg = startTool('ffmpeg', [
        ...['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', '-i', raw],
        ...['-af', `apad=whole_len=${samples},atrim=end_sample=${samples}`],
        ...['-c:a', 'pcm_s16le', path],
      ]);
      const exit = await ffmpeg.exited;
      if (exit.code !== 0) {
        throw new MediaToolError('ffmpeg', 'cutting speech failed', exit.stderr.toString());
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const { audio } = await probeMedia(path);
  if (!audio?.durationSeconds) throw new MediaToolError('espeak-ng', `wrote no audio to ${path}`);
  return {
    path,
    sampleRate: audio.sampleRate,
    samples: Math.round(audio.durationSeconds * audio.sampleRate),
    durationSeconds: audio.durationSeconds,
  };
}
