import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { faceDetectorModel } from './face-detector';
import { identityEncoderModel } from './identity-encoder';

export interface FaceModelFiles {
  faceDetector: string;
  identityEncoder: string;
}

/** Writes the face detector and identity encoder as .onnx files into `dir`. */
export async function writeFaceModels(dir: string): Promise<FaceModelFiles> {
  await mkdir(dir, { recursive: true });
  const files = {
    faceDetector: join(dir, 'face-detector.onnx'),
    identityEncoder: join(dir, 'identity-encoder.onnx'),
  };
  await writeFile(files.faceDetector, (await faceDetectorModel()).bytes);
  await writeFile(files.identityEncoder, (await identityEncoderModel()).bytes);
  return files;
}

// `tsx libs/model-zoo/src/face/write-face-models.ts <dir>` prints the files as JSON. Projects
// that may not import model-zoo (libs/pipeline's face tests) get the real models this way.
if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: write-face-models.ts <dir>\n');
    process.exit(2);
  }
  writeFaceModels(resolve(dir)).then(
    (files) => process.stdout.write(`${JSON.stringify(files)}\n`),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
