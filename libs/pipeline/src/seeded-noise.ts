import { PipelineInputError } from './errors';

/** Largest accepted seed: seeds are non-negative safe integers (uint32 seeds are a subset). */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** `seed` if it is an integer in [0, 2^53 − 1], else a PipelineInputError on `seed`. */
export function validateSeed(seed: number): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new PipelineInputError(
      'seed',
      `must be an integer in [0, ${MAX_SEED}], got ${String(seed)}`,
    );
  }
  return seed;
}

const MASK64 = (1n << 64n) - 1n;

/**
 * SplitMix64 (Steele, Lea & Flood), used to expand a seed into generator state. BigInt arithmetic,
 * so it only runs a few times per generator.
 */
export class SplitMix64 {
  private state: bigint;

  constructor(seed: bigint) {
    this.state = BigInt.asUintN(64, seed);
  }

  /** The next 64-bit output as an unsigned BigInt. */
  next(): bigint {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }
}

/**
 * xoshiro128** 1.1 (Blackman & Vigna): 32-bit generator, period 2^128 − 1, pure 32-bit integer
 * math. The stream for a seed is fixed forever, because renders record their seed to be
 * reproducible: do not change this algorithm or how seeds expand into state.
 */
export class Xoshiro128StarStar {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(s0: number, s1: number, s2: number, s3: number) {
    if ((s0 | s1 | s2 | s3) === 0) throw new PipelineInputError('state', 'must not be all zero');
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
  }

  /** A generator with the given raw state (four uint32 words, not all zero). */
  static fromState(state: readonly [number, number, number, number]): Xoshiro128StarStar {
    for (const word of state) {
      if (!Number.isInteger(word) || word < 0 || word > 0xffffffff) {
        throw new PipelineInputError('state', `words must be uint32, got [${state.join(', ')}]`);
      }
    }
    return new Xoshiro128StarStar(state[0], state[1], state[2], state[3]);
  }

  /** A generator whose state is two SplitMix64 outputs of `seed` (a validated seed). */
  static fromSeed(seed: number): Xoshiro128StarStar {
    const sm = new SplitMix64(BigInt(validateSeed(seed)));
    const a = sm.next();
    const b = sm.next();
    const words = [a & 0xffffffffn, a >> 32n, b & 0xffffffffn, b >> 32n].map(Number);
    // Two consecutive SplitMix64 outputs are never both zero, so the state is valid.
    return new Xoshiro128StarStar(
      words[0] as number,
      words[1] as number,
      words[2] as number,
      words[3] as number,
    );
  }

  /** The next uint32. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform number in the open interval (0, 1): (u + 0.5) / 2^32. */
  nextOpenUnit(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Fills `out` with standard-normal samples from `rng` (Box–Muller: each pair of uniforms gives
 * two independent normals; an odd tail uses the cosine half of one more pair).
 */
export function fillStandardNormal(rng: Xoshiro128StarStar, out: Float32Array): Float32Array {
  const n = out.length;
  for (let k = 0; k < n; k += 2) {
    const radius = Math.sqrt(-2 * Math.log(rng.nextOpenUnit()));
    const angle = 2 * Math.PI * rng.nextOpenUnit();
    out[k] = radius * Math.cos(angle);
    if (k + 1 < n) out[k + 1] = radius * Math.sin(angle);
  }
  return out;
}

/** `length` standard-normal samples for `seed`: the same seed always gives the same values. */
export function seededNormal(seed: number, length: number): Float32Array {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new PipelineInputError('length', `must be a non-negative integer, got ${String(length)}`);
  }
  return fillStandardNormal(Xoshiro128StarStar.fromSeed(seed), new Float32Array(length));
}

/**
 * The generator of clip `clip` of a render with `seed`: its state is SplitMix64 outputs 2·clip
 * and 2·clip + 1 of the seed, so clip 0 is exactly `Xoshiro128StarStar.fromSeed(seed)` and every
 * clip has its own stream, fixed by (seed, clip) alone (a resumed render gets the same noise).
 */
export function clipNoiseGenerator(seed: number, clip: number): Xoshiro128StarStar {
  validateSeed(seed);
  if (!Number.isSafeInteger(clip) || clip < 0) {
    throw new PipelineInputError('clip', `must be a non-negative integer, got ${String(clip)}`);
  }
  const sm = new SplitMix64(BigInt(seed));
  for (let k = 0; k < 2 * clip; k++) sm.next();
  const a = sm.next();
  const b = sm.next();
  // Consecutive SplitMix64 outputs differ, so at most one is zero: the state is valid.
  return Xoshiro128StarStar.fromState([
    Number(a & 0xffffffffn),
    Number(a >> 32n),
    Number(b & 0xffffffffn),
    Number(b >> 32n),
  ]);
}

/** `length` standard normals for clip `clip` of a render with `seed`. */
export function clipNoise(seed: number, clip: number, length: number): Float32Array {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new PipelineInputError('length', `must be a non-negative integer, got ${String(length)}`);
  }
  return fillStandardNormal(clipNoiseGenerator(seed, clip), new Float32Array(length));
}
