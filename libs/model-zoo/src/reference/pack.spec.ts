import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { MANIFEST_FILE, type TensorSpec, stageNames, validateManifest } from '@likeness/contracts';
import { onnx } from 'onnx-proto';
import { InferenceSession } from 'onnxruntime-node';
import { GraphBuilder, attr } from '../graph-builder';
import { runBuildPack } from '../build-pack';
import {
  type FaceStageSources,
  REFERENCE_MAX_FRAMES_PER_CLIP,
  REFERENCE_STAGE_FILES,
  ReferencePackError,
  buildReferencePack,
  ensureReferencePack,
  referencePackContents,
} from './pack';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '../../../..');

/** Small stand-ins for the face models (the real ones take seconds to build). */
const standInFaces: FaceStageSources = {
  faceDetector: async () => {
    const g = new GraphBuilder('faceDetector');
    g.input('input:0', 'float', [1, 128, 128, 3]);
    g.output('scores', 'float', [1, 1, 1, 1]);
    g.node('ReduceMean', ['input:0'], ['scores'], { axes: attr.ints([1, 2, 3]) });
    return {
      bytes: g.toBytes(),
      inputs: [{ name: 'input:0', dtype: 'float32', shape: [1, 128, 128, 3] }],
      outputs: [{ name: 'scores', dtype: 'float32', shape: [1, 1, 1, 1] }],
      source: 'stand-in detector',
    };
  },
  identityEncoder: async () => {
    const g = new GraphBuilder('identityEncoder');
    g.input('face', 'float', [1, 3, 8, 8]);
    g.output('embedding', 'float', [1, 32]);
    const flat = g.op('Flatten', ['face'], { axis: attr.int(1) });
    const w = g.f32(
      Float32Array.from({ length: 192 * 32 }, (_, k) => Math.sin(k)),
      [192, 32],
    );
    g.node('LpNormalization', [g.op('MatMul', [flat, w])], ['embedding'], { p: attr.int(2) });
    return {
      bytes: g.toBytes(),
      inputs: [{ name: 'face', dtype: 'float32', shape: [1, 3, 8, 8] }],
      outputs: [{ name: 'embedding', dtype: 'float32', shape: [1, 32] }],
      source: 'stand-in encoder',
    };
  },
};

const options = { faceStages: standInFaces };

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'likeness-pack-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A graph's declared inputs/outputs in manifest form. */
function graphSpecs(bytes: Uint8Array): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  const graph = onnx.ModelProto.decode(bytes).graph as onnx.GraphProto;
  const initializers = new Set(graph.initializer.map((i) => i.name));
  const spec = (v: onnx.IValueInfoProto): TensorSpec => ({
    name: v.name as string,
    dtype: v.type?.tensorType?.elemType === onnx.TensorProto.DataType.INT64 ? 'int64' : 'float32',
    shape: (v.type?.tensorType?.shape?.dim ?? []).map((d) => d.dimParam || Number(d.dimValue)),
  });
  return {
    inputs: graph.input.filter((i) => !initializers.has(i.name as string)).map(spec),
    outputs: graph.output.map(spec),
  };
}

describe('reference pack contents', () => {
  it('has a valid manifest whose stages match their graphs', async () => {
    const { manifest, files, contentHash } = await referencePackContents(options);
    expect(
      validateManifest(JSON.parse(new TextDecoder().decode(files.get(MANIFEST_FILE)))),
    ).toMatchObject({
      ok: true,
    });
    expect(manifest).toMatchObject({
      name: 'reference',
      fps: 23,
      maxFramesPerClip: REFERENCE_MAX_FRAMES_PER_CLIP,
      spatialStride: 8,
      temporalStride: 4,
      latentChannels: 768,
      audio: { sampleRate: 16000, featureRate: 50 },
      capabilities: { identity: true, motion: true, maxSide: 512 },
    });
    expect((REFERENCE_MAX_FRAMES_PER_CLIP - 1) % 4).toBe(0);
    expect(manifest.version).toBe(`1.0.0+${contentHash.slice(0, 12)}`);
    for (const stage of stageNames) {
      const entry = manifest.stages[stage];
      expect(entry.file).toBe(REFERENCE_STAGE_FILES[stage]);
      const bytes = files.get(entry.file) as Uint8Array;
      expect(graphSpecs(bytes)).toEqual({ inputs: entry.inputs, outputs: entry.outputs });
      // every graph loads in onnxruntime
      const session = await InferenceSession.create(bytes);
      expect([...session.inputNames].sort()).toEqual(entry.inputs.map((i) => i.name).sort());
      await session.release();
    }
    // the denoiser takes the identity encoder's embedding size
    const identity = manifest.stages.denoiser.inputs.find((i) => i.name === 'identity');
    expect(identity?.shape).toEqual(['batch', 32]);
    expect(manifest.description).toContain('stand-in encoder');
  });

  it('refuses an identity encoder without a fixed embedding size', async () => {
    await expect(
      referencePackContents({
        faceStages: {
          ...standInFaces,
          identityEncoder: async () => ({
            ...(await standInFaces.identityEncoder()),
            outputs: [{ name: 'embedding', dtype: 'float32', shape: [1, 'D'] }],
          }),
        },
      }),
    ).rejects.toThrow(ReferencePackError);
  });
});

describe('buildReferencePack', () => {
  it('writes the same bytes every time', async () => {
    const [a, b] = [join(scratch, 'a'), join(scratch, 'b')];
    await buildReferencePack(a, options);
    const written = await buildReferencePack(b, options);
    expect(written.dir).toBe(resolve(b));
    const names = (await readdir(a)).sort();
    expect(names).toEqual([MANIFEST_FILE, ...Object.values(REFERENCE_STAGE_FILES)].sort());
    expect((await readdir(b)).sort()).toEqual(names);
    for (const name of names) {
      expect((await readFile(join(a, name))).equals(await readFile(join(b, name)))).toBe(true);
    }
  });
});

describe('ensureReferencePack', () => {
  it('builds once under models/reference-<hash>/ and reuses it', async () => {
    const dataDir = join(scratch, 'data-once');
    const first = await ensureReferencePack(dataDir, options);
    const { contentHash } = await referencePackContents(options);
    expect(first.built).toBe(true);
    expect(first.dir).toBe(
      join(resolve(dataDir), 'models', `reference-${contentHash.slice(0, 16)}`),
    );
    const again = await ensureReferencePack(dataDir, options);
    expect(again).toMatchObject({ dir: first.dir, built: false });
    // no temporary folders left behind
    expect(await readdir(join(dataDir, 'models'))).toEqual([
      `reference-${contentHash.slice(0, 16)}`,
    ]);
  });

  it('is safe for concurrent callers and ignores a crashed build’s leftovers', async () => {
    const dataDir = join(scratch, 'data-race');
    // what a build killed half-way leaves: a partial folder under another name
    await mkdir(join(dataDir, 'models', '.reference-partial-1-dead'), { recursive: true });
    await writeFile(join(dataDir, 'models', '.reference-partial-1-dead', 'denoiser.onnx'), 'half');
    const results = await Promise.all([1, 2, 3].map(() => ensureReferencePack(dataDir, options)));
    expect(new Set(results.map((r) => r.dir)).size).toBe(1);
    expect(results.filter((r) => r.built)).toHaveLength(1);
    const manifest = JSON.parse(
      await readFile(join(results[0]?.dir as string, MANIFEST_FILE), 'utf8'),
    );
    expect(validateManifest(manifest).ok).toBe(true);
  });

  it('does not adopt a folder that holds something else', async () => {
    const dataDir = join(scratch, 'data-foreign');
    const { contentHash } = await referencePackContents(options);
    const dir = join(dataDir, 'models', `reference-${contentHash.slice(0, 16)}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'notes.txt'), 'not a pack');
    await expect(ensureReferencePack(dataDir, options)).rejects.toThrow(/dataDir/);
    await expect(ensureReferencePack('  ', options)).rejects.toThrow(ReferencePackError);
  });
});

describe('build-pack command', () => {
  it('rejects bad arguments with exit code 2', async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };
    expect(await runBuildPack(['--bogus'], io)).toBe(2);
    expect(await runBuildPack(['--out'], io)).toBe(2);
    expect(await runBuildPack(['--out', 'a', '--data-dir', 'b'], io)).toBe(2);
    expect(lines.join('\n')).toMatch(/usage: build-pack/);
  });

  it('builds the real pack from two processes at once and prints the folder', async () => {
    const dataDir = join(scratch, 'cli-data');
    const env = { ...process.env, SWC_NODE_PROJECT: 'libs/model-zoo/tsconfig.json' };
    const args = [
      '-r',
      '@swc-node/register',
      'libs/model-zoo/src/build-pack.ts',
      '--data-dir',
      dataDir,
    ];
    const [a, b] = await Promise.all([
      run(process.execPath, args, { cwd: ROOT, env }),
      run(process.execPath, args, { cwd: ROOT, env }),
    ]);
    const dirOf = (stdout: string): string => stdout.trim().split('\n').pop() as string;
    expect(dirOf(a.stdout)).toBe(dirOf(b.stdout));
    const dir = dirOf(a.stdout);
    expect(dir).toMatch(/models\/reference-[0-9a-f]{16}$/);
    expect(`${a.stderr}${b.stderr}`).toMatch(/built reference@/);
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8'));
    const checked = validateManifest(manifest);
    expect(checked.ok).toBe(true);
    // the real face stages: BlazeFace's own tensor names, a 128-d identity embedding
    expect(manifest.stages.faceDetector.inputs).toEqual([
      { name: 'input:0', dtype: 'float32', shape: [1, 128, 128, 3] },
    ]);
    expect(
      manifest.stages.denoiser.inputs.find((i: TensorSpec) => i.name === 'identity').shape,
    ).toEqual(['batch', 128]);
    // --out writes the same pack into a given folder
    const out = join(scratch, 'cli-out');
    const c = await run(
      process.execPath,
      ['-r', '@swc-node/register', 'libs/model-zoo/src/build-pack.ts', '--out', out],
      {
        cwd: ROOT,
        env,
      },
    );
    expect(dirOf(c.stdout)).toBe(out);
    // deterministic with the real face stages too: every file is byte-identical
    for (const name of await readdir(dir)) {
      expect((await readFile(join(out, name))).equals(await readFile(join(dir, name)))).toBe(true);
    }
  }, 120_000);
});
