import { onnx } from 'onnx-proto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { GraphBuilder, GraphValidationError, attr, irVersionForOpset } from './index';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof GraphValidationError) return e.problems;
    throw e;
  }
  throw new Error('expected a GraphValidationError');
}

function affineGraph(opset?: number): Uint8Array {
  const g = new GraphBuilder('affine', { opset });
  const x = g.input('x', 'float', ['N', 2]);
  const w = g.initializer('W', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const b = g.floats('b', [0.5, -1, 10]);
  g.output('y', 'float', ['N', 3]);
  g.node('Add', [g.op('MatMul', [x, w]), b], ['y']);
  return g.toBytes();
}

describe('GraphBuilder', () => {
  it('builds a MatMul + Add graph that onnxruntime computes correctly', async () => {
    const session = await InferenceSession.create(affineGraph());
    expect(session.inputNames).toEqual(['x']);
    expect(session.outputNames).toEqual(['y']);
    const x = new Tensor('float32', Float32Array.from([1, 1, 2, -1]), [2, 2]);
    const { y } = await session.run({ x });
    // [1 1]·W = [5 7 9], [2 −1]·W = [−2 −1 0]; plus b
    expect(y?.dims).toEqual([2, 3]);
    expect(Array.from(y?.data as Float32Array)).toEqual([5.5, 6, 19, -1.5, -2, 10]);
    // the batch dimension is symbolic: another N works too
    const one = await session.run({ x: new Tensor('float32', Float32Array.from([0, 1]), [1, 2]) });
    expect(Array.from(one.y?.data as Float32Array)).toEqual([4.5, 4, 16]);
    await session.release();
  });

  it('encodes int, ints, float and string attributes and int64 tensors', async () => {
    const g = new GraphBuilder('attrs');
    const x = g.input('x', 'float', [2, 3]);
    const leaky = g.op('LeakyRelu', [x], { alpha: attr.float(0.1) });
    const t = g.op('Transpose', [leaky], { perm: attr.ints([1, 0]) });
    g.node('Pad', [t, g.int64s('pads', [0, 1, 0, 1])], ['padded'], {
      mode: attr.string('reflect'),
    });
    g.node('Shape', ['padded'], ['dims'], { start: attr.int(0) });
    g.output('padded', 'float', [3, 4]);
    g.output('dims', 'int64', [2]);

    const session = await InferenceSession.create(g.toBytes());
    const out = await session.run({
      x: new Tensor('float32', Float32Array.from([1, -2, 3, -4, 5, -6]), [2, 3]),
    });
    // leaky: [[1, −.2, 3], [−.4, 5, −.6]] → transpose → reflect-pad each row [a, b] to [b, a, b, a]
    const expected = [-0.4, 1, -0.4, 1, 5, -0.2, 5, -0.2, -0.6, 3, -0.6, 3];
    Array.from(out.padded?.data as Float32Array).forEach((v, k) =>
      expect(v).toBeCloseTo(expected[k] as number, 6),
    );
    expect(out.dims?.type).toBe('int64');
    expect(Array.from(out.dims?.data as BigInt64Array)).toEqual([3n, 4n]);
    await session.release();
  });

  it('serializes a ModelProto with opset, IR version, symbolic dims and raw initializers', () => {
    const model = onnx.ModelProto.decode(affineGraph());
    expect(Number(model.irVersion)).toBe(8);
    expect(model.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    const graph = model.graph as onnx.GraphProto;
    expect(graph.name).toBe('affine');
    const dims = graph.input[0]?.type?.tensorType?.shape?.dim ?? [];
    expect(dims.map((d) => d.dimParam || Number(d.dimValue))).toEqual(['N', 2]);
    expect(graph.input[0]?.type?.tensorType?.elemType).toBe(onnx.TensorProto.DataType.FLOAT);
    const w = graph.initializer.find((i) => i.name === 'W') as onnx.TensorProto;
    expect(w.dims.map(Number)).toEqual([2, 3]);
    expect(w.dataType).toBe(onnx.TensorProto.DataType.FLOAT);
    const raw = w.rawData;
    expect(
      Array.from(
        new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)),
      ),
    ).toEqual([1, 2, 3, 4, 5, 6]);
    expect(graph.node.map((n) => [n.opType, n.input, n.output])).toEqual([
      ['MatMul', ['x', 'W'], ['matmul_0']],
      ['Add', ['matmul_0', 'b'], ['y']],
    ]);
  });

  it('picks the IR version that goes with the opset', async () => {
    expect(irVersionForOpset(13)).toBe(7);
    expect(irVersionForOpset(17)).toBe(8);
    expect(irVersionForOpset(21)).toBe(10);
    const bytes = affineGraph(13);
    expect(Number(onnx.ModelProto.decode(bytes).irVersion)).toBe(7);
    const session = await InferenceSession.create(bytes);
    const { y } = await session.run({
      x: new Tensor('float32', Float32Array.from([1, 0]), [1, 2]),
    });
    expect(Array.from(y?.data as Float32Array)).toEqual([1.5, 1, 13]);
    await session.release();
  });

  it('gives fresh names that avoid user-defined ones', () => {
    const g = new GraphBuilder('fresh');
    const a = g.input('relu_0', 'float', [1]);
    expect(g.op('Relu', [a])).toBe('relu_1');
    expect(g.op('Relu', [a])).toBe('relu_2');
  });

  it('rejects a node input that is not defined yet', () => {
    const g = new GraphBuilder('g');
    g.input('x', 'float', [1]);
    expect(problemsOf(() => g.node('Add', ['x', 'nope'], ['y']))).toEqual([
      'node Add_0 uses "nope", which is not a graph input, initializer or earlier node output',
    ]);
    expect(() => g.node('Add', ['x', 'nope'], ['y'])).toThrow(/invalid ONNX graph "g".*"nope"/);
  });

  it('rejects names defined twice', () => {
    const g = new GraphBuilder('g');
    g.input('x', 'float', [1]);
    g.node('Relu', ['x'], ['y']);
    expect(problemsOf(() => g.node('Neg', ['x'], ['y']))).toEqual([
      '"y" is defined twice (as output of Relu_0 and as output of Neg_1)',
    ]);
    expect(problemsOf(() => g.floats('x', [1]))).toEqual([
      '"x" is defined twice (as graph input and as initializer)',
    ]);
    g.output('y', 'float', [1]);
    expect(problemsOf(() => g.output('y', 'float', [1]))).toEqual([
      'graph output "y" is declared twice',
    ]);
  });

  it('rejects graph outputs nothing produces, and graphs without outputs', () => {
    const g = new GraphBuilder('g');
    g.input('x', 'float', [1]);
    expect(problemsOf(() => g.toBytes())).toEqual(['the graph declares no outputs']);
    g.output('y', 'float', [1]);
    g.output('z', 'float', [1]);
    expect(problemsOf(() => g.toBytes())).toEqual([
      'graph output "y" is not produced by any node',
      'graph output "z" is not produced by any node',
    ]);
    g.node('Relu', ['x'], ['y']);
    g.node('Neg', ['x'], ['z']);
    expect(g.toBytes().length).toBeGreaterThan(0);
  });

  it('rejects bad shapes, initializers, attributes and options', () => {
    const g = new GraphBuilder('g');
    expect(problemsOf(() => g.input('a', 'float', [-1]))[0]).toMatch(/invalid dimension -1/);
    expect(problemsOf(() => g.input('a', 'float', [' ']))[0]).toMatch(/invalid dimension/);
    expect(problemsOf(() => g.input('', 'float', [1]))[0]).toMatch(/non-empty/);
    expect(problemsOf(() => g.initializer('w', new Float32Array(5), [2, 3]))[0]).toMatch(
      /5 values .* need 6/,
    );
    expect(problemsOf(() => g.int64s('i', [1.5]))[0]).toMatch(/not an integer/);
    g.input('x', 'float', [1]);
    expect(problemsOf(() => g.op('Concat', ['x'], { axis: attr.int(0.5) }))[0]).toMatch(
      /attribute "axis"/,
    );
    expect(
      problemsOf(() => g.op('Transpose', ['x'], { perm: attr.ints([0, Number.NaN]) }))[0],
    ).toMatch(/"perm"/);
    expect(problemsOf(() => g.node('Split', ['x'], ['', '']))[0]).toMatch(/no outputs/);
    expect(problemsOf(() => new GraphBuilder('h', { opset: 0 }))[0]).toMatch(/opset/);
    expect(problemsOf(() => new GraphBuilder(''))[0]).toMatch(/graph name/);
  });

  it('adds fresh-named float32 and int64 constants, scalars included', async () => {
    const g = new GraphBuilder('consts');
    const x = g.input('x', 'float', [2]);
    const half = g.f32(0.5);
    const pair = g.f32([1, -1]);
    const grid = g.f32(Float32Array.from([1, 2, 3, 4]), [2, 2]);
    expect(new Set([half, pair, grid]).size).toBe(3);
    const scaled = g.op('Mul', [g.op('Add', [x, pair]), half]);
    g.node('MatMul', [g.op('Unsqueeze', [scaled, g.i64([0])]), grid], ['y']);
    g.node('Reshape', [grid, g.i64([4])], ['flat']);
    g.node('Add', [g.i64([7], []), g.i64([1, 2])], ['ints']);
    g.output('y', 'float', [1, 2]);
    g.output('flat', 'float', [4]);
    g.output('ints', 'int64', [2]);
    const model = onnx.ModelProto.decode(g.toBytes());
    const scalar = (model.graph as onnx.GraphProto).initializer.find((i) => i.name === half);
    expect(scalar?.dims).toEqual([]);
    const session = await InferenceSession.create(g.toBytes());
    const out = await session.run({ x: new Tensor('float32', Float32Array.from([3, 5]), [2]) });
    // ((3, 5) + (1, −1))·0.5 = (2, 2); (2, 2)·[[1, 2], [3, 4]] = (8, 12)
    expect(Array.from(out.y?.data as Float32Array)).toEqual([8, 12]);
    expect(Array.from(out.flat?.data as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(Array.from(out.ints?.data as BigInt64Array)).toEqual([8n, 9n]);
    await session.release();
  });

  it('declares value_info for intermediates, checking the name', () => {
    const g = new GraphBuilder('vi');
    g.input('x', 'float', ['N']);
    const y = g.op('Relu', ['x']);
    expect(g.valueInfo(y, 'float', ['N'])).toBe(y);
    g.output('z', 'float', ['N']);
    g.node('Neg', [y], ['z']);
    const graph = onnx.ModelProto.decode(g.toBytes()).graph as onnx.GraphProto;
    expect(
      graph.valueInfo.map((v) => [v.name, v.type?.tensorType?.shape?.dim?.map((d) => d.dimParam)]),
    ).toEqual([[y, ['N']]]);
    expect(problemsOf(() => g.valueInfo('nope', 'float', [1]))[0]).toMatch(/names no value/);
    expect(problemsOf(() => g.valueInfo('x', 'float', ['N']))[0]).toMatch(/graph input or output/);
    expect(problemsOf(() => g.valueInfo(y, 'float', ['N']))[0]).toMatch(/declared twice/);
    expect(problemsOf(() => g.i64([1.5], []))[0]).toMatch(/not an integer/);
  });
});
