// The onnxruntime sessions of a model pack live in this worker thread. onnxruntime-node's
// session.run executes on the calling thread (its promise only defers the start with
// setImmediate), so on the main thread a denoiser step would freeze the event loop for its whole
// duration. Here it only blocks this thread. Plain CommonJS so that Node can start it from any
// runner (tsx, Jest, compiled output) without a TypeScript loader; keep it small.
'use strict';
const { parentPort } = require('node:worker_threads');
const ort = require('onnxruntime-node');

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

function dropRowBuffers(sessionKey) {
  for (const key of [...rowBuffers.keys()])
    if (key.startsWith(`${sessionKey}\u0000`)) rowBuffers.delete(key);
}

async function handle(message) {
  switch (message.op) {
    case 'create': {
      const session = await ort.InferenceSession.create(message.path, message.options);
      sessions.set(message.key, session);
      return {
        value: {
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
      }
      const outputs = {};
      const transfer = [];
      for (const [name, tensor] of Object.entries(results)) {
        outputs[name] = { type: tensor.type, dims: [...tensor.dims], data: tensor.data };
        const buffer = tensor.data.buffer;
        if (!transfer.includes(buffer)) transfer.push(buffer);
      }
      return { value: { outputs, runMs, updateMs }, transfer };
    }
    case 'pin': {
      // `repeat` rows of `data` along a new first axis, tiled here rather than on the main thread.
      let data = message.data;
      if (message.repeat > 1) {
        data = new data.constructor(message.data.length * message.repeat);
        for (let r = 0; r < message.repeat; r++) data.set(message.data, r * message.data.length);
      }
      pinned.set(message.ref, new ort.Tensor(message.type, data, message.dims));
      return { value: null };
    }
    case 'unpin':
      for (const ref of message.refs) pinned.delete(ref);
      if (message.dropRows) dropRowBuffers(message.key);
      return { value: null };
    case 'release': {
      const session = sessions.get(message.key);
      sessions.delete(message.key);
      dropRowBuffers(message.key);
      if (session) await session.release();
      return { value: null };
    }
    default:
      throw new Error(`unknown op ${message.op}`);
  }
}

parentPort.on('message', (message) => {
  handle(message).then(
    ({ value, transfer }) =>
      parentPort.postMessage({ id: message.id, ok: true, value }, transfer || []),
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
