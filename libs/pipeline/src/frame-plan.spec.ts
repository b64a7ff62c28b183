import {
  FPS,
  MAX_FRAMES_PER_CLIP,
  PipelineInputError,
  framesForDuration,
  latentFramesOf,
  planClip,
  planClips,
  type ClipPlan,
} from './index';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof PipelineInputError) return e.field;
    throw e;
  }
  return undefined;
}

describe('frame plan constants', () => {
  it('follows the release: 23 fps, at most 81 frames per clip', () => {
    expect(FPS).toBe(23);
    expect(MAX_FRAMES_PER_CLIP).toBe(81);
  });
});

describe('framesForDuration', () => {
  it('covers the duration with whole frames at 23 fps by default', () => {
    expect(framesForDuration(3)).toBe(69);
    expect(framesForDuration(3.01)).toBe(70);
    expect(framesForDuration(1 / 23)).toBe(1);
    expect(framesForDuration(0.001)).toBe(1);
  });

  it('honours another fps', () => {
    expect(framesForDuration(2.5, 24)).toBe(60);
    expect(framesForDuration(10, 25)).toBe(250);
  });

  it('does not add a frame for floating-point noise', () => {
    expect(0.28 * 25).toBeGreaterThan(7); // 7.000000000000001
    expect(framesForDuration(0.28, 25)).toBe(7);
    expect(framesForDuration(8.3, 30)).toBe(249); // 8.3 * 30 = 249.00000000000003
    expect(framesForDuration(0.28 + 1e-6, 25)).toBe(8); // a real fraction of a frame still counts
  });

  it('rejects non-finite and non-positive input, naming the field', () => {
    expect(fieldOf(() => framesForDuration(Number.NaN))).toBe('seconds');
    expect(fieldOf(() => framesForDuration(Number.POSITIVE_INFINITY))).toBe('seconds');
    expect(fieldOf(() => framesForDuration(0))).toBe('seconds');
    expect(fieldOf(() => framesForDuration(-1))).toBe('seconds');
    expect(fieldOf(() => framesForDuration(1, 0))).toBe('fps');
    expect(fieldOf(() => framesForDuration(1, Number.NaN))).toBe('fps');
  });
});

describe('planClip', () => {
  it('rounds up to 4n+1 and computes latent frames', () => {
    expect(planClip(1)).toEqual({ requestedFrames: 1, frames: 1, latentFrames: 1 });
    expect(planClip(2)).toEqual({ requestedFrames: 2, frames: 5, latentFrames: 2 });
    expect(planClip(5)).toEqual({ requestedFrames: 5, frames: 5, latentFrames: 2 });
    expect(planClip(69)).toEqual({ requestedFrames: 69, frames: 69, latentFrames: 18 });
    expect(planClip(70)).toEqual({ requestedFrames: 70, frames: 73, latentFrames: 19 });
    expect(planClip(81)).toEqual({ requestedFrames: 81, frames: 81, latentFrames: 21 });
  });

  it('refuses a clip longer than the maximum instead of shortening it', () => {
    expect(fieldOf(() => planClip(82))).toBe('frameCount');
    expect(planClip(40, 41).frames).toBe(41);
    expect(fieldOf(() => planClip(42, 41))).toBe('frameCount');
  });

  it('rejects bad frame counts', () => {
    expect(fieldOf(() => planClip(0))).toBe('frameCount');
    expect(fieldOf(() => planClip(1.5))).toBe('frameCount');
    expect(fieldOf(() => planClip(Number.NaN))).toBe('frameCount');
    expect(fieldOf(() => planClip(5, 0))).toBe('maxFrames');
  });
});

describe('latentFramesOf', () => {
  it('maps 4n+1 frames to n+1 latent frames and rejects other counts', () => {
    expect(latentFramesOf(1)).toBe(1);
    expect(latentFramesOf(81)).toBe(21);
    expect(fieldOf(() => latentFramesOf(80))).toBe('frames');
    expect(fieldOf(() => latentFramesOf(0))).toBe('frames');
  });
});

describe('planClips', () => {
  it('uses a single rounded-up clip when the render fits', () => {
    expect(planClips(81, { overlap: 5 })).toEqual([
      { index: 0, start: 0, frames: 81, latentFrames: 21, overlapWithPrevious: 0 },
    ]);
    expect(planClips(3, { overlap: 5 })).toEqual([
      { index: 0, start: 0, frames: 5, latentFrames: 2, overlapWithPrevious: 0 },
    ]);
  });

  it('chains overlapping clips, the last one as short as possible', () => {
    expect(planClips(100, { overlap: 5 })).toEqual([
      { index: 0, start: 0, frames: 81, latentFrames: 21, overlapWithPrevious: 0 },
      { index: 1, start: 76, frames: 25, latentFrames: 7, overlapWithPrevious: 5 },
    ]);
    expect(planClips(200, { overlap: 9 })).toEqual([
      { index: 0, start: 0, frames: 81, latentFrames: 21, overlapWithPrevious: 0 },
      { index: 1, start: 72, frames: 81, latentFrames: 21, overlapWithPrevious: 9 },
      { index: 2, start: 144, frames: 57, latentFrames: 15, overlapWithPrevious: 9 },
    ]);
  });

  it('rounds maxFrames down to 4n+1', () => {
    const clips = planClips(50, { maxFrames: 40, overlap: 0 });
    expect(clips.map((c) => [c.start, c.frames])).toEqual([
      [0, 37],
      [37, 13],
    ]);
  });

  it('always covers every frame with 4n+1 clips sharing exactly `overlap` frames', () => {
    const check = (total: number, maxFrames: number, overlap: number): void => {
      const clips: ClipPlan[] = planClips(total, { maxFrames, overlap });
      const limit = 4 * Math.floor((maxFrames - 1) / 4) + 1;
      expect(clips[0]?.start).toBe(0);
      clips.forEach((clip, k) => {
        expect(clip.index).toBe(k);
        expect((clip.frames - 1) % 4).toBe(0);
        expect(clip.frames).toBeLessThanOrEqual(limit);
        expect(clip.latentFrames).toBe((clip.frames - 1) / 4 + 1);
        const prev = clips[k - 1];
        if (prev) {
          expect(prev.frames).toBe(limit);
          expect(clip.overlapWithPrevious).toBe(overlap);
          expect(clip.start).toBe(prev.start + prev.frames - overlap);
        } else {
          expect(clip.overlapWithPrevious).toBe(0);
        }
      });
      const last = clips[clips.length - 1] as ClipPlan;
      const end = last.start + last.frames;
      expect(end).toBeGreaterThanOrEqual(total);
      expect(end - total).toBeLessThanOrEqual(3);
    };
    for (const total of [1, 2, 5, 80, 81, 82, 157, 158, 400, 1001]) {
      for (const [maxFrames, overlap] of [
        [81, 0],
        [81, 1],
        [81, 5],
        [81, 80],
        [17, 4],
        [9, 8],
      ] as const) {
        check(total, maxFrames, overlap);
      }
    }
  });

  it('rejects bad input, naming the field', () => {
    expect(fieldOf(() => planClips(0, { overlap: 0 }))).toBe('totalFrames');
    expect(fieldOf(() => planClips(Number.POSITIVE_INFINITY, { overlap: 0 }))).toBe('totalFrames');
    expect(fieldOf(() => planClips(100, { overlap: -1 }))).toBe('overlap');
    expect(fieldOf(() => planClips(100, { overlap: 81 }))).toBe('overlap');
    expect(fieldOf(() => planClips(100, { maxFrames: 40, overlap: 37 }))).toBe('overlap');
    expect(fieldOf(() => planClips(100, { maxFrames: 0, overlap: 0 }))).toBe('maxFrames');
  });
});
