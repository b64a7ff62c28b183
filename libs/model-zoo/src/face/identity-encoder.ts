import { dirname, join } from 'node:path';
import { GraphBuilder, attr } from '../graph-builder';
import { type ZooModel, graphTensorSpecs } from './graph-io';
import { type DecodedWeight, readTfjsWeights } from './tfjs-weights';

/**
 * The identity encoder: dlib's face-recognition ResNet (dlib_face_recognition_resnet_model_v1:
 * 29 conv layers, 150×150 RGB → 128-d, the net behind dlib's 99.38 % on LFW), with the weights
 * that `@vladmandic/face-api` (MIT) ships in TensorFlow.js format, rebuilt as an ONNX graph
 * layer for layer after face-api's `FaceRecognitionNet`. Each conv's bias and the "scale layer"
 * after it (dlib's affine layer) are folded into the conv's weights.
 *
 * Input `face` f32 [1, 3, 150, 150]: RGB in −1..1, the aligned crop dlib trained on — a
 * similarity transform that puts the eyes, nose and mouth where dlib's `get_face_chip_details
 * (shape, 150, 0.25)` puts them (libs/pipeline `alignFace` builds it from BlazeFace keypoints).
 * Output `embedding` f32 [1, 128], L2-normalised (face-api's raw descriptor divided by its
 * length; the mean-RGB subtraction and the scaling are inside the graph).
 */
export const IDENTITY_INPUT_SIZE = 150;
export const IDENTITY_EMBEDDING_DIM = 128;

/** face-api's mean RGB, subtracted from 0..255 input before dividing by 255. */
const MEAN_RGB = [122.782, 117.001, 104.298] as const;

const FACE_API_PACKAGE = '@vladmandic/face-api';
export const IDENTITY_ENCODER_SOURCE =
  'npm @vladmandic/face-api@1.7.15 model/face_recognition_model (MIT; weights of dlib ' +
  'dlib_face_recognition_resnet_model_v1 by Davis King), converted to ONNX by @likeness/model-zoo';

export interface IdentityEncoderOptions {
  /** Also output `descriptor` [1, 128]: face-api's raw, unnormalised descriptor (for tests). */
  rawDescriptor?: boolean;
}

/** The weights manifest inside the installed face-api package. */
export function faceApiWeightsManifest(): string {
  const root = dirname(require.resolve(`${FACE_API_PACKAGE}/package.json`));
  return join(root, 'model', 'face_recognition_model-weights_manifest.json');
}

/** The identity encoder, converted from face-api's weights (about 22 MB of float32). */
export async function identityEncoderModel(
  options: IdentityEncoderOptions = {},
): Promise<ZooModel> {
  const weights = await readTfjsWeights(faceApiWeightsManifest());
  const bytes = buildIdentityEncoder(weights, options);
  return { bytes, ...graphTensorSpecs(bytes), source: IDENTITY_ENCODER_SOURCE };
}

/** Builds the ONNX graph from decoded face-api weights (names as in its weights manifest). */
export function buildIdentityEncoder(
  weights: ReadonlyMap<string, DecodedWeight>,
  options: IdentityEncoderOptions = {},
): Uint8Array {
  const used = new Set<string>();
  const weight = (name: string, shape: readonly number[]): Float32Array => {
    const w = weights.get(name);
    if (!w) throw new Error(`face recognition weights lack "${name}"`);
    if (w.shape.join() !== shape.join()) {
      throw new Error(`weight "${name}" has shape [${w.shape}], expected [${shape}]`);
    }
    used.add(name);
    return w.data;
  };

  const size = IDENTITY_INPUT_SIZE;
  const g = new GraphBuilder('identityEncoder', {
    docString:
      'dlib face-recognition ResNet (face-api weights). face: RGB in -1..1, dlib 5-point face ' +
      'chip 150x150 padding 0.25; embedding: L2-normalised 128-d.',
  });
  const face = g.input('face', 'float', [1, 3, size, size]);
  g.output('embedding', 'float', [1, IDENTITY_EMBEDDING_DIM]);
  if (options.rawDescriptor) g.output('descriptor', 'float', [1, IDENTITY_EMBEDDING_DIM]);

  // face-api: (rgb255 − mean) / 255 with rgb255 = (face + 1) · 127.5, i.e. face/2 + (½ − mean/255).
  const offset = Float32Array.from(MEAN_RGB, (m) => 0.5 - m / 255);
  let x = g.op('Add', [
    g.op('Mul', [face, g.floats('half', [0.5])]),
    g.initializer('input_offset', offset, [1, 3, 1, 1]),
  ]);

  /** conv + bias + scale layer (folded), as face-api's convLayer; `pad` 0 = 'valid', 1 = 'same'. */
  const conv = (
    input: string,
    prefix: string,
    k: number,
    cin: number,
    cout: number,
    stride: number,
    pad: number,
    relu: boolean,
  ): string => {
    const filters = weight(`${prefix}/conv/filters`, [k, k, cin, cout]); // HWIO
    const bias = weight(`${prefix}/conv/bias`, [cout]);
    const scale = weight(`${prefix}/scale/weights`, [cout]);
    const shift = weight(`${prefix}/scale/biases`, [cout]);
    const w = new Float32Array(cout * cin * k * k); // OIHW, scaled per output channel
    for (let h = 0; h < k; h++)
      for (let v = 0; v < k; v++)
        for (let i = 0; i < cin; i++)
          for (let o = 0; o < cout; o++) {
            w[((o * cin + i) * k + h) * k + v] =
              (filters[((h * k + v) * cin + i) * cout + o] as number) * (scale[o] as number);
          }
    const b = Float32Array.from(bias, (bo, o) => bo * (scale[o] as number) + (shift[o] as number));
    const name = prefix.replace(/\//g, '_');
    const out = g.op(
      'Conv',
      [
        input,
        g.initializer(`${name}_w`, w, [cout, cin, k, k]),
        g.initializer(`${name}_b`, b, [cout]),
      ],
      {
        kernel_shape: attr.ints([k, k]),
        strides: attr.ints([stride, stride]),
        pads: attr.ints([pad, pad, pad, pad]),
      },
    );
    return relu ? g.op('Relu', [out]) : out;
  };

  const residual = (input: string, prefix: string, ch: number): string => {
    const a = conv(input, `${prefix}/conv1`, 3, ch, ch, 1, 1, true);
    const b = conv(a, `${prefix}/conv2`, 3, ch, ch, 1, 1, false);
    return g.op('Relu', [g.op('Add', [b, input])]);
  };

  /**
   * face-api's residualDown: a stride-2 'valid' conv path, and a 2×2 average-pool shortcut
   * zero-padded to the new channel count; where the conv path comes out one row/column short of
   * the pool (odd sizes), it is zero-padded at the bottom/right.
   */
  const residualDown = (
    input: string,
    prefix: string,
    cin: number,
    cout: number,
    side: number,
  ): [string, number] => {
    const convSide = Math.floor((side - 3) / 2) + 1;
    const poolSide = Math.floor((side - 2) / 2) + 1;
    const a = conv(input, `${prefix}/conv1`, 3, cin, cout, 2, 0, true);
    let b = conv(a, `${prefix}/conv2`, 3, cout, cout, 1, 1, false);
    if (convSide !== poolSide) {
      const grow = poolSide - convSide;
      b = g.op('Pad', [
        b,
        g.int64s(`${prefix.replace(/\//g, '_')}_grow`, [0, 0, 0, 0, 0, 0, grow, grow]),
      ]);
    }
    let pooled = g.op('AveragePool', [input], {
      kernel_shape: attr.ints([2, 2]),
      strides: attr.ints([2, 2]),
    });
    if (cout !== cin) {
      pooled = g.op('Pad', [
        pooled,
        g.int64s(`${prefix.replace(/\//g, '_')}_widen`, [0, 0, 0, 0, 0, cout - cin, 0, 0]),
      ]);
    }
    return [g.op('Relu', [g.op('Add', [pooled, b])]), poolSide];
  };

  x = conv(x, 'conv32_down', 7, 3, 32, 2, 0, true); // 150 → 72
  x = g.op('MaxPool', [x], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]) }); // → 35
  let side = Math.floor((Math.floor((size - 7) / 2) + 1 - 3) / 2) + 1;
  for (const p of ['conv32_1', 'conv32_2', 'conv32_3']) x = residual(x, p, 32);
  [x, side] = residualDown(x, 'conv64_down', 32, 64, side);
  for (const p of ['conv64_1', 'conv64_2', 'conv64_3']) x = residual(x, p, 64);
  [x, side] = residualDown(x, 'conv128_down', 64, 128, side);
  for (const p of ['conv128_1', 'conv128_2']) x = residual(x, p, 128);
  [x, side] = residualDown(x, 'conv256_down', 128, 256, side);
  for (const p of ['conv256_1', 'conv256_2']) x = residual(x, p, 256);
  [x, side] = residualDown(x, 'conv256_down_out', 256, 256, side);
  if (side !== 2) throw new Error(`expected a 2×2 map before pooling, got ${side}×${side}`);

  const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [x])]); // [1, 256]
  const fc = weight('fc', [256, IDENTITY_EMBEDDING_DIM]);
  const descriptor = options.rawDescriptor ? 'descriptor' : 'raw_descriptor';
  g.node(
    'MatMul',
    [pooled, g.initializer('fc_w', fc, [256, IDENTITY_EMBEDDING_DIM])],
    [descriptor],
  );

  const length = g.op('Max', [
    g.op('ReduceL2', [descriptor], { axes: attr.ints([1]), keepdims: attr.int(1) }),
    g.floats('min_length', [1e-12]),
  ]);
  g.node('Div', [descriptor, length], ['embedding']);

  const unused = [...weights.keys()].filter((n) => !used.has(n));
  if (unused.length > 0) throw new Error(`face recognition weights not used: ${unused.join(', ')}`);
  return g.toBytes();
}
