import { GraphBuilder, attr } from './graph-builder';

/** A value in the graph: the name of an input, initializer or node output. */
export type Value = string;
/** An operand: a value, or a number that becomes a float32 scalar constant. */
export type Operand = Value | number;

/**
 * Arithmetic and shape helpers over a GraphBuilder, so analytic graphs read like the maths they
 * compute. Every helper adds ONNX nodes (opset ≥ 13 semantics: Slice/Squeeze/Unsqueeze/Clip take
 * their parameters as inputs) and returns the output's name. Numbers become float32 scalar
 * constants, one initializer per distinct value.
 */
export class GraphMath {
  private readonly scalars = new Map<number, Value>();

  constructor(readonly g: GraphBuilder) {}

  /** The float32 scalar constant `value` (shared by every use of the same value). */
  c(value: number): Value {
    const key = Object.is(value, -0) ? -0 : value;
    let name = this.scalars.get(key);
    if (name === undefined) {
      name = this.g.f32(value);
      this.scalars.set(key, name);
    }
    return name;
  }

  private v(x: Operand): Value {
    return typeof x === 'number' ? this.c(x) : x;
  }

  add(a: Operand, b: Operand): Value {
    return this.g.op('Add', [this.v(a), this.v(b)]);
  }
  sub(a: Operand, b: Operand): Value {
    return this.g.op('Sub', [this.v(a), this.v(b)]);
  }
  mul(a: Operand, b: Operand): Value {
    return this.g.op('Mul', [this.v(a), this.v(b)]);
  }
  div(a: Operand, b: Operand): Value {
    return this.g.op('Div', [this.v(a), this.v(b)]);
  }
  /** Product of several operands, left to right. */
  prod(first: Operand, ...rest: Operand[]): Value {
    return rest.reduce<Value>((acc, x) => this.mul(acc, x), this.v(first));
  }
  max(a: Operand, b: Operand): Value {
    return this.g.op('Max', [this.v(a), this.v(b)]);
  }
  min(a: Operand, b: Operand): Value {
    return this.g.op('Min', [this.v(a), this.v(b)]);
  }
  unary(opType: 'Exp' | 'Log' | 'Sqrt' | 'Relu' | 'Tanh' | 'Neg' | 'Abs', x: Value): Value {
    return this.g.op(opType, [x]);
  }
  matmul(a: Value, b: Value): Value {
    return this.g.op('MatMul', [a, b]);
  }
  /** Elementwise clamp to [lo, hi]. */
  clip(x: Value, lo: number, hi: number): Value {
    return this.g.op('Clip', [x, this.c(lo), this.c(hi)]);
  }
  /** 3t² − 2t³ after clamping t to [0, 1]: 0 below 0, 1 above 1, C¹ in between. */
  smoothstep(t: Value): Value {
    const u = this.clip(t, 0, 1);
    return this.mul(this.mul(u, u), this.sub(3, this.mul(2, u)));
  }
  /** (1 − min(z², 1))²: 1 at z = 0, exactly 0 for |z| ≥ 1, C¹ everywhere. */
  bump(z: Value): Value {
    // written as (min(z², 1) − 1)² so that every step can update its first operand in place
    const q = this.sub(this.clip(this.mul(z, z), 0, 1), 1);
    return this.mul(q, q);
  }

  cast(x: Value, to: 'float' | 'int64'): Value {
    return this.g.op('Cast', [x], { to: attr.int(to === 'float' ? 1 : 7) });
  }
  /** Dimension `axis` of `x` as a 1-D int64 tensor of one element. */
  dim(x: Value, axis: number): Value {
    return this.g.op('Shape', [x], { start: attr.int(axis), end: attr.int(axis + 1) });
  }
  /** Concatenates 1-D int64 pieces (numbers become constants) into a shape tensor. */
  shape(...parts: (Value | number | readonly number[])[]): Value {
    const names = parts.map((p) =>
      typeof p === 'number' ? this.g.i64([p]) : typeof p === 'string' ? p : this.g.i64(p),
    );
    return names.length === 1 ? (names[0] as Value) : this.concat(names, 0);
  }
  reshape(x: Value, shape: Value): Value {
    return this.g.op('Reshape', [x, shape]);
  }
  transpose(x: Value, perm: readonly number[]): Value {
    return this.g.op('Transpose', [x], { perm: attr.ints(perm) });
  }
  concat(xs: readonly Value[], axis: number): Value {
    return this.g.op('Concat', xs, { axis: attr.int(axis) });
  }
  unsqueeze(x: Value, axes: readonly number[]): Value {
    return this.g.op('Unsqueeze', [x, this.g.i64(axes)]);
  }
  /** x[starts:ends] along `axes` (ends may be Number.MAX_SAFE_INTEGER for "to the end"). */
  slice(
    x: Value,
    starts: readonly number[],
    ends: readonly number[],
    axes: readonly number[],
  ): Value {
    return this.g.op('Slice', [x, this.g.i64(starts), this.g.i64(ends), this.g.i64(axes)]);
  }
  reduceSum(x: Value, axes: readonly number[], keepdims = true): Value {
    return this.g.op('ReduceSum', [x, this.g.i64(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
  }
  reduceMean(x: Value, axes: readonly number[], keepdims = true): Value {
    return this.g.op('ReduceMean', [x], {
      axes: attr.ints(axes),
      keepdims: attr.int(keepdims ? 1 : 0),
    });
  }
}
