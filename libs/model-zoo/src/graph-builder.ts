import { onnx } from 'onnx-proto';

/** Element types the builder supports at graph boundaries and in initializers. */
export type ElemType = 'float' | 'int64';

/** A dimension: a fixed size, or a symbolic name such as `'F'` (any size at run time). */
export type Dim = number | string;

export interface ValueSpec {
  name: string;
  elemType: ElemType;
  shape: readonly Dim[];
}

/** A node attribute; build them with `attr.int(…)`, `attr.ints(…)` and so on. */
export type AttributeValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string };

export type Attributes = Readonly<Record<string, AttributeValue>>;

export const attr = {
  int: (value: number): AttributeValue => ({ kind: 'int', value }),
  ints: (value: readonly number[]): AttributeValue => ({ kind: 'ints', value }),
  float: (value: number): AttributeValue => ({ kind: 'float', value }),
  floats: (value: readonly number[]): AttributeValue => ({ kind: 'floats', value }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
};

/** Thrown when a graph is declared inconsistently; `problems` lists every issue found. */
export class GraphValidationError extends Error {
  constructor(
    readonly graph: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid ONNX graph "${graph}": ${problems.join('; ')}`);
    this.name = 'GraphValidationError';
  }
}

export interface GraphBuilderOptions {
  /** Default-domain opset (default 17). */
  opset?: number;
  /** ModelProto IR version; default: the lowest one that allows `opset`. */
  irVersion?: number;
  producerName?: string;
  docString?: string;
}

export const DEFAULT_OPSET = 17;

/** The IR version introduced alongside each opset range (ONNX versioning table). */
export function irVersionForOpset(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 17) return 8;
  if (opset <= 19) return 9;
  if (opset <= 21) return 10;
  return 11;
}

const DATA_TYPE: Record<ElemType, onnx.TensorProto.DataType> = {
  float: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
};

interface NodeSpec {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: Attributes;
}

interface InitializerSpec {
  name: string;
  elemType: ElemType;
  dims: readonly number[];
  rawData: Uint8Array;
}

/**
 * A small typed builder for ONNX models. Values must be defined (as an input, an initializer or
 * a node output) before a node uses them, so nodes are always in topological order; a name is
 * defined at most once. Mistakes throw a GraphValidationError at the offending call; graph
 * outputs that no node produces are reported by `toModel`/`toBytes`.
 */
export class GraphBuilder {
  readonly opset: number;
  readonly irVersion: number;
  private readonly inputs: ValueSpec[] = [];
  private readonly outputs: ValueSpec[] = [];
  private readonly valueInfos: ValueSpec[] = [];
  private readonly initializers: InitializerSpec[] = [];
  private readonly nodes: NodeSpec[] = [];
  /** Every defined value name → what defined it (for error messages). */
  private readonly defined = new Map<string, string>();
  private readonly outputNames = new Set<string>();
  private fresh = 0;

  constructor(
    readonly name: string,
    private readonly options: GraphBuilderOptions = {},
  ) {
    this.requireName('graph name', name);
    const opset = options.opset ?? DEFAULT_OPSET;
    if (!Number.isSafeInteger(opset) || opset < 1)
      this.fail(`opset must be a positive integer, got ${opset}`);
    this.opset = opset;
    const irVersion = options.irVersion ?? irVersionForOpset(opset);
    if (!Number.isSafeInteger(irVersion) || irVersion < 3) {
      this.fail(`irVersion must be an integer ≥ 3, got ${irVersion}`);
    }
    this.irVersion = irVersion;
  }

  /** Declares a graph input; returns its name. */
  input(name: string, elemType: ElemType, shape: readonly Dim[]): string {
    this.checkShape(name, shape);
    this.define(name, 'graph input');
    this.inputs.push({ name, elemType, shape: [...shape] });
    return name;
  }

  /** Declares a graph output (produced by a node added before or after); returns its name. */
  output(name: string, elemType: ElemType, shape: readonly Dim[]): string {
    this.requireName('output name', name);
    this.checkShape(name, shape);
    if (this.outputNames.has(name)) this.fail(`graph output "${name}" is declared twice`);
    this.outputNames.add(name);
    this.outputs.push({ name, elemType, shape: [...shape] });
    return name;
  }

  /**
   * Declares the type and shape of an intermediate value (ONNX `value_info`). onnxruntime uses
   * it where its own shape inference comes up empty (after a Reshape to a computed shape, say);
   * with equal symbolic shapes it can run an elementwise node in place of its input. Returns
   * `name`.
   */
  valueInfo(name: string, elemType: ElemType, shape: readonly Dim[]): string {
    this.checkShape(name, shape);
    const what = this.defined.get(name);
    if (what === undefined) this.fail(`value_info "${name}" names no value defined so far`);
    if (what === 'graph input' || this.outputNames.has(name)) {
      this.fail(`value_info "${name}" is a graph input or output; declare its shape there`);
    }
    if (this.valueInfos.some((v) => v.name === name))
      this.fail(`value_info "${name}" is declared twice`);
    this.valueInfos.push({ name, elemType, shape: [...shape] });
    return name;
  }

  /** Adds a constant tensor; float32 or int64 by the array type. Returns its name. */
  initializer(name: string, data: Float32Array | BigInt64Array, dims: readonly number[]): string {
    let size = 1;
    for (const d of dims) {
      if (!Number.isSafeInteger(d) || d < 0) {
        this.fail(`initializer "${name}" has invalid dims [${dims.join(', ')}]`);
      }
      size *= d;
    }
    if (size !== data.length) {
      this.fail(
        `initializer "${name}" has ${data.length} values but dims [${dims.join(', ')}] need ${size}`,
      );
    }
    this.define(name, 'initializer');
    const bytes = new Uint8Array(data.length * 8);
    const view = new DataView(bytes.buffer);
    let elemType: ElemType;
    let rawData: Uint8Array;
    if (data instanceof Float32Array) {
      elemType = 'float';
      data.forEach((v, k) => view.setFloat32(4 * k, v, true));
      rawData = bytes.subarray(0, 4 * data.length);
    } else {
      elemType = 'int64';
      data.forEach((v, k) => view.setBigInt64(8 * k, v, true));
      rawData = bytes;
    }
    this.initializers.push({ name, elemType, dims: [...dims], rawData });
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, indices …). */
  int64s(name: string, values: readonly (number | bigint)[]): string {
    for (const v of values) {
      if (typeof v === 'number' && !Number.isSafeInteger(v))
        this.fail(`int64s "${name}": ${v} is not an integer`);
    }
    return this.initializer(
      name,
      BigInt64Array.from(values, (v) => BigInt(v)),
      [values.length],
    );
  }

  /** A 1-D float32 constant. */
  floats(name: string, values: readonly number[]): string {
    return this.initializer(name, Float32Array.from(values), [values.length]);
  }

  /**
   * A float32 constant under a fresh name: a number is a scalar (dims []), an array is 1-D unless
   * `dims` says otherwise. Returns its name.
   */
  f32(values: number | readonly number[] | Float32Array, dims?: readonly number[]): string {
    const data =
      typeof values === 'number' ? Float32Array.of(values) : Float32Array.from(values as number[]);
    return this.initializer(
      this.freshName('const'),
      data,
      dims ?? (typeof values === 'number' ? [] : [data.length]),
    );
  }

  /** An int64 constant (shapes, axes, starts …) under a fresh name: 1-D unless `dims` is given. */
  i64(values: readonly (number | bigint)[], dims?: readonly number[]): string {
    const name = this.freshName('const');
    if (dims === undefined) return this.int64s(name, values);
    for (const v of values) {
      if (typeof v === 'number' && !Number.isSafeInteger(v))
        this.fail(`i64 "${name}": ${v} is not an integer`);
    }
    return this.initializer(
      name,
      BigInt64Array.from(values, (v) => BigInt(v)),
      dims,
    );
  }

  /**
   * Adds a node. Every non-empty input must already be defined; every non-empty output becomes
   * defined. `''` stands for an omitted optional input or output, as in ONNX. Returns `outputs`.
   */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attributes: Attributes = {},
  ): string[] {
    this.requireName('op type', opType);
    const nodeName = `${opType}_${this.nodes.length}`;
    const missing = inputs.filter((i) => i !== '' && !this.defined.has(i));
    if (missing.length > 0) {
      this.fail(
        ...missing.map(
          (i) =>
            `node ${nodeName} uses "${i}", which is not a graph input, initializer or earlier node output`,
        ),
      );
    }
    if (outputs.every((o) => o === '')) this.fail(`node ${nodeName} has no outputs`);
    for (const [key, value] of Object.entries(attributes))
      this.checkAttribute(nodeName, key, value);
    for (const o of outputs) if (o !== '') this.define(o, `output of ${nodeName}`);
    this.nodes.push({
      opType,
      name: nodeName,
      inputs: [...inputs],
      outputs: [...outputs],
      attributes: { ...attributes },
    });
    return [...outputs];
  }

  /** Adds a single-output node whose output gets a fresh name; returns that name. */
  op(opType: string, inputs: readonly string[], attributes: Attributes = {}): string {
    const output = this.freshName(opType.toLowerCase());
    this.node(opType, inputs, [output], attributes);
    return output;
  }

  /** `${prefix}_${n}` with the next n that no value or output uses yet. */
  private freshName(prefix: string): string {
    let name: string;
    do {
      name = `${prefix}_${this.fresh++}`;
    } while (this.defined.has(name) || this.outputNames.has(name));
    return name;
  }

  /** The ModelProto; throws a GraphValidationError if the graph is incomplete. */
  toModel(): onnx.ModelProto {
    const problems: string[] = [];
    if (this.outputs.length === 0) problems.push('the graph declares no outputs');
    for (const o of this.outputs) {
      if (!this.defined.has(o.name))
        problems.push(`graph output "${o.name}" is not produced by any node`);
    }
    if (problems.length > 0) this.fail(...problems);

    return onnx.ModelProto.create({
      irVersion: this.irVersion,
      producerName: this.options.producerName ?? '@likeness/model-zoo',
      docString: this.options.docString ?? '',
      opsetImport: [{ domain: '', version: this.opset }],
      graph: {
        name: this.name,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
        valueInfo: this.valueInfos.map(valueInfo),
        initializer: this.initializers.map((t) => ({
          name: t.name,
          dataType: DATA_TYPE[t.elemType],
          dims: [...t.dims],
          rawData: t.rawData,
        })),
        node: this.nodes.map((n) => ({
          opType: n.opType,
          name: n.name,
          domain: '',
          input: [...n.inputs],
          output: [...n.outputs],
          attribute: Object.entries(n.attributes).map(([key, value]) => attributeProto(key, value)),
        })),
      },
    });
  }

  /** The serialized ModelProto, ready for `InferenceSession.create(bytes)` or a `.onnx` file. */
  toBytes(): Uint8Array {
    return onnx.ModelProto.encode(this.toModel()).finish();
  }

  private define(name: string, what: string): void {
    this.requireName(`${what} name`, name);
    const previous = this.defined.get(name);
    if (previous !== undefined)
      this.fail(`"${name}" is defined twice (as ${previous} and as ${what})`);
    this.defined.set(name, what);
  }

  private requireName(what: string, name: string): void {
    if (typeof name !== 'string' || name.trim() === '')
      this.fail(`${what} must be a non-empty string`);
  }

  private checkShape(name: string, shape: readonly Dim[]): void {
    for (const d of shape) {
      const ok = typeof d === 'string' ? d.trim() !== '' : Number.isSafeInteger(d) && d >= 0;
      if (!ok)
        this.fail(
          `"${name}" has an invalid dimension ${JSON.stringify(d)} (a size ≥ 0 or a symbol)`,
        );
    }
  }

  private checkAttribute(nodeName: string, key: string, value: AttributeValue): void {
    const bad = (why: string): never => this.fail(`node ${nodeName} attribute "${key}": ${why}`);
    switch (value.kind) {
      case 'int':
        if (!Number.isSafeInteger(value.value)) bad(`${value.value} is not an integer`);
        return;
      case 'ints':
        if (!value.value.every((v) => Number.isSafeInteger(v)))
          bad(`[${value.value.join(', ')}] are not all integers`);
        return;
      case 'float':
        if (typeof value.value !== 'number') bad('is not a number');
        return;
      case 'floats':
        if (!value.value.every((v) => typeof v === 'number')) bad('are not all numbers');
        return;
      case 'string':
        if (typeof value.value !== 'string') bad('is not a string');
        return;
    }
  }

  private fail(...problems: string[]): never {
    throw new GraphValidationError(this.name, problems);
  }
}

function valueInfo(spec: ValueSpec): onnx.IValueInfoProto {
  return {
    name: spec.name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[spec.elemType],
        shape: {
          dim: spec.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

const utf8 = new TextEncoder();

function attributeProto(name: string, value: AttributeValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (value.kind) {
    case 'int':
      return { name, type: T.INT, i: value.value };
    case 'ints':
      return { name, type: T.INTS, ints: [...value.value] };
    case 'float':
      return { name, type: T.FLOAT, f: value.value };
    case 'floats':
      return { name, type: T.FLOATS, floats: [...value.value] };
    case 'string':
      return { name, type: T.STRING, s: utf8.encode(value.value) };
  }
}
