// Shared by this folder's specs only (not exported from index.ts).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../../..');
const ZOO_FACE = join(ROOT, 'libs/model-zoo/src/face');
const ZOO_ASSETS = join(ROOT, 'libs/model-zoo/assets/blazeface');

export interface FaceModelFiles {
  faceDetector: string;
  identityEncoder: string;
}

function stamp(): string {
  const hash = createHash('sha256');
  for (const dir of [ZOO_FACE, ZOO_ASSETS, join(ROOT, 'libs/model-zoo/src')]) {
    for (const name of readdirSync(dir).sort()) {
      const file = join(dir, name);
      if (name.endsWith('.spec.ts') || !/\.(ts|mjs|onnx)$/.test(name)) continue;
      hash.update(relative(ROOT, file)).update(readFileSync(file));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * The real face models (BlazeFace and the converted identity encoder) as .onnx files. libs/pipeline
 * may not import model-zoo, so model-zoo's own command writes them; they are cached under
 * .data/models/ by a hash of the model-zoo sources that make them.
 */
export function faceTestModels(): FaceModelFiles {
  const dir = join(ROOT, '.data/models', `pipeline-test-face-${stamp()}`);
  const files = {
    faceDetector: join(dir, 'face-detector.onnx'),
    identityEncoder: join(dir, 'identity-encoder.onnx'),
  };
  if (existsSync(files.faceDetector) && existsSync(files.identityEncoder)) return files;
  mkdirSync(dirname(dir), { recursive: true });
  const temp = `${dir}.building-${process.pid}-${Date.now()}`;
  execFileSync(
    process.execPath,
    [require.resolve('tsx/cli'), join(ZOO_FACE, 'write-face-models.ts'), temp],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  try {
    renameSync(temp, dir);
  } catch {
    // Another spec file got there first: its copy is the same.
    rmSync(temp, { recursive: true, force: true });
  }
  // Copies for older model-zoo sources are of no use any more.
  for (const name of readdirSync(dirname(dir))) {
    if (name.startsWith('pipeline-test-face-') && !name.startsWith(basename(dir))) {
      rmSync(join(dirname(dir), name), { recursive: true, force: true });
    }
  }
  return files;
}

/** The face photos npm `@vladmandic/face-api` (MIT) ships: demo/sample1.jpg … sample6.jpg. */
export function demoPhoto(n: number): string {
  return join(
    dirname(require.resolve('@vladmandic/face-api/package.json')),
    'demo',
    `sample${n}.jpg`,
  );
}
