import type { TensorSpec } from '@likeness/contracts';
import { GraphBuilder, attr } from '../graph-builder';
import { GraphMath } from '../graph-math';

/**
 * The reference pack's image encoder, shaped like CLIP ViT-H/14's token output but analytic:
 * `image` f32 [1, 3, 224, 224] (−1..1) → `tokens` f32 [1, 257, 16].
 *
 * Tokens 1…256 are the 16×16 patches of 14×14 pixels (row-major), each described by one strided
 * Conv with fixed filters: channels 0–2 the patch's mean R, G, B; 3–14 the mean R, G, B of its
 * four 7×7 quadrants (top-left, top-right, bottom-left, bottom-right); 15 the mean luma of the
 * central 6×6 pixels minus the patch's mean luma (a centre–surround contrast). Token 0 (the
 * "class" token) is the mean of the patch tokens. The reference denoiser ignores these tokens;
 * they are here so the pipeline runs the stage and feeds its output as it will for CLIP.
 */
export const IMAGE_SIZE = 224;
export const IMAGE_PATCH = 14;
export const IMAGE_TOKEN_DIM = 16;
const GRID = IMAGE_SIZE / IMAGE_PATCH;
/** 1 class token + 16 × 16 patches. */
export const IMAGE_TOKENS = 1 + GRID * GRID;

export const IMAGE_ENCODER_INPUTS: readonly TensorSpec[] = [
  { name: 'image', dtype: 'float32', shape: [1, 3, IMAGE_SIZE, IMAGE_SIZE] },
];
export const IMAGE_ENCODER_OUTPUTS: readonly TensorSpec[] = [
  { name: 'tokens', dtype: 'float32', shape: [1, IMAGE_TOKENS, IMAGE_TOKEN_DIM] },
];

const LUMA = [0.299, 0.587, 0.114] as const;

/** Conv filters [16, 3, 14, 14] of the patch descriptor above. */
export function patchFilters(): Float32Array {
  const p = IMAGE_PATCH;
  const half = p / 2;
  const f = new Float32Array(IMAGE_TOKEN_DIM * 3 * p * p);
  const at = (out: number, rgb: number, y: number, x: number): number =>
    ((out * 3 + rgb) * p + y) * p + x;
  for (let y = 0; y < p; y++) {
    for (let x = 0; x < p; x++) {
      const quadrant = (y < half ? 0 : 2) + (x < half ? 0 : 1);
      const centre = Math.abs(y - (p - 1) / 2) < 3 && Math.abs(x - (p - 1) / 2) < 3;
      for (let rgb = 0; rgb < 3; rgb++) {
        f[at(rgb, rgb, y, x)] = 1 / (p * p);
        f[at(3 + quadrant * 3 + rgb, rgb, y, x)] = 1 / (half * half);
        const luma = LUMA[rgb] as number;
        f[at(15, rgb, y, x)] = (centre ? luma / 36 : 0) - luma / (p * p);
      }
    }
  }
  return f;
}

/** ONNX model `imageEncoder`: `image` [1, 3, 224, 224] → `tokens` [1, 257, 16]. */
export function buildImageEncoder(): Uint8Array {
  const g = new GraphBuilder('imageEncoder', {
    docString: 'reference image encoder: class token + 16x16 analytic patch descriptors of 14 px',
  });
  const m = new GraphMath(g);
  const [input] = IMAGE_ENCODER_INPUTS as [TensorSpec];
  const [output] = IMAGE_ENCODER_OUTPUTS as [TensorSpec];
  const image = g.input(input.name, 'float', input.shape);
  g.output(output.name, 'float', output.shape);
  const p = IMAGE_PATCH;
  const patches = g.op(
    'Conv',
    [image, g.initializer('patch_filters', patchFilters(), [IMAGE_TOKEN_DIM, 3, p, p])],
    { strides: attr.ints([p, p]) },
  ); // [1, 16, 16, 16]
  const flat = m.transpose(
    m.reshape(patches, m.shape([1, IMAGE_TOKEN_DIM, GRID * GRID])),
    [0, 2, 1],
  );
  const cls = m.reduceMean(flat, [1]); // [1, 1, 16]
  g.node('Concat', [cls, flat], [output.name], { axis: attr.int(1) });
  return g.toBytes();
}
