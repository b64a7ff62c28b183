import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { detectFaces, loadModelPack, probeMedia } from '../index';
import { faceApiDemoPhotos, makeSpeechWav, portraitCrop } from '../testing';
import { testPackDir } from '../test-pack';
import { BUILD_PACK_COMMAND, newestPack } from './pack-dir';
import { describeProgress, formatEta } from './progress-display';
import { PipelineExitCode, runPipelineCli, type PipelineCliIo } from './render-command';

jest.setTimeout(180_000);

const ROOT = resolve(__dirname, '../../../..');
let dir: string;
let photo: string;
let speech: string;

function io(env: Record<string, string | undefined> = {}): PipelineCliIo & {
  out: string;
  err: string;
} {
  const captured = {
    out: '',
    err: '',
    env,
    cwd: dir,
    stdout(text: string) {
      captured.out += text;
    },
    stderr(text: string) {
      captured.err += text;
    },
    stderrIsTTY: false,
  };
  return captured;
}

async function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const streams = io(env);
  const code = await runPipelineCli(args, streams);
  return { code, out: streams.out, err: streams.err };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'likeness-cli-'));
  // A one-face portrait cut from a demo photo, and 1.2 s of espeak-ng speech.
  const pack = await loadModelPack(testPackDir());
  try {
    const source = faceApiDemoPhotos()[2] as string;
    const found = await detectFaces(pack.stages.faceDetector.session, source);
    photo = join(dir, 'face.jpg');
    await writeFile(photo, await portraitCrop(source, found.faces[0]!.box));
  } finally {
    await pack.release();
  }
  speech = join(dir, 'speech.wav');
  await makeSpeechWav('Hello, this is a test.', speech, { durationSeconds: 1.2 });
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('likeness-pipeline render', () => {
  it('renders an MP4 and a poster, prints seed and timings, and shows progress on stderr', async () => {
    const out = join(dir, 'out.mp4');
    const {
      code,
      out: stdout,
      err,
    } = await cli([
      'render',
      ...['--image', 'face.jpg', '--audio', 'speech.wav', '--out', 'out.mp4'],
      ...['--pack', testPackDir(), '--expression', '0.8', '--body', '0.3', '--seed', '7'],
      ...['--steps', '2', '--max-side', '64'],
    ]);
    expect(err).not.toMatch(/error/);
    expect(code).toBe(PipelineExitCode.Ok);
    expect(stdout).toContain(`video   ${out}`);
    expect(stdout).toContain(`poster  ${join(dir, 'out.jpg')}`);
    expect(stdout).toMatch(/^seed {4}7$/m);
    expect(stdout).toMatch(/timings total [\d.]+ s: pack .* ms\/step/);
    // Without a terminal: one line per change, with phase, clip x/y, step and ETA.
    expect(err).toMatch(/denoising +clip 1\/\d+ {2}step 1\/2 {2}ETA /);
    expect(err).toMatch(/100\.0% {2}encoding/);
    const probed = await probeMedia(out);
    expect(probed.video).toMatchObject({ codec: 'h264', width: 64, height: 64, fps: 23 });
    expect(probed.audio?.codec).toBe('aac');
    expect(Math.abs((probed.durationSeconds ?? 0) - 1.2)).toBeLessThanOrEqual(1 / 23);
    const poster = await sharp(join(dir, 'out.jpg')).metadata();
    expect(poster).toMatchObject({ format: 'jpeg', width: 64, height: 64 });
  });

  it.each([
    [['--expression', '1.5'], /^error: --expression: must be 0\.\.1, got 1\.5$/m],
    [['--body', 'lots'], /^error: --body: must be a number, got "lots"$/m],
    [['--seed', '-1'], /^error: --seed: must be an integer/m],
    [['--steps', '0'], /^error: --steps: must be an integer in 1\.\.1000, got 0$/m],
    [['--max-side', '100'], /^error: --max-side: must be a multiple of 16, got 100$/m],
    [['--provider', 'tpu'], /^error: --provider: must be cpu or cuda/m],
    [['--image', 'missing.jpg'], /^error: --image: .*missing\.jpg does not exist$/m],
    [['--out', 'out.avi'], /^error: --out: must end in \.mp4/m],
    [['--out', 'nowhere/out.mp4'], /^error: --out: folder .*nowhere does not exist$/m],
    [['--poster', 'poster.gif'], /^error: --poster: must end in \.jpg or \.jpeg or \.png/m],
  ])('refuses %j with exit code 2, naming the flag, before any work', async (bad, message) => {
    const flags: Record<string, string> = {
      '--image': 'face.jpg',
      '--audio': 'speech.wav',
      '--out': 'bad.mp4',
      '--pack': testPackDir(),
    };
    for (let i = 0; i < bad.length; i += 2) flags[bad[i]!] = bad[i + 1]!;
    const { code, err } = await cli(['render', ...Object.entries(flags).flat()]);
    expect(code).toBe(PipelineExitCode.Usage);
    expect(err).toMatch(message);
    expect(err).not.toContain('loading model pack');
    expect(existsSync(join(dir, 'bad.mp4'))).toBe(false);
  });

  it('names --image when the photo has no face or is no image, and writes nothing', async () => {
    const grey = join(dir, 'grey.jpg');
    await sharp({ create: { width: 200, height: 200, channels: 3, background: '#808080' } })
      .jpeg()
      .toFile(grey);
    const args = ['--audio', 'speech.wav', '--out', 'none.mp4', '--pack', testPackDir()];
    const noFace = await cli(['render', '--image', 'grey.jpg', ...args, '--max-side', '64']);
    expect(noFace.code).toBe(PipelineExitCode.Usage);
    expect(noFace.err).toMatch(/^error: --image: no face found in the photo \(NO_FACE\)$/m);
    const notImage = await cli(['render', '--image', 'speech.wav', ...args]);
    expect(notImage.code).toBe(PipelineExitCode.Usage);
    expect(notImage.err).toMatch(/^error: --image: is not a readable image/m);
    const notAudio = await cli(['render', '--image', 'face.jpg', ...args, '--audio', 'grey.jpg']);
    expect(notAudio.code).toBe(PipelineExitCode.Usage);
    expect(notAudio.err).toMatch(/^error: --audio: /m);
    const several = await cli([
      'render',
      ...['--image', faceApiDemoPhotos()[0]!, ...args, '--max-side', '64'],
    ]);
    expect(several.code).toBe(PipelineExitCode.Usage);
    expect(several.err).toMatch(/^error: --face-index: 3 faces were found/m);
    expect((await readdir(dir)).filter((f) => f.includes('none'))).toEqual([]);
  });

  it('without --pack takes the newest pack, or prints the command that builds one', async () => {
    const data = join(dir, 'data');
    const empty = await cli(
      ['render', '--image', 'face.jpg', '--audio', 'speech.wav', '--out', 'x.mp4'],
      { LIKENESS_DATA_DIR: data },
    );
    expect(empty.code).toBe(PipelineExitCode.Usage);
    expect(empty.err).toContain(`error: --pack: no model pack under ${join(data, 'models')}`);
    expect(empty.err).toContain(`\n  ${BUILD_PACK_COMMAND}\n`);

    const models = join(data, 'models');
    for (const name of ['old', 'new', '.partial', 'x.building-1', 'empty']) {
      await mkdir(join(models, name), { recursive: true });
      if (name !== 'empty') await writeFile(join(models, name, 'model-pack.json'), '{}');
    }
    const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds));
    await utimes(join(models, 'old', 'model-pack.json'), at(1), at(1));
    await utimes(join(models, 'new', 'model-pack.json'), at(2), at(2));
    await utimes(join(models, '.partial', 'model-pack.json'), at(3), at(3));
    await utimes(join(models, 'x.building-1', 'model-pack.json'), at(3), at(3));
    expect(newestPack(data)).toBe(join(models, 'new'));
    // That pack's manifest is refused by the pipeline: the error names --pack.
    const broken = await cli(
      ['render', '--image', 'face.jpg', '--audio', 'speech.wav', '--out', 'x.mp4'],
      { LIKENESS_DATA_DIR: data },
    );
    expect(broken.code).toBe(PipelineExitCode.Usage);
    expect(broken.err).toMatch(/^error: --pack: /m);
  });

  it('runs as a bin from the repository root (node bin → usage error exit 2)', async () => {
    const run = promisify(execFile);
    const bin = join(ROOT, 'libs/pipeline/bin/likeness-pipeline.cjs');
    const help = await run('node', [bin, 'render', '--help'], { cwd: ROOT });
    expect(help.stdout).toContain('--expression <0..1>');
    await expect(
      run(
        'node',
        [bin, 'render', '--image', 'x.jpg', '--audio', 'y.wav', '--out', 'o.mp4', '--body', '2'],
        {
          cwd: ROOT,
        },
      ),
    ).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--body: must be 0..1, got 2'),
    });
  });
});

describe('progress text', () => {
  it('shows phase, 1-based clip, step and ETA', () => {
    expect(formatEta(null)).toBe('…');
    expect(formatEta(4.4)).toBe('4s');
    expect(formatEta(65)).toBe('1m05s');
    expect(
      describeProgress({
        phase: 'denoising',
        clip: 1,
        clips: 3,
        step: 4,
        steps: 8,
        fraction: 0.5,
        etaSeconds: 12,
      }),
    ).toBe('denoising      clip 2/3  step 4/8  ETA 12s');
  });
});
