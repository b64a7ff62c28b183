import type { TensorDtype, TensorSpec } from '@likeness/contracts';
import { onnx } from 'onnx-proto';

/** A model as model-zoo hands it out: the ONNX bytes, its real boundary tensors and provenance. */
export interface ZooModel {
  bytes: Uint8Array;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Where the weights come from (package, file, licence). */
  source: string;
}

const DTYPES = new Map<number, TensorDtype>([
  [onnx.TensorProto.DataType.FLOAT, 'float32'],
  [onnx.TensorProto.DataType.FLOAT16, 'float16'],
  [onnx.TensorProto.DataType.INT64, 'int64'],
]);

/**
 * The graph inputs (initializers excluded, as older IR versions list them as inputs too) and
 * outputs of a serialized ONNX model, as the manifest describes tensors. Throws on element types
 * the Node binding cannot take at a graph boundary.
 */
export function graphTensorSpecs(bytes: Uint8Array): Pick<ZooModel, 'inputs' | 'outputs'> {
  const graph = onnx.ModelProto.decode(bytes).graph;
  if (!graph) throw new Error('ONNX model has no graph');
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  return {
    inputs: (graph.input ?? []).filter((v) => !initializers.has(v.name ?? '')).map(tensorSpec),
    outputs: (graph.output ?? []).map(tensorSpec),
  };
}

function tensorSpec(value: onnx.IValueInfoProto): TensorSpec {
  const name = value.name ?? '';
  const tensorType = value.type?.tensorType;
  const dtype = DTYPES.get(tensorType?.elemType ?? -1);
  if (!name || !tensorType || !dtype) {
    throw new Error(`graph tensor "${name}" is not a float32, float16 or int64 tensor`);
  }
  const shape = (tensorType.shape?.dim ?? []).map((d, k): number | string => {
    if (d.dimParam) return d.dimParam;
    const size = Number(d.dimValue ?? 0);
    // An unnamed unknown dimension: give it a symbol so the manifest stays valid.
    return size > 0 ? size : `${name}_dim${k}`;
  });
  return { name, dtype, shape };
}
