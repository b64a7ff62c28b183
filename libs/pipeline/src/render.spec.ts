import { mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, MANIFEST_FILE, type ModelPackManifest } from '@likeness/contracts';
import {
  DirectoryCheckpointStore,
  PipelineInputError,
  RenderCanceled,
  UnsupportedByModelError,
  alignFace,
  detectFaces,
  embedFace,
  prepareImage,
  sourceToPrepared,
  framesForDuration,
  loadModelPack,
  planRender,
  render,
  type ModelPack,
  type RenderImage,
  type RenderProgress,
  type RenderRequest,
} from './index';
import { faceApiDemoPhotos } from './testing';
import { MemorySink, TEST_FACE, syntheticImage, syntheticSpeech, testPackDir } from './test-pack';

// Real sessions on a 2-core machine shared with other suites: allow for slow runs.
jest.setTimeout(180_000);

const SIZE = 32;
const STEPS = 3;

let pack: ModelPack;
let seconds3Clips: number;
const temp: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'likeness-render-'));
  temp.push(dir);
  return dir;
}

/** Audio long enough for exactly `clips` clips with this pack. */
function secondsFor(clips: number): number {
  const g = pack.geometry;
  let frames = g.maxFramesPerClip;
  while (
    planRender(frames, { maxFramesPerClip: g.maxFramesPerClip, temporalStride: g.temporalStride })
      .length < clips
  ) {
    frames += g.temporalStride;
  }
  return frames / g.fps;
}

// Test inputs are built once: loops run slowly in Jest's sandbox.
let picture: RenderImage | undefined;
const audios = new Map<number, Float32Array>();

function image(): RenderImage {
  picture ??= syntheticImage(SIZE, SIZE, pack.geometry.imageEncoderWidth);
  return picture;
}

function speech(seconds: number): Float32Array {
  let found = audios.get(seconds);
  if (!found) {
    found = syntheticSpeech(seconds, pack.geometry.sampleRate);
    audios.set(seconds, found);
  }
  return found;
}

function request(overrides: Partial<RenderRequest> = {}, seconds = 0.5): RenderRequest {
  return {
    pack,
    image: image(),
    audio: { sampleRate: pack.geometry.sampleRate, samples: speech(seconds) },
    faceBox: TEST_FACE.faceBox,
    faceKeypoints: TEST_FACE.faceKeypoints,
    identity: unit(pack.geometry.identityDim ?? 1),
    prompt: 'A person is talking.',
    seed: 1234,
    steps: STEPS,
    expression: 1,
    body: 0.5,
    ...overrides,
  };
}

function unit(n: number): Float32Array {
  const v = new Float32Array(n);
  v[0] = 1;
  return v;
}

async function renderBytes(req: RenderRequest): Promise<Uint8Array> {
  const sink = new MemorySink();
  await render(req, { sink });
  return sink.bytes;
}

beforeAll(async () => {
  pack = await loadModelPack(testPackDir());
  seconds3Clips = secondsFor(3);
});
afterAll(async () => {
  await pack?.release();
  await Promise.all(temp.map((d) => rm(d, { recursive: true, force: true })));
});

describe('render', () => {
  it('writes every frame of the audio, whole frames in order, and reports the seed', async () => {
    const sink = new MemorySink();
    const seconds = seconds3Clips;
    const result = await render(request({}, seconds), { sink });
    const expected = framesForDuration(Math.round(seconds * 16000) / 16000, pack.geometry.fps);
    expect(result.frames).toBe(expected);
    expect(sink.bytes.byteLength).toBe(expected * SIZE * SIZE * 3);
    expect(result).toMatchObject({
      clips: 3,
      resumedClips: 0,
      seed: 1234,
      width: SIZE,
      height: SIZE,
    });
    expect(sink.writes).toHaveLength(3);
    // frame 0 is the reference image (a known frame): close to the input picture
    const { pixels } = image();
    const bytes = sink.bytes;
    let diff = 0;
    for (let p = 0; p < SIZE * SIZE; p++) {
      for (let c = 0; c < 3; c++) {
        const want = ((pixels[c * SIZE * SIZE + p] as number) + 1) * 127.5;
        diff += Math.abs((bytes[3 * p + c] as number) - Math.min(255, Math.max(0, want)));
      }
    }
    expect(diff / (SIZE * SIZE * 3)).toBeLessThan(4);
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    const a = await renderBytes(request({ seed: 7 }));
    const b = await renderBytes(request({ seed: 7 }));
    const c = await renderBytes(request({ seed: 8 }));
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(a, c)).not.toBe(0);
  });

  it('gives identical frames whether the guided Euler update runs in the session thread or here', async () => {
    const req = request({ seed: 5 }, secondsFor(2));
    const threaded = new MemorySink();
    const local = new MemorySink();
    await render(req, { sink: threaded });
    const updatesBefore = pack.runStats().denoiser.updateMs;
    await render(req, { sink: local, guidanceInThread: false });
    expect(pack.runStats().denoiser.updateMs).toBe(updatesBefore); // the second run did none there
    expect(Buffer.compare(threaded.bytes, local.bytes)).toBe(0);
  });

  it('reports progress per step, monotone, ending at 1', async () => {
    const events: RenderProgress[] = [];
    await render(request({}, seconds3Clips), {
      sink: new MemorySink(),
      onProgress: (p) => events.push(p),
    });
    const fractions = events.map((e) => e.fraction);
    fractions.forEach(
      (f, k) => k > 0 && expect(f).toBeGreaterThanOrEqual(fractions[k - 1] as number),
    );
    expect(fractions[fractions.length - 1]).toBe(1);
    const steps = events.filter((e) => e.phase === 'denoising');
    expect(steps.map((e) => [e.clip, e.step])).toEqual(
      [0, 1, 2].flatMap((clip) => [1, 2, 3].map((step) => [clip, step])),
    );
    expect(
      steps.every((e) => e.clips === 3 && e.steps === STEPS && typeof e.etaSeconds === 'number'),
    ).toBe(true);
    expect(events.map((e) => e.phase)).toEqual(
      expect.arrayContaining(['preparing', 'encoding-audio', 'decoding', 'encoding']),
    );
  });

  it('resumes after a crash from the checkpoints with byte-identical output', async () => {
    const req = request({ seed: 99 }, seconds3Clips);
    const reference = await renderBytes(req);

    const dir = await tempDir();
    const store = new DirectoryCheckpointStore(dir);
    // The sink dies when clip 1 (the second clip) is written: clips 0 and 1 are checkpointed.
    await expect(render(req, { sink: new MemorySink(2), checkpoints: store })).rejects.toThrow(
      'sink crashed',
    );
    expect((await readdir(dir)).sort()).toEqual([
      'clip-00000.frames',
      'clip-00000.json',
      'clip-00001.frames',
      'clip-00001.json',
      'clip-00001.state',
    ]);

    const runsBefore = pack.runStats().denoiser.runs;
    const sink = new MemorySink();
    const resumed = await render(req, { sink, checkpoints: store });
    expect(resumed.resumedClips).toBe(2);
    expect(pack.runStats().denoiser.runs - runsBefore).toBe(STEPS); // only clip 2 was denoised
    expect(Buffer.compare(sink.bytes, reference)).toBe(0);

    // Another request in the same store starts from scratch and replaces the old checkpoints.
    const other = await render(request({ seed: 100 }, seconds3Clips), {
      sink: new MemorySink(),
      checkpoints: store,
    });
    expect(other.resumedClips).toBe(0);
    const record = JSON.parse(await readFile(join(dir, 'clip-00000.json'), 'utf8')) as {
      requestHash: string;
    };
    expect(record.requestHash).toBe(other.requestHash);
  });

  it('cancels between steps with RenderCanceled and leaves no half-written checkpoint', async () => {
    const dir = await tempDir();
    const controller = new AbortController();
    const runsBefore = pack.runStats().denoiser.runs;
    const error = await render(request({}, seconds3Clips), {
      sink: new MemorySink(),
      checkpoints: new DirectoryCheckpointStore(dir),
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === 'denoising' && p.clip === 1 && p.step === 2) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RenderCanceled);
    expect(error).toMatchObject({ clip: 1, step: 2 });
    // clip 0 (3 steps) and two steps of clip 1 ran, nothing after the abort
    expect(pack.runStats().denoiser.runs - runsBefore).toBe(STEPS + 2);
    // clip 0 is complete on disk; nothing of clip 1
    expect((await readdir(dir)).sort()).toEqual([
      'clip-00000.frames',
      'clip-00000.json',
      'clip-00000.state',
    ]);

    const early = new AbortController();
    early.abort();
    await expect(
      render(request(), { sink: new MemorySink(), signal: early.signal }),
    ).rejects.toBeInstanceOf(RenderCanceled);
  });
});

describe('render with the face and media helpers', () => {
  it('detects and embeds the face with the pack sessions, then renders the prepared photo', async () => {
    const photo = faceApiDemoPhotos()[0] as string;
    const detection = await detectFaces(pack.stages.faceDetector.session, photo);
    const face = detection.faces[0];
    expect(face).toBeDefined();
    if (!face) return;
    const identity = await embedFace(
      pack.stages.identityEncoder.session,
      await alignFace(photo, face),
    );
    expect(identity).toHaveLength(pack.geometry.identityDim as number);
    expect(Math.hypot(...identity)).toBeCloseTo(1, 3);

    const prepared = await prepareImage(photo, {
      maxSide: 64,
      encoderSize: pack.geometry.imageEncoderWidth,
    });
    const toPrepared = (p: { x: number; y: number }): [number, number] => {
      const [x, y] = sourceToPrepared(prepared, p.x, p.y);
      return [Math.min(1, Math.max(0, x)), Math.min(1, Math.max(0, y))];
    };
    const [x0, y0] = toPrepared({ x: face.normalized.box.x0, y: face.normalized.box.y0 });
    const [x1, y1] = toPrepared({ x: face.normalized.box.x1, y: face.normalized.box.y1 });
    const sink = new MemorySink();
    const result = await render(
      {
        ...request(),
        image: prepared,
        faceBox: { x0, y0, x1, y1 },
        faceKeypoints: face.normalized.keypoints.map((p) => {
          const [x, y] = toPrepared(p);
          return { x, y };
        }),
        identity,
      },
      { sink },
    );
    expect(sink.bytes.byteLength).toBe(result.frames * prepared.width * prepared.height * 3);
  });
});

describe('render request checks', () => {
  const fieldOf = async (
    overrides: Partial<RenderRequest>,
  ): Promise<[string, string] | undefined> => {
    const error = await render(request(overrides), { sink: new MemorySink() }).catch(
      (e: unknown) => e,
    );
    return error instanceof PipelineInputError ? [error.field, error.code] : undefined;
  };
  const bad = ErrorCode.BAD_USER_INPUT;

  it('names the field of every bad number', async () => {
    const base = image();
    const cases: [Partial<RenderRequest>, string][] = [
      [{ steps: 0 }, 'steps'],
      [{ steps: 2.5 }, 'steps'],
      [{ shift: -1 }, 'shift'],
      [{ promptCfg: Number.NaN }, 'promptCfg'],
      [{ audioCfg: -0.5 }, 'audioCfg'],
      [{ audioScale: Number.POSITIVE_INFINITY }, 'audioScale'],
      [{ seed: 1.5 }, 'seed'],
      [{ seed: -1 }, 'seed'],
      [{ expression: 1.5 }, 'expression'],
      [{ body: -0.1 }, 'body'],
      [{ maxSide: pack.manifest.capabilities.maxSide + 16 }, 'maxSide'],
      [{ maxSide: 40 }, 'maxSide'],
      [{ maxSide: 16 }, 'image'],
      [{ image: { ...base, width: 24 } }, 'image.width'],
      [{ image: { ...base, pixels: new Float32Array(5) } }, 'image.pixels'],
      [{ image: { ...base, encoderPixels: new Float32Array(5) } }, 'image.encoderPixels'],
      [{ audio: { sampleRate: 8000, samples: new Float32Array(800) } }, 'audio.sampleRate'],
      [{ audio: { sampleRate: 16000, samples: new Float32Array(0) } }, 'audio.samples'],
      [
        { audio: { sampleRate: 16000, samples: Float32Array.from([0, Number.NaN]) } },
        'audio.samples',
      ],
      [{ faceBox: [0.6, 0.2, 0.4, 0.8] }, 'faceBox'],
      [{ faceBox: [0.1, 0.2, 1.4, 0.8] }, 'faceBox[2]'],
      [{ faceBox: null }, 'faceBox'],
      [{ faceKeypoints: TEST_FACE.faceKeypoints.slice(0, 5) }, 'faceKeypoints'],
      [{ identity: new Float32Array((pack.geometry.identityDim ?? 1) + 1) }, 'identity'],
      [{ identity: null }, 'identity'],
      [{ overlapLatents: -1 }, 'overlapLatents'],
    ];
    const found: [string, string | undefined][] = [];
    for (const [overrides, field] of cases) found.push([field, (await fieldOf(overrides))?.[0]]);
    expect(found).toEqual(cases.map(([, field]) => [field, field]));
    expect(await fieldOf({ steps: 0 })).toEqual(['steps', bad]);
  });

  it('refuses controls the pack cannot honour with UNSUPPORTED_BY_MODEL, naming the field', async () => {
    // The same graphs with the capabilities switched off in the manifest.
    const dir = await tempDir();
    const source = testPackDir();
    for (const name of await readdir(source)) {
      if (name !== MANIFEST_FILE) await symlink(join(source, name), join(dir, name));
    }
    const manifest = JSON.parse(
      await readFile(join(source, MANIFEST_FILE), 'utf8'),
    ) as ModelPackManifest;
    manifest.capabilities = { ...manifest.capabilities, motion: false, identity: false };
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
    const limited = await loadModelPack(dir);
    try {
      const attempt = async (overrides: Partial<RenderRequest>): Promise<unknown> =>
        render(
          {
            ...request({ identity: null, expression: null, body: null }),
            pack: limited,
            ...overrides,
          },
          {
            sink: new MemorySink(),
          },
        ).catch((e: unknown) => e);
      for (const [overrides, field] of [
        [{ expression: 0.5 }, 'expression'],
        [{ body: 0 }, 'body'],
        [{ identity: unit(limited.geometry.identityDim ?? 1) }, 'identity'],
      ] as const) {
        const error = await attempt(overrides);
        expect(error).toBeInstanceOf(UnsupportedByModelError);
        expect(error).toMatchObject({ field, code: ErrorCode.UNSUPPORTED_BY_MODEL });
      }
      // Without those controls the limited pack renders.
      const sink = new MemorySink();
      await render(
        { ...request({ identity: null, expression: null, body: null }), pack: limited },
        { sink },
      );
      expect(sink.bytes.byteLength).toBeGreaterThan(0);
    } finally {
      await limited.release();
    }
  });
});
