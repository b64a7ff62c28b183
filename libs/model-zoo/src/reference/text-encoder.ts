import type { TensorSpec } from '@likeness/contracts';
import { GraphBuilder } from '../graph-builder';
import { GraphMath } from '../graph-math';

/**
 * The reference pack's text encoder, shaped like umT5's output but analytic:
 * `input_ids` i64 [1, 128], `attention_mask` i64 [1, 128] → `context` f32 [1, 128, 16].
 *
 * Tokenizer (the pipeline's, for every pack for now): UTF-8 bytes, id = byte + 1, 0 = padding,
 * truncated/padded to 128. Each id looks up a fixed row of sinusoids, id ↦ (sin(id·f_j),
 * cos(id·f_j)) for 8 frequencies f_j = 2^(−j/2), plus 0.25·sin/cos of the position at 8 other
 * frequencies; rows where attention_mask is 0 (and id 0) are zeros. Ids outside 0…256 are
 * clamped. The reference denoiser ignores the context.
 */
export const TEXT_TOKENS = 128;
export const TEXT_DIM = 16;
/** Ids are byte + 1; 0 is padding. */
export const TEXT_VOCAB = 257;

export const TEXT_ENCODER_INPUTS: readonly TensorSpec[] = [
  { name: 'input_ids', dtype: 'int64', shape: [1, TEXT_TOKENS] },
  { name: 'attention_mask', dtype: 'int64', shape: [1, TEXT_TOKENS] },
];
export const TEXT_ENCODER_OUTPUTS: readonly TensorSpec[] = [
  { name: 'context', dtype: 'float32', shape: [1, TEXT_TOKENS, TEXT_DIM] },
];

/** [257, 16] embedding table: row 0 (padding) is zeros. */
export function textEmbeddingTable(): Float32Array {
  const half = TEXT_DIM / 2;
  const table = new Float32Array(TEXT_VOCAB * TEXT_DIM);
  for (let id = 1; id < TEXT_VOCAB; id++) {
    for (let j = 0; j < half; j++) {
      const f = 2 ** (-j / 2);
      table[id * TEXT_DIM + 2 * j] = Math.sin(id * f);
      table[id * TEXT_DIM + 2 * j + 1] = Math.cos(id * f);
    }
  }
  return table;
}

/** [128, 16] position code. */
export function textPositionTable(): Float32Array {
  const half = TEXT_DIM / 2;
  const table = new Float32Array(TEXT_TOKENS * TEXT_DIM);
  for (let pos = 0; pos < TEXT_TOKENS; pos++) {
    for (let j = 0; j < half; j++) {
      const f = 1 / 10_000 ** (j / half);
      table[pos * TEXT_DIM + 2 * j] = 0.25 * Math.sin(pos * f);
      table[pos * TEXT_DIM + 2 * j + 1] = 0.25 * Math.cos(pos * f);
    }
  }
  return table;
}

/** ONNX model `textEncoder`. */
export function buildTextEncoder(): Uint8Array {
  const g = new GraphBuilder('textEncoder', {
    docString: 'reference text encoder: fixed sinusoidal byte embeddings + positions, masked',
  });
  const m = new GraphMath(g);
  const [ids, mask] = TEXT_ENCODER_INPUTS as [TensorSpec, TensorSpec];
  const [output] = TEXT_ENCODER_OUTPUTS as [TensorSpec];
  g.input(ids.name, 'int64', ids.shape);
  g.input(mask.name, 'int64', mask.shape);
  g.output(output.name, 'float', output.shape);

  const clamped = g.op('Min', [
    g.op('Max', [ids.name, g.i64([0], [])]),
    g.i64([TEXT_VOCAB - 1], []),
  ]);
  const embedded = g.op('Gather', [
    g.initializer('byte_embedding', textEmbeddingTable(), [TEXT_VOCAB, TEXT_DIM]),
    clamped,
  ]); // [1, L, D]
  const withPosition = m.add(
    embedded,
    g.initializer('position_code', textPositionTable(), [1, TEXT_TOKENS, TEXT_DIM]),
  );
  // keep rows whose mask is 1 and whose id is not padding
  const real = m.mul(
    m.cast(mask.name, 'float'),
    m.cast(g.op('Greater', [clamped, g.i64([0], [])]), 'float'),
  );
  g.node('Mul', [withPosition, m.unsqueeze(real, [2])], [output.name]);
  return g.toBytes();
}
