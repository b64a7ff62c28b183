import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { PipelineInputError } from '../errors';
import type { AlignedFace } from './align-face';

/**
 * The identity embedding of an aligned face: runs the pack's `identityEncoder` session
 * (`face` [1, 3, h, w] → `embedding` [1, D], L2-normalised by the graph).
 */
export async function embedFace(
  session: InferenceSession,
  face: AlignedFace,
): Promise<Float32Array> {
  if (!session.inputNames.includes('face') || !session.outputNames.includes('embedding')) {
    throw new Error(
      `the identity encoder must map "face" to "embedding"; it has inputs [${session.inputNames}] and outputs [${session.outputNames}]`,
    );
  }
  const { size, tensor } = face;
  if (tensor.length !== 3 * size * size) {
    throw new PipelineInputError(
      'face',
      `expected 3 × ${size} × ${size} values, got ${tensor.length}`,
    );
  }
  const outputs = await session.run({ face: new Tensor('float32', tensor, [1, 3, size, size]) }, [
    'embedding',
  ]);
  const embedding = outputs.embedding;
  if (!embedding || embedding.type !== 'float32' || embedding.dims.length !== 2) {
    throw new Error('the identity encoder returned no [1, D] float32 "embedding"');
  }
  return Float32Array.from(embedding.data as Float32Array);
}

/** cos ∠(a, b) in −1..1; 1 for the same direction. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length === 0) {
    throw new PipelineInputError('b', `lengths differ or are zero: ${a.length} and ${b.length}`);
  }
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (!(na > 0 && nb > 0)) throw new PipelineInputError(na > 0 ? 'b' : 'a', 'is a zero vector');
  return dot / Math.sqrt(na * nb);
}
