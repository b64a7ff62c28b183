import {
  MAX_SEED,
  PipelineInputError,
  SplitMix64,
  clipNoise,
  Xoshiro128StarStar,
  fillStandardNormal,
  seededNormal,
  validateSeed,
} from './index';

function stats(values: Float32Array): { mean: number; std: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / values.length) };
}

describe('SplitMix64', () => {
  it('matches the reference outputs for seed 0', () => {
    const sm = new SplitMix64(0n);
    expect(sm.next()).toBe(0xe220a8397b1dcdafn);
    expect(sm.next()).toBe(0x6e789e6aa1b965f4n);
    expect(sm.next()).toBe(0x06c45d188009454fn);
  });
});

describe('Xoshiro128StarStar', () => {
  it('matches the reference algorithm from state [1, 2, 3, 4] (worked by hand)', () => {
    // out = rotl(s1·5, 7)·9: s1 = 2 → 11520; then s1 = 0, 1029, 12295 after each update.
    const rng = Xoshiro128StarStar.fromState([1, 2, 3, 4]);
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([
      11520, 0, 5927040, 70819200,
    ]);
  });

  it('produces uint32 values and uniforms in (0, 1) with mean ≈ 0.5', () => {
    const rng = Xoshiro128StarStar.fromSeed(123);
    let sum = 0;
    for (let k = 0; k < 100_000; k++) {
      const u = rng.nextOpenUnit();
      expect(u > 0 && u < 1).toBe(true);
      sum += u;
    }
    expect(Math.abs(sum / 100_000 - 0.5)).toBeLessThan(0.005);
    for (let k = 0; k < 1000; k++) {
      const x = rng.nextUint32();
      expect(Number.isInteger(x) && x >= 0 && x <= 0xffffffff).toBe(true);
    }
  });

  it('rejects an all-zero or non-uint32 state', () => {
    expect(() => Xoshiro128StarStar.fromState([0, 0, 0, 0])).toThrow(PipelineInputError);
    expect(() => Xoshiro128StarStar.fromState([1, 2, 3, 2 ** 32])).toThrow(/uint32/);
    expect(() => Xoshiro128StarStar.fromState([1, 2, 3, -1])).toThrow(/uint32/);
  });
});

describe('validateSeed', () => {
  it('accepts non-negative safe integers and rejects anything else on field seed', () => {
    expect(validateSeed(0)).toBe(0);
    expect(validateSeed(0xffffffff)).toBe(0xffffffff);
    expect(validateSeed(MAX_SEED)).toBe(Number.MAX_SAFE_INTEGER);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      let caught: unknown;
      try {
        validateSeed(bad);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(PipelineInputError);
      expect((caught as PipelineInputError).field).toBe('seed');
    }
    expect(() => seededNormal(-3, 4)).toThrow(/seed/);
  });
});

describe('seededNormal', () => {
  it('is identical for the same seed', () => {
    expect(Array.from(seededNormal(42, 1001))).toEqual(Array.from(seededNormal(42, 1001)));
  });

  it('differs between seeds, including seeds that differ only above bit 32', () => {
    const base = seededNormal(0, 64);
    for (const seed of [1, 2 ** 32, 2 ** 52, MAX_SEED]) {
      const other = seededNormal(seed, 64);
      const same = other.reduce((n, v, k) => n + (v === base[k] ? 1 : 0), 0);
      expect(same).toBe(0);
    }
  });

  it('keeps a stable stream: a shorter request is a prefix of a longer one', () => {
    const long = seededNormal(7, 10);
    expect(Array.from(seededNormal(7, 5))).toEqual(Array.from(long.subarray(0, 5)));
    expect(Array.from(seededNormal(7, 6))).toEqual(Array.from(long.subarray(0, 6)));
    expect(seededNormal(7, 0)).toHaveLength(0);
  });

  it('is pinned: renders record their seed, so these values must never change', () => {
    const values = Array.from(seededNormal(42, 4));
    expect(values).toEqual(PINNED_SEED_42.map((v) => expect.closeTo(v, 6)));
  });

  it('is standard normal over 1e5 samples', () => {
    const values = seededNormal(2024, 100_000);
    expect(values.every((v) => Number.isFinite(v))).toBe(true);
    const { mean, std } = stats(values);
    // standard error of the mean is 1/√1e5 ≈ 0.0032
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(std - 1)).toBeLessThan(0.015);
    const within = (s: number): number =>
      values.reduce((n, v) => n + (Math.abs(v) < s ? 1 : 0), 0) / values.length;
    expect(within(1)).toBeCloseTo(0.6827, 2);
    expect(within(2)).toBeCloseTo(0.9545, 2);
    expect(within(3)).toBeCloseTo(0.9973, 2);
    // consecutive samples (including the cos/sin pair of one Box–Muller draw) are uncorrelated
    let lag = 0;
    for (let k = 1; k < values.length; k++)
      lag += (values[k] as number) * (values[k - 1] as number);
    expect(Math.abs(lag / (values.length - 1))).toBeLessThan(0.015);
  });

  it('fills a caller-provided array from a caller-provided generator', () => {
    const out = new Float32Array(9);
    expect(fillStandardNormal(Xoshiro128StarStar.fromSeed(42), out)).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(seededNormal(42, 9)));
  });

  it('rejects a bad length', () => {
    expect(() => seededNormal(1, -1)).toThrow(/length/);
    expect(() => seededNormal(1, 2.5)).toThrow(/length/);
  });
});

const PINNED_SEED_42 = [
  1.3047486543655396, -0.2507018446922302, -3.2222461700439453, -0.8173552751541138,
];

describe('clipNoise', () => {
  it('gives clip 0 exactly the seed stream and every clip its own fixed stream', () => {
    expect(Array.from(clipNoise(42, 0, 8))).toEqual(Array.from(seededNormal(42, 8)));
    expect(Array.from(clipNoise(42, 3, 8))).toEqual(Array.from(clipNoise(42, 3, 8)));
    const clips = [0, 1, 2, 3].map((c) => clipNoise(42, c, 16));
    for (let a = 0; a < clips.length; a++) {
      for (let b = a + 1; b < clips.length; b++) {
        const same = (clips[a] as Float32Array).filter(
          (v, k) => v === (clips[b] as Float32Array)[k],
        ).length;
        expect(same).toBe(0);
      }
    }
    // clip 1 of seed s is not clip 0 of seed s + 1
    expect(Array.from(clipNoise(42, 1, 4))).not.toEqual(Array.from(clipNoise(43, 0, 4)));
  });

  it('rejects a bad clip index or seed', () => {
    expect(() => clipNoise(1, -1, 4)).toThrow(/clip/);
    expect(() => clipNoise(-1, 0, 4)).toThrow(/seed/);
  });
});
