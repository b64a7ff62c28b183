// Runs face-api's own FaceRecognitionNet (TensorFlow.js, CPU backend, bundled in the package's
// ESM build) on 150×150 RGB crops, so tests can compare our ONNX conversion with the original.
// stdin: {"crops": [base64 of 150·150·3 bytes, RGB, row-major], ...}
// stdout: {"version", "tfjs", "backend", "descriptors": [[128 numbers], ...], "ms": [...]}
// ESM on purpose: the bundle is ESM-only and Jest's CommonJS sandbox cannot import it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
// TensorFlow.js greets on stdout ("looks like you are running TensorFlow.js in Node.js"): keep
// stdout for the result.
console.log = console.info = (...args) => console.error(...args);
const root = dirname(require.resolve('@vladmandic/face-api/package.json'));

// The bundle picks TensorFlow.js's Node platform when it sees Node, and that platform needs
// `util`, which the browser bundle stubs out. Looking like a worker makes it take the browser
// platform, which only needs globals Node has (fetch, TextEncoder, performance).
globalThis.WorkerGlobalScope = class {};
const faceapi = await import(join(root, 'dist', 'face-api.esm.js'));
delete globalThis.WorkerGlobalScope;
const tf = faceapi.tf;
await tf.setBackend('cpu');
await tf.ready();

const manifestFile = join(root, 'model', 'face_recognition_model-weights_manifest.json');
const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
const bin = readFileSync(join(root, 'model', manifest[0].paths[0]));
const weightMap = tf.io.decodeWeights(
  bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
  manifest[0].weights,
);
await faceapi.nets.faceRecognitionNet.loadFromWeightMap(weightMap);

const input = JSON.parse(readFileSync(0, 'utf8'));
const descriptors = [];
const ms = [];
for (const crop of input.crops) {
  const rgb = Buffer.from(crop, 'base64');
  const tensor = tf.tensor3d(Float32Array.from(rgb), [150, 150, 3], 'float32');
  const start = performance.now();
  const descriptor = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(tensor);
  ms.push(performance.now() - start);
  tensor.dispose();
  descriptors.push(Array.from(descriptor));
}
process.stdout.write(
  JSON.stringify({
    version: faceapi.version,
    tfjs: tf.version_core,
    backend: tf.getBackend(),
    descriptors,
    ms,
  }),
);
