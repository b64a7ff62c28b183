import { onnx } from 'onnx-proto';
import { GraphBuilder } from '../graph-builder';
import { graphTensorSpecs } from './graph-io';

describe('graphTensorSpecs', () => {
  it('lists graph inputs and outputs with dtype and fixed or symbolic dims', () => {
    const g = new GraphBuilder('io');
    g.input('ids', 'int64', [1, 'L']);
    const x = g.input('x', 'float', ['B', 3]);
    g.output('y', 'float', ['B', 3]);
    g.node('Relu', [x], ['y']);
    expect(graphTensorSpecs(g.toBytes())).toEqual({
      inputs: [
        { name: 'ids', dtype: 'int64', shape: [1, 'L'] },
        { name: 'x', dtype: 'float32', shape: ['B', 3] },
      ],
      outputs: [{ name: 'y', dtype: 'float32', shape: ['B', 3] }],
    });
  });

  it('leaves out initializers that old IR versions also list as inputs, names unknown dims', () => {
    const g = new GraphBuilder('old');
    const x = g.input('x', 'float', [2]);
    const w = g.floats('w', [1, 2]);
    g.output('y', 'float', [2]);
    g.node('Mul', [x, w], ['y']);
    const model = g.toModel();
    const graph = model.graph as onnx.GraphProto;
    graph.input.push({ name: 'w', type: { tensorType: { elemType: 1, shape: { dim: [{}] } } } });
    graph.output[0] = { name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{}] } } } };
    const specs = graphTensorSpecs(onnx.ModelProto.encode(model).finish());
    expect(specs.inputs.map((t) => t.name)).toEqual(['x']);
    expect(specs.outputs).toEqual([{ name: 'y', dtype: 'float32', shape: ['y_dim0'] }]);
  });

  it('refuses element types a pack manifest cannot declare', () => {
    const g = new GraphBuilder('int32');
    const x = g.input('x', 'float', [2]);
    g.output('y', 'float', [2]);
    g.node('Relu', [x], ['y']);
    const model = g.toModel();
    const input = (model.graph as onnx.GraphProto).input[0] as onnx.ValueInfoProto;
    (input.type as onnx.TypeProto).tensorType = { elemType: onnx.TensorProto.DataType.INT32 };
    expect(() => graphTensorSpecs(onnx.ModelProto.encode(model).finish())).toThrow(
      /"x" is not a float32, float16 or int64 tensor/,
    );
  });
});
