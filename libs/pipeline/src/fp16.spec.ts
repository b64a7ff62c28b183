import { float16BitsToFloat32, float32ToFloat16Bits, fromFloat16, toFloat16 } from './index';

describe('float16 conversion', () => {
  it('encodes known values exactly', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite half
      [65520, 0x7c00], // halfway to the next power: rounds to even = Infinity
      [65519, 0x7bff],
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -25, 0x0000], // exact tie below the smallest subnormal → even (0)
      [1.5 * 2 ** -25, 0x0001],
      [Number.POSITIVE_INFINITY, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
      [1e-10, 0x0000],
      [1e10, 0x7c00],
    ];
    for (const [value, bits] of cases)
      expect([value, float32ToFloat16Bits(value)]).toEqual([value, bits]);
    expect(float32ToFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(float32ToFloat16Bits(Number.NaN) & 0x3ff).not.toBe(0);
  });

  it('rounds half to even between neighbours', () => {
    // 1 + 2^-11 is halfway between 1 (0x3c00) and 1 + 2^-10 (0x3c01): ties go to the even 0x3c00.
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    // 1 + 3·2^-11 is halfway between 0x3c01 and 0x3c02: ties go to 0x3c02.
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
  });

  it('round-trips every binary16 value', () => {
    for (let bits = 0; bits < 65536; bits++) {
      const value = float16BitsToFloat32(bits);
      if (Number.isNaN(value)) {
        expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(value)))).toBe(true);
      } else if (float32ToFloat16Bits(value) !== bits) {
        throw new Error(
          `0x${bits.toString(16)} → ${value} → 0x${float32ToFloat16Bits(value).toString(16)}`,
        );
      }
    }
  });

  it('converts arrays both ways within half precision', () => {
    const values = Float32Array.from([0.1, -3.25, 1000.5, 1e-5, 7]);
    const back = fromFloat16(toFloat16(values));
    values.forEach((v, k) =>
      expect(Math.abs((back[k] as number) - v)).toBeLessThanOrEqual(
        Math.abs(v) * 2 ** -11 + 2 ** -25,
      ),
    );
    expect(back[1]).toBe(-3.25);
    const out = new Uint16Array(5);
    expect(toFloat16(values, out)).toBe(out);
  });
});
