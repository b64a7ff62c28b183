import { fieldOf } from '../test-helpers';
import { chwToRgbFrame, psnr, rgbToChw, videoFrameToRgb } from './frames';

describe('frame conversions', () => {
  it('packs planar −1..1 floats into RGB24 and back exactly', () => {
    const width = 3;
    const height = 2;
    const rgb = Uint8Array.from({ length: 18 }, (_, i) => (i * 37) % 256);
    const chw = rgbToChw(rgb, width, height);
    // Planar: the red plane first.
    expect(chw[0]).toBeCloseTo(rgb[0]! / 127.5 - 1, 6);
    expect(chw[6]).toBeCloseTo(rgb[1]! / 127.5 - 1, 6);
    expect(chw[12 + 5]).toBeCloseTo(rgb[17]! / 127.5 - 1, 6);
    expect(Array.from(chwToRgbFrame(chw, width, height).data)).toEqual(Array.from(rgb));
  });

  it('clamps and rounds', () => {
    // Planes r = [−2, −1], g = [0, 1], b = [2, NaN] of a 2×1 picture.
    const chw = Float32Array.from([-2, -1, 0, 1, 2, Number.NaN]);
    expect(Array.from(chwToRgbFrame(chw, 2, 1).data)).toEqual([0, 128, 255, 0, 255, 0]);
  });

  it('picks frame i of a [3, F, H, W] chunk', () => {
    const F = 3;
    const plane = F * 2 * 2;
    const video = new Float32Array(3 * plane);
    // Frame f, channel c = (f·3 + c) / 10 − 0.5.
    for (let c = 0; c < 3; c++) {
      for (let f = 0; f < F; f++)
        video.fill((f * 3 + c) / 10 - 0.5, c * plane + f * 4, c * plane + f * 4 + 4);
    }
    const frame = videoFrameToRgb(video, { frames: F, height: 2, width: 2 }, 2);
    const expected = [0, 1, 2].map((c) => Math.round(((2 * 3 + c) / 10 - 0.5 + 1) * 127.5));
    expect(Array.from(frame.data.subarray(0, 3))).toEqual(expected);
    expect(Array.from(frame.data.subarray(9, 12))).toEqual(expected);
    expect(fieldOf(() => videoFrameToRgb(video, { frames: F, height: 2, width: 2 }, 3))).toBe(
      'index',
    );
    expect(fieldOf(() => videoFrameToRgb(video, { frames: 2, height: 2, width: 2 }, 0))).toBe(
      'video',
    );
  });

  it('computes PSNR, optionally under a mask', () => {
    const a = new Uint8Array([10, 20, 30, 40, 50, 60]);
    expect(psnr(a, a)).toBe(Infinity);
    const b = new Uint8Array([10, 20, 30, 50, 60, 70]); // second pixel off by 10 per channel
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10((255 * 255) / 50), 6);
    expect(psnr(a, b, new Uint8Array([1, 0]))).toBe(Infinity);
    expect(psnr(a, b, new Uint8Array([0, 1]))).toBeCloseTo(10 * Math.log10((255 * 255) / 100), 6);
    expect(fieldOf(() => psnr(a, b, new Uint8Array([0, 0])))).toBe('mask');
  });
});
