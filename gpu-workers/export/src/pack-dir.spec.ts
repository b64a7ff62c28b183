import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, toJsonPath, validateManifest } from '@likeness/contracts';
import type { PackProblem, PackValidation } from '@likeness/contracts';
import { validatePackDir } from './pack-dir';
import { validManifest, writePack } from './testing/pack-fixture';
import type { TempPack } from './testing/pack-fixture';

const packs: TempPack[] = [];
async function packDir(...args: Parameters<typeof writePack>): Promise<string> {
  const pack = await writePack(...args);
  packs.push(pack);
  return pack.dir;
}
afterEach(async () => {
  await Promise.all(packs.splice(0).map((p) => p.remove()));
});

function problemsOf(result: PackValidation): readonly PackProblem[] {
  expect(result.ok).toBe(false);
  return result.problems;
}

describe('validatePackDir', () => {
  it('accepts a valid pack and returns the typed manifest', async () => {
    const result = await validatePackDir(await packDir());
    expect(result.problems).toEqual([]);
    expect(result.ok && result.manifest.stages.denoiser.inputs[0]).toEqual({
      name: 'latent',
      dtype: 'float32',
      shape: ['B', 16, "F'", 'h', 'w'],
    });
  });

  it('reports a missing stage file at its JSON path', async () => {
    const problems = problemsOf(
      await validatePackDir(await packDir(undefined, { skipFiles: ['vae-decoder.onnx'] })),
    );
    expect(problems).toEqual([
      { path: '$.stages.vaeDecoder.file', message: 'file not found: vae-decoder.onnx' },
    ]);
  });

  it('reports a bad dtype at its JSON path', async () => {
    const manifest = validManifest();
    const denoiser = manifest.stages['denoiser'] as { inputs: { dtype: string }[] };
    (denoiser.inputs[1] as { dtype: string }).dtype = 'bfloat16';
    const problems = problemsOf(await validatePackDir(await packDir(manifest)));
    expect(problems).toEqual([
      {
        path: '$.stages.denoiser.inputs[1].dtype',
        message: 'must be one of float32, float16, int64',
      },
    ]);
  });

  it('reports a missing stage', async () => {
    const manifest = validManifest();
    delete manifest.stages['identityEncoder'];
    const problems = problemsOf(await validatePackDir(await packDir(manifest)));
    expect(problems).toEqual([{ path: '$.stages.identityEncoder', message: 'missing stage' }]);
  });

  it('reports a clip length that is not 4n+1', async () => {
    const problems = problemsOf(
      await validatePackDir(await packDir({ ...validManifest(), maxFramesPerClip: 80 })),
    );
    expect(problems).toEqual([
      {
        path: '$.maxFramesPerClip',
        message: 'must be 4n+1 for temporalStride 4 (nearest: 77 or 81), got 80',
      },
    ]);
  });

  it('reports every problem in one run', async () => {
    const manifest = { ...validManifest(), maxFramesPerClip: 82, fps: 0 };
    delete manifest.stages['textEncoder'];
    (manifest.stages['audioEncoder'] as { outputs: { dtype: string }[] }).outputs[0] = {
      dtype: 'float64',
    };
    const problems = problemsOf(
      await validatePackDir(await packDir(manifest, { skipFiles: ['denoiser.onnx'] })),
    );
    expect(problems.map((p) => p.path).sort()).toEqual([
      '$.fps',
      '$.maxFramesPerClip',
      '$.stages.audioEncoder.outputs[0].dtype',
      '$.stages.audioEncoder.outputs[0].name',
      '$.stages.audioEncoder.outputs[0].shape',
      '$.stages.denoiser.file',
      '$.stages.textEncoder',
    ]);
  });

  it('refuses stage files outside the pack folder and unknown stages', async () => {
    const manifest = validManifest();
    (manifest.stages['denoiser'] as { file: string }).file = '../../etc/denoiser.onnx';
    manifest.stages['upscaler'] = { file: 'upscaler.onnx', inputs: [], outputs: [] };
    const problems = problemsOf(await validatePackDir(await packDir(manifest)));
    expect(problems).toEqual([
      { path: '$.stages.denoiser.file', message: 'must be a path inside the pack folder' },
      {
        path: '$.stages.upscaler',
        message: expect.stringMatching(/^unknown field \(stages are audioEncoder, /),
      },
    ]);
  });

  it('reports a stage file that is a directory', async () => {
    const dir = await packDir();
    await rm(join(dir, 'denoiser.onnx'));
    await mkdir(join(dir, 'denoiser.onnx'));
    expect(problemsOf(await validatePackDir(dir))).toEqual([
      { path: '$.stages.denoiser.file', message: 'denoiser.onnx is not a file' },
    ]);
  });

  it('reports a missing or unparsable manifest at the root', async () => {
    const dir = await packDir();
    await writeFile(join(dir, MANIFEST_FILE), '{ "name": ');
    expect(problemsOf(await validatePackDir(dir))).toEqual([
      { path: '$', message: expect.stringMatching(/^model-pack\.json is not valid JSON/) },
    ]);
    await rm(join(dir, MANIFEST_FILE));
    expect(problemsOf(await validatePackDir(dir))).toEqual([
      { path: '$', message: expect.stringMatching(/^cannot read model-pack\.json/) },
    ]);
  });
});

describe('validateManifest rules', () => {
  it('needs a denoiser input for each declared capability', () => {
    const manifest = validManifest();
    const denoiser = manifest.stages['denoiser'] as { inputs: { name: string }[] };
    denoiser.inputs = denoiser.inputs.filter((input) => input.name !== 'motion');
    expect(problemsOf(validateManifest(manifest))).toEqual([
      {
        path: '$.capabilities.motion',
        message: 'is true but the denoiser declares no "motion" input',
      },
    ]);
  });

  it('needs sides that are multiples of 16 and unique tensor names', () => {
    const manifest = validManifest();
    manifest['capabilities'] = { identity: false, motion: false, maxSide: 500 };
    const vae = manifest.stages['vaeDecoder'] as { outputs: unknown[] };
    vae.outputs.push({ name: 'video', dtype: 'float16', shape: [1] });
    expect(problemsOf(validateManifest(manifest))).toEqual([
      { path: '$.stages.vaeDecoder.outputs[1].name', message: 'duplicate tensor "video"' },
      { path: '$.capabilities.maxSide', message: 'must be a multiple of 16, got 500' },
    ]);
  });

  it('accepts another temporal stride with its own n·stride+1 rule', () => {
    expect(
      validateManifest({ ...validManifest(), temporalStride: 1, maxFramesPerClip: 80 }).ok,
    ).toBe(true);
  });
});

describe('toJsonPath', () => {
  it('writes indexes in brackets and quotes odd keys', () => {
    expect(toJsonPath([])).toBe('$');
    expect(toJsonPath(['stages', 'denoiser', 'inputs', 0, 'shape', 2])).toBe(
      '$.stages.denoiser.inputs[0].shape[2]',
    );
    expect(toJsonPath(['stages', 'my stage'])).toBe('$.stages["my stage"]');
  });
});
