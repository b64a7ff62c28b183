// onnxruntime-node hands back output data as typed arrays of the host realm, while
// onnxruntime-common (loaded inside Jest's sandbox) checks them with `instanceof` against the
// sandbox's constructors and throws "A float32 tensor's data must be type of function
// Float32Array()". Jest already shares ArrayBuffer and Uint8Array with the host; share the other
// typed arrays too, so session.run works under Jest exactly as in a plain Node process.
const { TestEnvironment } = require('jest-environment-node');

const TYPED_ARRAYS = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class HostTypedArrayEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED_ARRAYS) this.global[name] = globalThis[name];
  }
}

module.exports = HostTypedArrayEnvironment;
