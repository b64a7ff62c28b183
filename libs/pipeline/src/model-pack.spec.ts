import { mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MANIFEST_FILE, stageNames, type ModelPackManifest } from '@likeness/contracts';
import { onnx } from 'onnx-proto';
import {
  DENOISER_INPUTS,
  ModelPackError,
  SessionThread,
  Stage,
  ThreadSession,
  encodeAudio,
  loadModelPack,
  render,
  type ModelPack,
  type PipelineLogger,
} from './index';
import { MemorySink, TEST_FACE, syntheticImage, syntheticSpeech, testPackDir } from './test-pack';

// Real sessions on a 2-core machine shared with other suites: allow for slow runs.
jest.setTimeout(180_000);

/** A copy of the test pack whose manifest `edit` changes (graphs linked, not copied). */
async function packVariant(edit: (manifest: ModelPackManifest) => void): Promise<string> {
  const source = testPackDir();
  const dir = await mkdtemp(join(tmpdir(), 'likeness-pack-'));
  for (const name of await readdir(source)) {
    if (name !== MANIFEST_FILE) await symlink(join(source, name), join(dir, name));
  }
  const manifest = JSON.parse(
    await readFile(join(source, MANIFEST_FILE), 'utf8'),
  ) as ModelPackManifest;
  edit(manifest);
  await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
  return dir;
}

async function loadError(dir: string): Promise<ModelPackError> {
  const error = await loadModelPack(dir).then(
    async (pack) => {
      await pack.release();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelPackError);
  return error as ModelPackError;
}

describe('loadModelPack with the reference pack', () => {
  let pack: ModelPack;
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  const logger: PipelineLogger = {
    info: () => undefined,
    warn: (obj, msg) => warnings.push({ obj, msg }),
  };
  const variants: string[] = [];

  beforeAll(async () => {
    pack = await loadModelPack(testPackDir(), { provider: 'cuda', logger, intraOpThreads: 1 });
  });
  afterAll(async () => {
    await pack?.release();
    await Promise.all(variants.map((d) => rm(d, { recursive: true, force: true })));
  });
  const variant = async (edit: (m: ModelPackManifest) => void): Promise<string> => {
    const dir = await packVariant(edit);
    variants.push(dir);
    return dir;
  };

  it('derives every size from the manifest', () => {
    const m = pack.manifest;
    const denoiserInput = (name: string): (string | number)[] =>
      m.stages.denoiser.inputs.find((i) => i.name === name)?.shape ?? [];
    expect(pack.geometry).toMatchObject({
      fps: m.fps,
      maxFramesPerClip: m.maxFramesPerClip,
      temporalStride: m.temporalStride,
      latentChannels: m.latentChannels,
      hop: m.audio.sampleRate / m.audio.featureRate,
      audioWindow: denoiserInput('audio')[2],
    });
    expect(pack.name).toBe('reference');
  });

  it('falls back from CUDA to the CPU and says why (no CUDA provider here)', () => {
    expect(pack.provider).toBe('cpu');
    expect(pack.providerFallbackReason).toMatch(/cuda/i);
    expect(warnings.some((w) => /CUDA/.test(w.msg) && typeof w.obj['reason'] === 'string')).toBe(
      true,
    );
  });

  it('created one warmed session per stage whose graph matches the manifest', () => {
    const stats = pack.runStats();
    for (const name of stageNames) {
      const stage = pack.stages[name];
      expect([...stage.session.inputNames].sort()).toEqual(
        stage.spec.inputs.map((i) => i.name).sort(),
      );
      expect(stats[name].runs).toBeGreaterThanOrEqual(1); // the warm-up run
    }
    for (const input of pack.manifest.stages.denoiser.inputs) {
      expect(DENOISER_INPUTS as readonly string[]).toContain(input.name);
    }
  });

  it('gives chunked and whole audio encodings the same features', async () => {
    const samples = syntheticSpeech(1.3);
    const whole = await encodeAudio(pack.stages.audioEncoder, samples, { hop: pack.geometry.hop });
    const chunked = await encodeAudio(pack.stages.audioEncoder, samples, {
      hop: pack.geometry.hop,
      chunkTokens: 7,
    });
    expect(whole.tokens).toBe(Math.ceil(samples.length / pack.geometry.hop));
    expect(chunked.tokens).toBe(whole.tokens);
    let maxDiff = 0;
    whole.data.forEach(
      (v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - (chunked.data[k] as number)))),
    );
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('caches prompt contexts by prompt and pack version, and the negative prompt once', async () => {
    const before = pack.text.encodes;
    const a = await pack.text.prompt('A woman is talking.');
    const again = await pack.text.prompt('A woman is talking.');
    const other = await pack.text.prompt('A man is singing.');
    expect(again).toBe(a);
    expect(other.data).not.toEqual(a.data);
    await pack.text.negative('static');
    await pack.text.negative('static');
    expect(pack.text.encodes - before).toBe(3);
  });

  it('refuses a denoiser input it cannot produce, naming it', async () => {
    const error = await loadError(
      await variant((m) => {
        m.stages.denoiser.inputs.push({ name: 'camera_path', dtype: 'float32', shape: ['B', 3] });
      }),
    );
    expect(error).toMatchObject({
      problem: 'unknown-input',
      stage: 'denoiser',
      tensor: 'camera_path',
    });
  });

  it('refuses a manifest that does not match its graphs, naming stage and tensor', async () => {
    const renamed = await loadError(
      await variant((m) => {
        const input = m.stages.faceDetector.inputs[0] as { name: string };
        input.name = 'pixels';
      }),
    );
    expect(renamed).toMatchObject({
      problem: 'graph-mismatch',
      stage: 'faceDetector',
      tensor: 'pixels',
    });

    const dtype = await loadError(
      await variant((m) => {
        const output = m.stages.identityEncoder.outputs[0] as { dtype: string };
        output.dtype = 'float16';
      }),
    );
    expect(dtype).toMatchObject({ problem: 'graph-mismatch', stage: 'identityEncoder' });
    expect(dtype.message).toMatch(/float16/);

    const missing = await loadError(
      await variant((m) => {
        m.stages.vaeDecoder.file = 'no-such-file.onnx';
      }),
    );
    expect(missing).toMatchObject({ problem: 'file', stage: 'vaeDecoder' });

    const invalid = await loadError(
      await variant((m) => {
        (m as { fps: number }).fps = 0;
      }),
    );
    expect(invalid.problem).toBe('manifest');
    expect(invalid.message).toMatch(/\$\.fps/);
  });
});

/** input x f16 [n] → y = 2·x f16 [n], with the arithmetic in float32. */
function doublingFp16Graph(): Uint8Array {
  const f16 = onnx.TensorProto.DataType.FLOAT16;
  const f32 = onnx.TensorProto.DataType.FLOAT;
  const info = (name: string): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: f16, shape: { dim: [{ dimParam: 'n' }] } } },
  });
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'double',
        input: [info('x')],
        output: [info('y')],
        initializer: [{ name: 'two', dataType: f32, dims: [], floatData: [2] }],
        node: [
          {
            opType: 'Cast',
            input: ['x'],
            output: ['x32'],
            attribute: [{ name: 'to', type: 2, i: f32 }],
          },
          { opType: 'Mul', input: ['x32', 'two'], output: ['y32'] },
          {
            opType: 'Cast',
            input: ['y32'],
            output: ['y'],
            attribute: [{ name: 'to', type: 2, i: f16 }],
          },
        ],
      },
    }),
  ).finish();
}

/** y = x + w (f32 [4]) with w stored as ONNX external data in `dataFile` beside the graph. */
function externalDataGraph(dataFile: string): Uint8Array {
  const f32 = onnx.TensorProto.DataType.FLOAT;
  const info = (name: string): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: f32, shape: { dim: [{ dimValue: 4 }] } } },
  });
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'external',
        input: [info('x')],
        output: [info('y')],
        initializer: [
          {
            name: 'w',
            dataType: f32,
            dims: [4],
            dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
            externalData: [
              { key: 'location', value: dataFile },
              { key: 'offset', value: '0' },
              { key: 'length', value: '16' },
            ],
          },
        ],
        node: [{ opType: 'Add', input: ['x', 'w'], output: ['y'] }],
      },
    }),
  ).finish();
}

describe("session options and the session thread's memory", () => {
  const SIDE = 128; // latent 16 × 16: a clip's pinned inputs are > 16 MiB, so the thread collects
  const renderOnce = async (pack: ModelPack): Promise<void> => {
    const g = pack.geometry;
    await render(
      {
        pack,
        image: syntheticImage(SIDE, SIDE, g.imageEncoderWidth),
        audio: {
          sampleRate: g.sampleRate,
          samples: syntheticSpeech((g.maxFramesPerClip - 1) / g.fps, g.sampleRate),
        },
        faceBox: TEST_FACE.faceBox,
        faceKeypoints: TEST_FACE.faceKeypoints,
        identity: Float32Array.from({ length: g.identityDim ?? 1 }, (_, k) => (k === 0 ? 1 : 0)),
        prompt: 'A person is talking.',
        seed: 3,
        steps: 2,
      },
      { sink: new MemorySink() },
    );
  };

  it('creates every session with the arena and memory pattern off unless asked for', async () => {
    const plain = await loadModelPack(testPackDir(), { intraOpThreads: 1, warm: false });
    const asked = await loadModelPack(testPackDir(), {
      cpuMemArena: true,
      memPattern: true,
      warm: false,
    });
    try {
      for (const name of stageNames) {
        // What the session thread handed to InferenceSession.create, echoed back by it.
        expect(plain.stages[name].session.options).toMatchObject({
          enableCpuMemArena: false,
          enableMemPattern: false,
          graphOptimizationLevel: 'all',
          intraOpNumThreads: 1,
        });
        expect(asked.stages[name].session.options).toMatchObject({
          enableCpuMemArena: true,
          enableMemPattern: true,
        });
        expect(asked.stages[name].session.options).not.toHaveProperty('intraOpNumThreads');
      }
    } finally {
      await Promise.all([plain.release(), asked.release()]);
    }
  });

  it('frees what a clip dropped in the session thread before going on', async () => {
    const pack = await loadModelPack(testPackDir());
    try {
      await renderOnce(pack);
      const g = pack.geometry;
      const latentFrames = (g.maxFramesPerClip - 1) / g.temporalStride + 1;
      const side = SIDE / g.spatialStride;
      // One step's batch-of-3 velocity; the clip's pinned condition and latent rows were 2× that.
      const velocityBytes = 3 * g.latentChannels * latentFrames * side * side * 4;
      const stats = await pack.threadGcStats();
      expect(stats.enabled).toBe(true);
      expect(stats.collections).toBeGreaterThanOrEqual(1);
      expect(stats.arrayBuffers).toBeLessThan(velocityBytes);
    } finally {
      await pack.release();
    }
  });

  it('leaves collection to V8 with collectThreadGarbage: false', async () => {
    const pack = await loadModelPack(testPackDir(), { collectThreadGarbage: false });
    try {
      await renderOnce(pack);
      expect(await pack.threadGcStats()).toMatchObject({ enabled: false, collections: 0 });
    } finally {
      await pack.release();
    }
  });
});

describe('graphs with external data', () => {
  it('loads the weights stored beside the graph file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'likeness-external-'));
    const thread = new SessionThread();
    try {
      await writeFile(join(dir, 'add.onnx'), externalDataGraph('add.onnx.data'));
      await writeFile(
        join(dir, 'add.onnx.data'),
        new Uint8Array(Float32Array.from([10, 20, 30, 40]).buffer),
      );
      const session = await ThreadSession.create(thread, 'add', join(dir, 'add.onnx'), {});
      const stage = new Stage(
        'vaeDecoder',
        {
          file: 'add.onnx',
          inputs: [{ name: 'x', dtype: 'float32', shape: [4] }],
          outputs: [{ name: 'y', dtype: 'float32', shape: [4] }],
        },
        session,
      );
      const { y } = await stage.run({ x: { data: Float32Array.from([1, 2, 3, 4]), dims: [4] } });
      expect(Array.from(y?.data ?? [])).toEqual([11, 22, 33, 44]);
    } finally {
      await thread.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('float16 graph boundaries', () => {
  it('converts float32 to float16 into the graph and back out of it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'likeness-fp16-'));
    const thread = new SessionThread();
    try {
      await writeFile(join(dir, 'double.onnx'), doublingFp16Graph());
      const session = await ThreadSession.create(thread, 'double', join(dir, 'double.onnx'), {});
      const stage = new Stage(
        'denoiser',
        {
          file: 'double.onnx',
          inputs: [{ name: 'x', dtype: 'float16', shape: ['n'] }],
          outputs: [{ name: 'y', dtype: 'float16', shape: ['n'] }],
        },
        session,
      );
      const { y } = await stage.run({
        x: { data: Float32Array.from([1, 0.1, -3, 70000]), dims: [4] },
      });
      // 0.1 is 0.0999755859375 in half precision; 70000 overflows half to Infinity
      expect(Array.from(y?.data ?? [])).toEqual([2, 0.199951171875, -6, Number.POSITIVE_INFINITY]);
      expect(y?.data).toBeInstanceOf(Float32Array);
    } finally {
      await thread.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
