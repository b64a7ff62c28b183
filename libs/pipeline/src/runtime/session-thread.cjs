// The onnxruntime sessions of a model pack live in this worker thread. onnxruntime-node's
// session.run executes on the calling thread (its promise only defers the start with
// setImmediate), so on the main thread a denoiser step would freeze the event loop for its whole
// duration. Here it only blocks this thread. Plain CommonJS so that Node can start it from any
// runner (tsx, Jest, compiled output) without a TypeScript loader; keep it small.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const v8 = require('node:v8');
const vm = require('node:vm');
const ort = require('onnxruntime-node');

/**
 * A full GC of this thread's heap, or null when turned off. This thread drops a few large
 * buffers that V8 left uncollected for a long time on its own (the thread allocates little and
 * sits in native code most of the time): the 3-row velocity that onnxruntime-node copies into a
 * fresh ArrayBuffer after each denoiser step (216 MiB at 512²) was measured still held during
 * the next step's run, on top of that run's own intermediates. `gc` exists only with
 * --expose-gc, which a Worker's execArgv refuses: the flag is turned on just long enough to take
 * `gc` out of a new context, then off again. It is called as `gc()`, a forced full collection
 * (≈ 20–30 ms at 512², mostly unmapping the velocity): `gc({ type: 'major' })` took 1 ms but left
 * the velocity resident through the next run (measured: peak RSS unchanged).
 */
function loadCollector() {
  if (workerData && workerData.collectGarbage === false) return null;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    return typeof gc === 'function' ? gc : null;
  } catch {
    return null;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}
const collector = loadCollector();
/** Dropping at least this many bytes of buffers makes the thread collect after answering. */
const COLLECT_AFTER_BYTES = 16 * 2 ** 20;
const gcStats = { collections: 0, ms: 0 };

const sessions = new Map();
const pinned = new Map();
// Buffers for `rows` feeds, reused across steps (one per session and input).
const rowBuffers = new Map();

function metadata(list) {
  return (list || []).map((m) =>
    m.isTensor
      ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] }
      : { name: m.name, isTensor: false },
  );
}

function tensorOf(sessionKey, name, feed) {
  switch (feed.kind) {
    case 'data':
      return new ort.Tensor(feed.type, feed.data, feed.dims);
    case 'pinned': {
      const tensor = pinned.get(feed.ref);
      if (!tensor) throw new Error(`pinned tensor ${feed.ref} is not in the session thread`);
      return tensor;
    }
    case 'rows': {
      // `source` is a Float32Array on a SharedArrayBuffer, which onnxruntime cannot read
      // directly: copy it `rows` times into a private buffer.
      const size = feed.source.length * feed.rows;
      const key = `${sessionKey}\u0000${name}`;
      let buffer = rowBuffers.get(key);
      if (!buffer || buffer.length !== size) {
        buffer = new Float32Array(size);
        rowBuffers.set(key, buffer);
      }
      for (let r = 0; r < feed.rows; r++) buffer.set(feed.source, r * feed.source.length);
      return new ort.Tensor('float32', buffer, feed.dims);
    }
    default:
      throw new Error(`unknown feed kind ${feed.kind}`);
  }
}

/**
 * The guided Euler step on the latent, in place: v = u + p·(t − u) + a·(ta − t) from the three
 * velocity rows (uncond, text, text+audio), then x ← x + dt·v. The same float32 roundings as
 * guidance.ts's combineGuidance followed by scheduler.ts's step (render.spec checks the two
 * paths give identical frames), done here so the velocity never crosses to the main thread.
 */
function guidedEulerUpdate(x, velocity, promptCfg, audioCfg, dt) {
  const n = x.length;
  if (velocity.length !== 3 * n)
    throw new Error(`velocity has ${velocity.length} values, need 3 × ${n}`);
  for (let k = 0; k < n; k++) {
    const u = velocity[k];
    const t = velocity[n + k];
    const ta = velocity[2 * n + k];
    x[k] = x[k] + dt * Math.fround(u + promptCfg * (t - u) + audioCfg * (ta - t));
  }
}

/** Forgets the session's row buffers; returns their size in bytes. */
function dropRowBuffers(sessionKey) {
  let bytes = 0;
  for (const [key, buffer] of [...rowBuffers]) {
    if (key.startsWith(`${sessionKey}\u0000`)) {
      bytes += buffer.byteLength;
      rowBuffers.delete(key);
    }
  }
  return bytes;
}

async function handle(message) {
  switch (message.op) {
    case 'create': {
      const session = await ort.InferenceSession.create(message.path, message.options);
      sessions.set(message.key, session);
      return {
        value: {
          options: message.options,
          inputNames: [...session.inputNames],
          outputNames: [...session.outputNames],
          inputMetadata: metadata(session.inputMetadata),
          outputMetadata: metadata(session.outputMetadata),
        },
      };
    }
    case 'run': {
      const session = sessions.get(message.key);
      if (!session) throw new Error(`no session ${message.key}`);
      const feeds = {};
      for (const [name, feed] of Object.entries(message.feeds))
        feeds[name] = tensorOf(message.key, name, feed);
      const started = performance.now();
      const results = await session.run(feeds, message.fetches);
      const runMs = performance.now() - started;
      let updateMs = 0;
      let dropped = 0;
      if (message.update) {
        // The output feeds the guided Euler step here and is not sent back.
        const { output, x, promptCfg, audioCfg, dt } = message.update;
        const velocity = results[output];
        if (!velocity || velocity.type !== 'float32')
          throw new Error(`output ${output} must be float32 for the update`);
        const updateStarted = performance.now();
        guidedEulerUpdate(x, velocity.data, promptCfg, audioCfg, dt);
        updateMs = performance.now() - updateStarted;
        delete results[output];
        dropped += velocity.data.byteLength;
      }
      const outputs = {};
      const transfer = [];
      for (const [name, tensor] of Object.entries(results)) {
        outputs[name] = { type: tensor.type, dims: [...tensor.dims], data: tensor.data };
        const buffer = tensor.data.buffer;
        if (!transfer.includes(buffer)) transfer.push(buffer);
      }
      return { value: { outputs, runMs, updateMs }, transfer, dropped };
    }
    case 'pin': {
      // `repeat` rows of `data` along a new first axis, tiled here rather than on the main thread.
      let data = message.data;
      if (message.repeat > 1) {
        data = new data.constructor(message.data.length * message.repeat);
        for (let r = 0; r < message.repeat; r++) data.set(message.data, r * message.data.length);
      }
      pinned.set(message.ref, new ort.Tensor(message.type, data, message.dims));
      return { value: null, dropped: message.repeat > 1 ? message.data.byteLength : 0 };
    }
    case 'unpin': {
      let dropped = 0;
      for (const ref of message.refs) {
        const tensor = pinned.get(ref);
        if (tensor) dropped += tensor.data.byteLength;
        pinned.delete(ref);
      }
      if (message.dropRows) dropped += dropRowBuffers(message.key);
      return { value: null, dropped };
    }
    case 'gc-stats':
      return {
        value: {
          enabled: collector !== null,
          ...gcStats,
          arrayBuffers: process.memoryUsage().arrayBuffers,
        },
      };
    case 'release': {
      const session = sessions.get(message.key);
      sessions.delete(message.key);
      const dropped = dropRowBuffers(message.key);
      if (session) await session.release();
      return { value: null, dropped };
    }
    default:
      throw new Error(`unknown op ${message.op}`);
  }
}

parentPort.on('message', (message) => {
  handle(message).then(
    ({ value, transfer, dropped }) => {
      parentPort.postMessage({ id: message.id, ok: true, value }, transfer || []);
      // After answering, so the caller goes on meanwhile; before the next message is handled,
      // so the next run starts without the dropped buffers.
      if (collector && dropped >= COLLECT_AFTER_BYTES) {
        const started = performance.now();
        collector();
        gcStats.collections++;
        gcStats.ms += performance.now() - started;
      }
    },
    (error) =>
      parentPort.postMessage({
        id: message.id,
        ok: false,
        error: {
          name: error && error.name,
          message: error && error.message ? error.message : String(error),
        },
      }),
  );
});
