import { PipelineInputError } from '../errors';
import {
  clampRect,
  frameAt,
  frameCount,
  frameDifferences,
  frameLoudnessDb,
  mean,
  meanAbsDifference,
  median,
  pearson,
  regionMotion,
  scaleRect,
  seamRatio,
  toPixelRect,
} from './viewer-metrics';

/** A width × height RGB24 picture with every byte `value`, or given by `at(x, y, c)`. */
function picture(
  width: number,
  height: number,
  at: number | ((x: number, y: number, c: number) => number),
): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        data[3 * (y * width + x) + c] = typeof at === 'number' ? at : at(x, y, c);
      }
    }
  }
  return data;
}

describe('pearson', () => {
  it('matches values computed by hand', () => {
    // x = 1, 2, 3; y = 2, 4, 5: means 2 and 11/3; Σdx·dy = (−1)(−5/3) + 0 + (1)(4/3) = 3;
    // Σdx² = 2; Σdy² = 25/9 + 1/9 + 16/9 = 42/9 → r = 3 / √(2 · 42/9) = 3 / √(84/9) = 9 / √84.
    expect(pearson([1, 2, 3], [2, 4, 5])).toBeCloseTo(9 / Math.sqrt(84), 12);
    // Exact lines: ±1 whatever the scale and offset.
    expect(pearson([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3, 4], [5, 3, 1, -1])).toBeCloseTo(-1, 12);
    // x = −1, 0, 1; y = 1, 0, 1 (a parabola): Σdx·dy = (−1)(1/3) + 0 + (1)(1/3) = 0.
    expect(pearson([-1, 0, 1], [1, 0, 1])).toBeCloseTo(0, 12);
  });

  it('is 0 for a constant series and refuses unequal or too short series', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBe(0);
    expect(() => pearson([1, 2], [1, 2, 3])).toThrow(PipelineInputError);
    expect(() => pearson([1], [1])).toThrow(PipelineInputError);
  });
});

describe('median and mean', () => {
  it('match values computed by hand', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(mean([1, 2, 6])).toBe(3);
    expect(() => median([])).toThrow(PipelineInputError);
  });
});

describe('frames', () => {
  it('counts whole frames and slices one out', () => {
    const frames = new Uint8Array(2 * 2 * 3 * 3).map((_, i) => i);
    expect(frameCount(frames, 2, 2)).toBe(3);
    expect(Array.from(frameAt(frames, 2, 2, 1))).toEqual([
      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    ]);
    expect(() => frameCount(new Uint8Array(13), 2, 2)).toThrow(PipelineInputError);
    expect(() => frameAt(frames, 2, 2, 3)).toThrow(PipelineInputError);
  });
});

describe('meanAbsDifference', () => {
  it('averages |a − b| over the 3 channels of every pixel, or inside / outside a rectangle', () => {
    // 4 × 2 pixels; b is a plus 10 in the left half (x < 2) and plus 2 in the right half.
    const a = picture(4, 2, 100);
    const b = picture(4, 2, (x) => (x < 2 ? 110 : 102));
    // Whole picture: half the pixels differ by 10, half by 2 → 6.
    expect(meanAbsDifference(a, b, 4, 2)).toBe(6);
    expect(meanAbsDifference(a, b, 4, 2, { inside: { x0: 0, y0: 0, x1: 2, y1: 2 } })).toBe(10);
    expect(meanAbsDifference(a, b, 4, 2, { outside: { x0: 0, y0: 0, x1: 2, y1: 2 } })).toBe(2);
    // Inside the top row, leaving out its first pixel: pixels (1,0)=10, (2,0)=2, (3,0)=2 → 14/3.
    expect(
      meanAbsDifference(a, b, 4, 2, {
        inside: { x0: 0, y0: 0, x1: 4, y1: 1 },
        outside: { x0: 0, y0: 0, x1: 1, y1: 1 },
      }),
    ).toBeCloseTo(14 / 3, 12);
    // Channels count separately: only red differs, by 30 → 10.
    const red = picture(4, 2, (_x, _y, c) => (c === 0 ? 130 : 100));
    expect(meanAbsDifference(a, red, 4, 2)).toBe(10);
  });

  it('refuses pictures of the wrong size and regions without pixels', () => {
    expect(() => meanAbsDifference(picture(2, 2, 0), picture(2, 1, 0), 2, 2)).toThrow(
      PipelineInputError,
    );
    expect(() =>
      meanAbsDifference(picture(2, 2, 0), picture(2, 2, 0), 2, 2, {
        inside: { x0: 0, y0: 0, x1: 2, y1: 2 },
        outside: { x0: 0, y0: 0, x1: 2, y1: 2 },
      }),
    ).toThrow(PipelineInputError);
  });
});

describe('rectangles', () => {
  it('clamps and rounds outwards, scales about the centre, maps 0..1 to pixels', () => {
    expect(clampRect({ x0: -3, y0: 0.5, x1: 2.2, y1: 9 }, 4, 4)).toEqual({
      x0: 0,
      y0: 0,
      x1: 3,
      y1: 4,
    });
    expect(() => clampRect({ x0: 5, y0: 0, x1: 6, y1: 1 }, 4, 4)).toThrow(PipelineInputError);
    expect(scaleRect({ x0: 10, y0: 20, x1: 30, y1: 60 }, 1.5)).toEqual({
      x0: 5,
      y0: 10,
      x1: 35,
      y1: 70,
    });
    expect(toPixelRect({ x0: 0.25, y0: 0.5, x1: 0.75, y1: 1 }, 8, 4)).toEqual({
      x0: 2,
      y0: 2,
      x1: 6,
      y1: 4,
    });
  });
});

describe('regionMotion', () => {
  it('is, per frame, the mean |frame − reference| inside the rectangle', () => {
    const reference = picture(2, 2, 50);
    // Frame 0 is the reference; frame 1 brightens the top-left pixel by 40; frame 2 every pixel by 8.
    const f1 = picture(2, 2, (x, y) => (x === 0 && y === 0 ? 90 : 50));
    const f2 = picture(2, 2, 58);
    const frames = Buffer.concat([reference, f1, f2]);
    expect(
      Array.from(regionMotion(frames, reference, 2, 2, { x0: 0, y0: 0, x1: 1, y1: 1 })),
    ).toEqual([0, 40, 8]);
    // Whole picture: frame 1 = 40 / 4 pixels = 10.
    expect(
      Array.from(regionMotion(frames, reference, 2, 2, { x0: 0, y0: 0, x1: 2, y1: 2 })),
    ).toEqual([0, 10, 8]);
  });
});

describe('frameDifferences and seamRatio', () => {
  it('differences consecutive frames', () => {
    const frames = Buffer.concat([picture(1, 1, 10), picture(1, 1, 13), picture(1, 1, 7)]);
    expect(Array.from(frameDifferences(frames, 1, 1))).toEqual([3, 6]);
  });

  it('compares the differences into and out of each join with the median elsewhere', () => {
    // 7 frames → 6 differences; a join at frame 3 covers differences 2 (2→3) and 3 (3→4).
    const d = [2, 4, 9, 5, 3, 6];
    const seam = seamRatio(d, [3]);
    // join: max(9, 5) = 9; elsewhere 2, 4, 3, 6 → median 3.5.
    expect(seam).toEqual({ joinMax: 9, medianElsewhere: 3.5, ratio: 9 / 3.5 });
    // A join at the last frame has only the difference into it.
    expect(seamRatio(d, [6]).joinMax).toBe(6);
    expect(() => seamRatio(d, [0])).toThrow(PipelineInputError);
    expect(() => seamRatio(d, [7])).toThrow(PipelineInputError);
  });
});

describe('frameLoudnessDb', () => {
  it('is 10·log10 of the mean square over each frame interval, floored', () => {
    // 10 samples per second, 2 frames per second: frame 0 = samples 0–4, frame 1 = 5–9.
    const samples = Float32Array.from([0.1, -0.1, 0.1, -0.1, 0.1, 0, 0, 0, 0, 0]);
    const db = frameLoudnessDb(samples, 10, 2, 3);
    // Frame 0: mean square 0.01 → −20 dB. Frame 1: silence → floor. Frame 2: past the end → floor.
    expect(db[0]).toBeCloseTo(-20, 5);
    expect(db[1]).toBe(-80);
    expect(db[2]).toBe(-80);
    // Half the samples at 0.5: mean square 0.125 → 10·log10(0.125) = −9.0309 dB.
    const half = Float32Array.from([0.5, 0, -0.5, 0]);
    expect(frameLoudnessDb(half, 4, 1, 1, -60)[0]).toBeCloseTo(10 * Math.log10(0.125), 5);
  });
});
