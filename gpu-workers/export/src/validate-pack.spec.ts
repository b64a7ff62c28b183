import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { runValidatePack } from './validate-pack';
import { validManifest, writePack } from './testing/pack-fixture';
import type { TempPack } from './testing/pack-fixture';

function capture(): {
  out: string[];
  err: string[];
  io: { out(l: string): void; err(l: string): void };
} {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

describe('validate-pack', () => {
  let pack: TempPack | undefined;
  afterEach(async () => {
    await pack?.remove();
    pack = undefined;
  });

  it('prints a summary and returns 0 for a valid pack', async () => {
    pack = await writePack();
    const c = capture();
    expect(await runValidatePack([pack.dir], c.io)).toBe(0);
    expect(c.out).toEqual([
      'ok: reference@0.1.0: 8 stages, 23 fps, up to 81 frames per clip, max side 512',
    ]);
  });

  it('lists each problem with its path and returns 1', async () => {
    pack = await writePack(
      { ...validManifest(), maxFramesPerClip: 80 },
      { skipFiles: ['denoiser.onnx'] },
    );
    const c = capture();
    expect(await runValidatePack([pack.dir], c.io)).toBe(1);
    expect(c.err).toEqual([
      `${pack.dir}: 2 problems`,
      '  $.maxFramesPerClip: must be 4n+1 for temporalStride 4 (nearest: 77 or 81), got 80',
      '  $.stages.denoiser.file: file not found: denoiser.onnx',
    ]);
  });

  it('returns 2 without a folder argument', async () => {
    const c = capture();
    expect(await runValidatePack([], c.io)).toBe(2);
    expect(c.err[0]).toMatch(/^usage: validate-pack <pack-dir>/);
  });

  it('runs as a command and exits with the result code', async () => {
    pack = await writePack(undefined, { skipFiles: ['vae-encoder.onnx'] });
    const root = join(__dirname, '../../..');
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', join(__dirname, 'validate-pack.ts'), pack.dir],
      {
        cwd: root,
        env: { ...process.env, SWC_NODE_PROJECT: join(__dirname, '../tsconfig.json') },
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toContain('$.stages.vaeEncoder.file: file not found: vae-encoder.onnx');
    expect(code).toBe(1);
  }, 30_000);
});
