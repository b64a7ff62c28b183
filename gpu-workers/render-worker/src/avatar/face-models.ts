import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { faceDetectorModel, identityEncoderModel } from '@likeness/model-zoo';
import {
  IDENTITY_CROP_SIZE,
  SessionThread,
  ThreadSession,
  detectFaces,
  embedFace,
} from '@likeness/pipeline';
import type { ExecutionProvider } from '../config';

/** The two face stages of a pack as .onnx files. */
export interface FaceModelFiles {
  faceDetector: string;
  identityEncoder: string;
}

/**
 * The face stages one worker loaded, warmed, for `avatar.prepare`: BlazeFace and the identity
 * encoder, in a session thread of their own (onnxruntime's `run` blocks the thread it runs on;
 * this keeps the event loop, and BullMQ's lock renewal, free).
 */
export interface FaceModels {
  readonly detector: ThreadSession;
  readonly encoder: ThreadSession;
  /**
   * Names the embedding space (stored with each embedding; only equal names compare): the
   * identity encoder file's sha256, so every pack with the same encoder shares the space.
   */
  readonly embeddingModel: string;
  readonly embeddingDim: number;
  /** What the sessions run on, and why not CUDA when CUDA was asked for. */
  readonly provider: ExecutionProvider;
  readonly providerNote: string | undefined;
  release(): Promise<void>;
}

export interface LoadFaceModelsOptions {
  provider: ExecutionProvider;
  /** Threads per operator (onnxruntime's intra-op pool); default: onnxruntime's choice. */
  intraOpThreads?: number;
}

/**
 * model-zoo's face models, which are the reference pack's `faceDetector` and `identityEncoder`
 * stages (the real BlazeFace front model and dlib's face-recognition ResNet converted from
 * face-api's weights), as files under `<dataDir>/models/face-<hash>/`. Built in memory (about
 * 2 s), written once per content hash; a directory appears complete or not at all.
 */
export async function builtinFaceModelFiles(dataDir: string): Promise<FaceModelFiles> {
  const [detector, encoder] = await Promise.all([faceDetectorModel(), identityEncoderModel()]);
  const hash = createHash('sha256').update(detector.bytes).update(encoder.bytes).digest('hex');
  const dir = path.resolve(dataDir, 'models', `face-${hash.slice(0, 16)}`);
  const files: FaceModelFiles = {
    faceDetector: path.join(dir, 'face-detector.onnx'),
    identityEncoder: path.join(dir, 'identity-encoder.onnx'),
  };
  if (await exists(files.identityEncoder)) return files;
  const temp = `${dir}.partial-${process.pid}-${Date.now()}`;
  await mkdir(temp, { recursive: true });
  try {
    await writeFile(path.join(temp, 'face-detector.onnx'), detector.bytes);
    await writeFile(path.join(temp, 'identity-encoder.onnx'), encoder.bytes);
    await rename(temp, dir);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    // Another worker on the same data directory got there first: its files are the same.
    if (!(await exists(files.identityEncoder))) throw error;
  }
  return files;
}

/**
 * Opens both sessions (CUDA when asked and available, else CPU, with the reason kept) and warms
 * them with one run each, so the first avatar does not pay for it.
 */
export async function loadFaceModels(
  files: FaceModelFiles,
  options: LoadFaceModelsOptions,
): Promise<FaceModels> {
  const thread = new SessionThread();
  let provider: ExecutionProvider = options.provider;
  let providerNote: string | undefined;
  const open = async (key: string, file: string): Promise<ThreadSession> => {
    const sessionOptions = (ep: ExecutionProvider) => ({
      executionProviders: [ep],
      graphOptimizationLevel: 'all' as const,
      // The packaged BlazeFace file carries unused initializers onnxruntime warns about.
      logSeverityLevel: 3 as const,
      ...(options.intraOpThreads !== undefined
        ? { intraOpNumThreads: options.intraOpThreads }
        : {}),
    });
    if (provider === 'cuda') {
      try {
        return await ThreadSession.create(thread, key, file, sessionOptions('cuda'));
      } catch (error) {
        provider = 'cpu';
        providerNote = `CUDA unavailable, running on CPU: ${(error as Error).message}`;
      }
    }
    return ThreadSession.create(thread, key, file, sessionOptions(provider));
  };
  try {
    const detector = await open('faceDetector', files.faceDetector);
    const encoder = await open('identityEncoder', files.identityEncoder);
    // Warm-up: a blank photo through the detector, a mid-grey chip through the encoder.
    const side = 128;
    await detectFaces(detector, {
      width: side,
      height: side,
      data: new Uint8Array(side * side * 3).fill(128),
    });
    const size = IDENTITY_CROP_SIZE;
    const warm = await embedFace(encoder, {
      size,
      rgb: new Uint8Array(size * size * 3).fill(128),
      tensor: new Float32Array(3 * size * size),
    });
    const encoderHash = createHash('sha256')
      .update(await readFile(files.identityEncoder))
      .digest('hex');
    return {
      detector,
      encoder,
      embeddingModel: `identity-encoder:sha256-${encoderHash.slice(0, 16)}`,
      embeddingDim: warm.length,
      provider,
      providerNote,
      async release() {
        await Promise.allSettled([detector.release(), encoder.release()]);
        await thread.close();
      },
    };
  } catch (error) {
    await thread.close();
    throw error;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
