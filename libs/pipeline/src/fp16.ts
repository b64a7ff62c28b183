// IEEE 754 binary16 at graph boundaries. The Node binding of onnxruntime passes float16 tensors
// as Uint16Array bit patterns (Node 20 has no Float16Array), so the pipeline converts here.

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** The binary16 bit pattern nearest to `value` (round half to even; overflow → ±Infinity). */
export function float32ToFloat16Bits(value: number): number {
  scratch[0] = value;
  const bits = scratchBits[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) {
    // Infinity stays infinity; NaN stays a (quiet) NaN.
    return sign | 0x7c00 | (mantissa !== 0 ? 0x200 | (mantissa >>> 13) : 0);
  }
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half (or zero): m · 2^-24 with m = 1.mantissa · 2^(halfExponent + 9).
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    if (rest > midpoint || (rest === midpoint && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** The value of a binary16 bit pattern. */
export function float16BitsToFloat32(bits: number): number {
  const negative = (bits & 0x8000) !== 0;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  let magnitude: number;
  if (exponent === 0) magnitude = mantissa * 2 ** -24;
  else if (exponent === 0x1f) magnitude = mantissa === 0 ? Number.POSITIVE_INFINITY : Number.NaN;
  else magnitude = (1 + mantissa / 1024) * 2 ** (exponent - 15);
  return negative ? -magnitude : magnitude;
}

let decodeTable: Float32Array | undefined;

/** All 65536 binary16 values, built once (256 KB): decoding is then one lookup per element. */
function table(): Float32Array {
  if (!decodeTable) {
    decodeTable = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) decodeTable[bits] = float16BitsToFloat32(bits);
  }
  return decodeTable;
}

/** Float32 values → binary16 bit patterns (a new Uint16Array unless `out` is given). */
export function toFloat16(values: ArrayLike<number>, out?: Uint16Array): Uint16Array {
  const target = out ?? new Uint16Array(values.length);
  for (let k = 0; k < values.length; k++) target[k] = float32ToFloat16Bits(values[k] as number);
  return target;
}

/** Binary16 bit patterns → Float32 values (a new Float32Array unless `out` is given). */
export function fromFloat16(bits: Uint16Array, out?: Float32Array): Float32Array {
  const lookup = table();
  const target = out ?? new Float32Array(bits.length);
  for (let k = 0; k < bits.length; k++) target[k] = lookup[bits[k] as number] as number;
  return target;
}
