import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

/** A typed array an onnxruntime tensor can hold at our graph boundaries. */
export type TensorData = Float32Array | Uint16Array | BigInt64Array;
export type TensorType = 'float32' | 'float16' | 'int64';

/** An input for a run in the session thread. */
export type ThreadFeed =
  /** Data sent with the request (copied, or moved when listed for transfer). */
  | { kind: 'data'; type: TensorType; data: TensorData; dims: readonly number[] }
  /** A tensor pinned in the thread earlier (constant across many runs). */
  | { kind: 'pinned'; ref: string }
  /** `source` (on a SharedArrayBuffer) repeated `rows` times: no copy on this thread. */
  | { kind: 'rows'; source: Float32Array; rows: number; dims: readonly number[] };

/** The guided Euler step the thread applies after a denoiser run (see session-thread.cjs). */
export interface ThreadUpdate {
  /** The velocity output [3, ...x]. */
  output: string;
  /** The latent, on a SharedArrayBuffer, updated in place. */
  x: Float32Array;
  promptCfg: number;
  audioCfg: number;
  /** σ_next − σ. */
  dt: number;
}

export interface ThreadOutput {
  type: TensorType;
  data: TensorData;
  dims: number[];
}

export interface ThreadGcStats {
  enabled: boolean;
  collections: number;
  ms: number;
  arrayBuffers: number;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * The worker thread that owns a pack's onnxruntime sessions (see session-thread.cjs for why).
 * Requests are answered in order; the thread keeps the process alive only while one is pending.
 */
export class SessionThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;

  /**
   * `collectGarbage` (default true): the thread runs a full GC of its own heap after dropping
   * ≥ 16 MiB of buffers (a denoiser step's velocity, unpinned clip inputs), so they are gone
   * before the next run (see session-thread.cjs).
   */
  constructor(options: { collectGarbage?: boolean } = {}) {
    this.worker = new Worker(join(__dirname, 'session-thread.cjs'), {
      workerData: { collectGarbage: options.collectGarbage ?? true },
    });
    this.worker.unref();
    this.worker.on(
      'message',
      (message: { id: number; ok: boolean; value?: unknown; error?: { message: string } }) => {
        const request = this.pending.get(message.id);
        if (!request) return;
        this.pending.delete(message.id);
        if (this.pending.size === 0) this.worker.unref();
        if (message.ok) request.resolve(message.value);
        else request.reject(new Error(message.error?.message ?? 'session thread error'));
      },
    );
    const fail = (error: Error): void => {
      this.failure = error;
      for (const request of this.pending.values()) request.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`session thread exited (code ${code})`)));
  }

  request<T>(message: Record<string, unknown>, transfer: readonly ArrayBuffer[] = []): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.ref();
      this.worker.postMessage({ ...message, id }, transfer as ArrayBuffer[]);
    });
  }

  /**
   * Whether the thread collects its garbage, the collections and their time so far, and the
   * bytes of ArrayBuffers the thread's heap holds now (live or not yet collected).
   */
  gcStats(): Promise<ThreadGcStats> {
    return this.request({ op: 'gc-stats' });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('session thread closed');
    await this.worker.terminate();
  }
}

interface SessionInfo {
  /** The options the thread created the session with (echoed back). */
  options: ort.InferenceSession.SessionOptions;
  inputNames: string[];
  outputNames: string[];
  inputMetadata: ort.InferenceSession.ValueMetadata[];
  outputMetadata: ort.InferenceSession.ValueMetadata[];
}

let pinCounter = 0;

/**
 * One onnxruntime session living in a SessionThread. Implements onnxruntime's InferenceSession
 * interface (so code written against onnxruntime, such as the face helpers, can use it), plus
 * `runFeeds` with pinned and shared-row inputs for the denoising loop.
 */
export class ThreadSession implements ort.InferenceSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  /** The session options the thread created this session with. */
  readonly options: Readonly<ort.InferenceSession.SessionOptions>;

  private constructor(
    private readonly thread: SessionThread,
    private readonly key: string,
    info: SessionInfo,
  ) {
    this.inputNames = info.inputNames;
    this.outputNames = info.outputNames;
    this.inputMetadata = info.inputMetadata;
    this.outputMetadata = info.outputMetadata;
    this.options = info.options;
  }

  static async create(
    thread: SessionThread,
    key: string,
    path: string,
    options: ort.InferenceSession.SessionOptions,
  ): Promise<ThreadSession> {
    const info = await thread.request<SessionInfo>({ op: 'create', key, path, options });
    return new ThreadSession(thread, key, info);
  }

  /**
   * Runs with thread feeds; `runMs` is the time inside session.run in the thread. With `update`,
   * the thread applies the guided Euler step to `update.x` from output `update.output` (a
   * batch-of-3 float32 velocity), which is then not returned; `updateMs` is its time.
   */
  runFeeds(
    feeds: Readonly<Record<string, ThreadFeed>>,
    fetches: readonly string[],
    transfer: readonly ArrayBuffer[] = [],
    update?: ThreadUpdate,
  ): Promise<{ outputs: Record<string, ThreadOutput>; runMs: number; updateMs: number }> {
    return this.thread.request({ op: 'run', key: this.key, feeds, fetches, update }, transfer);
  }

  /**
   * Keeps `data` (repeated `repeat` times along a new first axis of `dims`) in the thread for
   * later runs; `transfer` moves its buffer instead of copying.
   */
  async pin(
    type: TensorType,
    data: TensorData,
    dims: readonly number[],
    options: { transfer?: boolean; repeat?: number } = {},
  ): Promise<string> {
    const ref = `${this.key}#${++pinCounter}`;
    await this.thread.request(
      { op: 'pin', ref, type, data, dims, repeat: options.repeat ?? 1 },
      options.transfer ? [data.buffer as ArrayBuffer] : [],
    );
    return ref;
  }

  /**
   * Frees pinned tensors; with `dropRows`, also the buffers the thread keeps for this session's
   * shared-row inputs (a 512² denoiser batch holds several hundred MB there between steps).
   */
  async unpin(refs: readonly string[], dropRows = false): Promise<void> {
    if (refs.length > 0 || dropRows) {
      await this.thread.request({ op: 'unpin', key: this.key, refs, dropRows });
    }
  }

  // onnxruntime's InferenceSession surface.
  run(
    feeds: ort.InferenceSession.FeedsType,
    fetchesOrOptions?: ort.InferenceSession.FetchesType | ort.InferenceSession.RunOptions,
  ): Promise<ort.InferenceSession.ReturnType>;
  run(
    feeds: ort.InferenceSession.FeedsType,
    fetches: ort.InferenceSession.FetchesType,
    options?: ort.InferenceSession.RunOptions,
  ): Promise<ort.InferenceSession.ReturnType>;
  async run(
    feeds: ort.InferenceSession.FeedsType,
    fetches?: ort.InferenceSession.FetchesType | ort.InferenceSession.RunOptions,
  ): Promise<ort.InferenceSession.ReturnType> {
    const threadFeeds: Record<string, ThreadFeed> = {};
    for (const [name, tensor] of Object.entries(feeds)) {
      threadFeeds[name] = {
        kind: 'data',
        type: tensor.type as TensorType,
        data: tensor.data as TensorData,
        dims: [...tensor.dims],
      };
    }
    const names = Array.isArray(fetches)
      ? (fetches as string[])
      : fetches &&
          typeof fetches === 'object' &&
          Object.keys(fetches).every((k) => this.outputNames.includes(k))
        ? Object.keys(fetches)
        : [...this.outputNames];
    const { outputs } = await this.runFeeds(
      threadFeeds,
      names.length > 0 ? names : [...this.outputNames],
    );
    const result: Record<string, ort.Tensor> = {};
    for (const [name, output] of Object.entries(outputs)) {
      result[name] = new ort.Tensor(output.type, output.data, output.dims);
    }
    return result;
  }

  async release(): Promise<void> {
    await this.thread.request({ op: 'release', key: this.key });
  }

  startProfiling(): void {
    // Profiling is not exposed across the thread boundary.
  }

  endProfiling(): void {
    // See startProfiling.
  }
}
