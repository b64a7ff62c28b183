import type { StageName, TensorSpec } from '@likeness/contracts';
import type * as ort from 'onnxruntime-node';
import { ModelPackError } from './errors';
import { fromFloat16, toFloat16 } from './fp16';
import type {
  TensorData,
  ThreadFeed,
  ThreadOutput,
  ThreadSession,
  ThreadUpdate,
} from './runtime/session-thread';

/** A tensor on the JS side: data in row-major order and its shape. */
export interface HostTensor<T extends Float32Array | BigInt64Array = Float32Array> {
  data: T;
  dims: readonly number[];
}

/** A tensor kept in the session thread across runs (see `Stage.pin`). */
export interface PinnedFeed {
  pinned: string;
  dims: readonly number[];
}

/**
 * `source` (a Float32Array on a SharedArrayBuffer) repeated `rows` times along a new first axis:
 * the session thread reads it directly, so a step does not copy the latent on the main thread.
 */
export interface RowsFeed {
  source: Float32Array;
  rows: number;
  dims: readonly number[];
}

export type Feed = HostTensor<Float32Array> | HostTensor<BigInt64Array> | PinnedFeed | RowsFeed;

/** The part of a manifest stage a Stage needs. */
export interface StageSpec {
  file: string;
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
}

function sizeOf(dims: readonly number[]): number {
  let size = 1;
  for (const d of dims) size *= d;
  return size;
}

function isPinned(feed: Feed): feed is PinnedFeed {
  return 'pinned' in feed;
}

function isRows(feed: Feed): feed is RowsFeed {
  return 'source' in feed;
}

/** On a SharedArrayBuffer (checked by tag: Jest's sandbox has its own constructors). */
export function isShared(array: Float32Array): boolean {
  return Object.prototype.toString.call(array.buffer) === '[object SharedArrayBuffer]';
}

/** A zeroed Float32Array on a SharedArrayBuffer, readable by the session thread without a copy. */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

/**
 * One stage of a loaded pack: its manifest spec and its session (in the pack's session thread).
 * `run` feeds exactly the inputs the manifest declares, checks every shape against the manifest
 * (fixed sizes must match, a symbolic size must take one value across the run), converts
 * float32 ↔ float16 at the boundary where the manifest says float16, and returns float32 outputs.
 */
export class Stage {
  /**
   * Runs, milliseconds inside session.run (in the thread), of guided Euler updates done in the
   * thread, and wall time of `run` calls.
   */
  readonly stats = { runs: 0, runMs: 0, updateMs: 0, wallMs: 0 };

  constructor(
    readonly name: StageName,
    readonly spec: StageSpec,
    readonly session: ThreadSession,
  ) {}

  /** The manifest's spec of input `name`, if declared. */
  input(name: string): TensorSpec | undefined {
    return this.spec.inputs.find((t) => t.name === name);
  }

  /** The manifest's spec of output `name`, if declared. */
  output(name: string): TensorSpec | undefined {
    return this.spec.outputs.find((t) => t.name === name);
  }

  has(name: string): boolean {
    return this.input(name) !== undefined;
  }

  /**
   * Keeps input `name` in the session thread for later runs: `rows` copies of `row` stacked along
   * a new first axis of `dims` (the thread does the tiling). With `transfer`, the buffer of
   * `row.data` moves to the thread and is unusable here afterwards.
   */
  async pin(
    name: string,
    row: Float32Array | BigInt64Array,
    dims: readonly number[],
    options: { rows?: number; transfer?: boolean } = {},
  ): Promise<PinnedFeed> {
    const spec = this.input(name);
    if (!spec)
      throw new ModelPackError(
        'contract',
        'the pipeline pinned an undeclared input',
        this.name,
        name,
      );
    const rows = options.rows ?? 1;
    this.checkDims(spec, dims, new Map());
    this.checkSize(spec, row.length * rows, dims);
    const { data, converted } = this.convert(spec, row);
    const pinned = await this.session.pin(spec.dtype, data, dims, {
      transfer: options.transfer === true || converted,
      repeat: rows,
    });
    return { pinned, dims: [...dims] };
  }

  /** Frees pinned inputs; `dropRows` also frees the thread's buffers for shared-row inputs. */
  async unpin(feeds: readonly PinnedFeed[], dropRows = false): Promise<void> {
    await this.session.unpin(
      feeds.map((f) => f.pinned),
      dropRows,
    );
  }

  /**
   * Runs the stage. With `update`, the thread applies the guided Euler step to `update.x` from
   * the (float32) output `update.output`, which is then not returned.
   */
  async run(
    feeds: Readonly<Record<string, Feed>>,
    update?: ThreadUpdate,
  ): Promise<Record<string, HostTensor>> {
    if (update) {
      const spec = this.output(update.output);
      if (!spec || spec.dtype !== 'float32' || !isShared(update.x)) {
        throw new ModelPackError(
          'contract',
          'an in-thread update needs a float32 output and a shared latent',
          this.name,
          update.output,
        );
      }
    }
    const symbols = new Map<string, number>();
    const threadFeeds: Record<string, ThreadFeed> = {};
    const transfer: ArrayBuffer[] = [];
    for (const spec of this.spec.inputs) {
      const feed = feeds[spec.name];
      if (!feed)
        throw new ModelPackError(
          'contract',
          'declared input was not produced',
          this.name,
          spec.name,
        );
      this.checkDims(spec, feed.dims, symbols);
      if (isPinned(feed)) {
        threadFeeds[spec.name] = { kind: 'pinned', ref: feed.pinned };
      } else if (isRows(feed)) {
        this.checkSize(spec, feed.source.length * feed.rows, feed.dims);
        if (spec.dtype === 'float32' && isShared(feed.source)) {
          threadFeeds[spec.name] = {
            kind: 'rows',
            source: feed.source,
            rows: feed.rows,
            dims: [...feed.dims],
          };
        } else {
          const rows = new Float32Array(feed.source.length * feed.rows);
          for (let r = 0; r < feed.rows; r++) rows.set(feed.source, r * feed.source.length);
          const { data } = this.convert(spec, rows);
          threadFeeds[spec.name] = { kind: 'data', type: spec.dtype, data, dims: [...feed.dims] };
          transfer.push(data.buffer as ArrayBuffer);
        }
      } else {
        this.checkSize(spec, feed.data.length, feed.dims);
        const { data, converted } = this.convert(spec, feed.data);
        threadFeeds[spec.name] = { kind: 'data', type: spec.dtype, data, dims: [...feed.dims] };
        if (converted) transfer.push(data.buffer as ArrayBuffer);
      }
    }
    for (const name of Object.keys(feeds)) {
      if (!this.input(name)) {
        throw new ModelPackError(
          'contract',
          'the pipeline fed an undeclared input',
          this.name,
          name,
        );
      }
    }

    const started = performance.now();
    let result: { outputs: Record<string, ThreadOutput>; runMs: number; updateMs: number };
    try {
      result = await this.session.runFeeds(
        threadFeeds,
        this.spec.outputs.map((t) => t.name),
        transfer,
        update,
      );
    } catch (error) {
      throw new ModelPackError('run', `session.run failed: ${(error as Error).message}`, this.name);
    } finally {
      this.stats.runs++;
      this.stats.wallMs += performance.now() - started;
    }
    this.stats.runMs += result.runMs;
    this.stats.updateMs += result.updateMs;

    const outputs: Record<string, HostTensor> = {};
    for (const spec of this.spec.outputs) {
      if (spec.name === update?.output) continue;
      const value = result.outputs[spec.name];
      if (!value) throw new ModelPackError('run', 'missing from the results', this.name, spec.name);
      if (value.type !== spec.dtype) {
        throw new ModelPackError(
          'run',
          `is ${value.type}, the manifest says ${spec.dtype}`,
          this.name,
          spec.name,
        );
      }
      this.checkDims(spec, value.dims, symbols);
      outputs[spec.name] = { data: this.toFloat32(spec, value.data), dims: value.dims };
    }
    return outputs;
  }

  /** Runs the stage and returns output `name` (which the manifest must declare). */
  async runOne(feeds: Readonly<Record<string, Feed>>, name: string): Promise<HostTensor> {
    if (!this.output(name)) {
      throw new ModelPackError('contract', 'the pipeline needs this output', this.name, name);
    }
    return (await this.run(feeds))[name] as HostTensor;
  }

  private checkSize(spec: TensorSpec, length: number, dims: readonly number[]): void {
    if (length !== sizeOf(dims)) {
      throw new ModelPackError(
        'run',
        `has ${length} values for shape [${dims.join(', ')}]`,
        this.name,
        spec.name,
      );
    }
  }

  private checkDims(spec: TensorSpec, dims: readonly number[], symbols: Map<string, number>): void {
    const where = `shape [${dims.join(', ')}] vs manifest [${spec.shape.join(', ')}]`;
    if (dims.length !== spec.shape.length) {
      throw new ModelPackError('run', `rank differs: ${where}`, this.name, spec.name);
    }
    spec.shape.forEach((declared, axis) => {
      const actual = dims[axis] as number;
      if (typeof declared === 'number') {
        if (actual !== declared) {
          throw new ModelPackError(
            'run',
            `axis ${axis} is ${actual}, fixed at ${declared}: ${where}`,
            this.name,
            spec.name,
          );
        }
        return;
      }
      const bound = symbols.get(declared);
      if (bound === undefined) symbols.set(declared, actual);
      else if (bound !== actual) {
        throw new ModelPackError(
          'run',
          `axis ${axis} ("${declared}") is ${actual} but "${declared}" is ${bound} elsewhere in this run: ${where}`,
          this.name,
          spec.name,
        );
      }
    });
  }

  /** `data` in the input's dtype; `converted` when it is a new array (safe to transfer). */
  private convert(
    spec: TensorSpec,
    data: Float32Array | BigInt64Array,
  ): { data: TensorData; converted: boolean } {
    switch (spec.dtype) {
      case 'float32':
        if (!(data instanceof Float32Array)) {
          throw new ModelPackError(
            'contract',
            'float32 input given integer data',
            this.name,
            spec.name,
          );
        }
        return { data, converted: false };
      case 'float16':
        return {
          data: toFloat16(data instanceof Float32Array ? data : Float32Array.from(data, Number)),
          converted: true,
        };
      case 'int64': {
        if (data instanceof BigInt64Array) return { data, converted: false };
        const ints = new BigInt64Array(data.length);
        for (let k = 0; k < data.length; k++) ints[k] = BigInt(Math.round(data[k] as number));
        return { data: ints, converted: true };
      }
      default: {
        const never: never = spec.dtype;
        throw new ModelPackError(
          'contract',
          `unsupported dtype ${String(never)}`,
          this.name,
          spec.name,
        );
      }
    }
  }

  private toFloat32(spec: TensorSpec, data: TensorData): Float32Array {
    switch (spec.dtype) {
      case 'float32':
        return data as Float32Array;
      case 'float16':
        return fromFloat16(data as Uint16Array);
      case 'int64':
        return Float32Array.from(data as BigInt64Array, Number);
      default: {
        const never: never = spec.dtype;
        throw new ModelPackError(
          'contract',
          `unsupported dtype ${String(never)}`,
          this.name,
          spec.name,
        );
      }
    }
  }
}

/**
 * Compares a session's real inputs/outputs with the manifest: every declared input must be a
 * graph input and every graph input declared (the pipeline can only feed what the manifest
 * names), every declared output must exist, and where onnxruntime reports metadata the dtype,
 * rank and fixed sizes must agree.
 */
export function checkGraphAgainstManifest(
  stage: StageName,
  spec: StageSpec,
  session: Pick<
    ort.InferenceSession,
    'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata'
  >,
): void {
  for (const input of spec.inputs) {
    if (!session.inputNames.includes(input.name)) {
      throw new ModelPackError(
        'graph-mismatch',
        `declared in the manifest but the graph has no such input (graph inputs: ${session.inputNames.join(', ')})`,
        stage,
        input.name,
      );
    }
  }
  for (const name of session.inputNames) {
    if (!spec.inputs.some((t) => t.name === name)) {
      throw new ModelPackError(
        'graph-mismatch',
        'the graph needs this input but the manifest does not declare it',
        stage,
        name,
      );
    }
  }
  for (const output of spec.outputs) {
    if (!session.outputNames.includes(output.name)) {
      throw new ModelPackError(
        'graph-mismatch',
        `declared in the manifest but the graph has no such output (graph outputs: ${session.outputNames.join(', ')})`,
        stage,
        output.name,
      );
    }
  }
  const metadata = [
    ...safeMetadata(() => session.inputMetadata),
    ...safeMetadata(() => session.outputMetadata),
  ];
  for (const spec_ of [...spec.inputs, ...spec.outputs]) {
    const meta = metadata.find((m) => m.name === spec_.name);
    if (!meta || !meta.isTensor) continue;
    if (meta.type !== spec_.dtype) {
      throw new ModelPackError(
        'graph-mismatch',
        `graph dtype is ${meta.type}, the manifest says ${spec_.dtype}`,
        stage,
        spec_.name,
      );
    }
    if (meta.shape.length === 0 && spec_.shape.length !== 0) continue; // shape not recorded in the graph
    if (meta.shape.length !== spec_.shape.length) {
      throw new ModelPackError(
        'graph-mismatch',
        `graph rank ${meta.shape.length} [${meta.shape.join(', ')}], the manifest says [${spec_.shape.join(', ')}]`,
        stage,
        spec_.name,
      );
    }
    meta.shape.forEach((graphDim, axis) => {
      const declared = spec_.shape[axis];
      if (typeof graphDim === 'number' && graphDim > 0 && declared !== graphDim) {
        throw new ModelPackError(
          'graph-mismatch',
          `graph fixes axis ${axis} to ${graphDim}, the manifest says ${String(declared)}`,
          stage,
          spec_.name,
        );
      }
    });
  }
}

function safeMetadata(
  read: () => readonly ort.InferenceSession.ValueMetadata[],
): readonly ort.InferenceSession.ValueMetadata[] {
  try {
    return read() ?? [];
  } catch {
    return []; // older bindings have no metadata: names were checked above
  }
}
