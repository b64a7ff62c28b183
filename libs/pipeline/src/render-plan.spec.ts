import { PipelineInputError, latentFrameSpan, planRender, type RenderClip } from './index';
import { fieldOf } from './test-helpers';

const pick = (c: RenderClip): number[] => [
  c.latentFrames,
  c.frames,
  c.origin,
  c.start,
  c.end,
  c.emitStart,
  c.emitEnd,
];

describe('planRender', () => {
  const opts = { maxFramesPerClip: 33, temporalStride: 4 };

  it('makes one short clip when the render fits (reference = frame 0)', () => {
    // [F', frames, origin, start, end, emitStart, emitEnd]
    expect(planRender(1, opts).map(pick)).toEqual([[1, 1, 0, 0, 1, 0, 1]]);
    expect(planRender(10, opts).map(pick)).toEqual([[4, 13, 0, 0, 13, 0, 10]]);
    expect(planRender(33, opts).map(pick)).toEqual([[9, 33, 0, 0, 33, 0, 33]]);
  });

  it('chains clips that re-use the last 4 frames, worked by hand for 100 frames', () => {
    const clips = planRender(100, opts);
    expect(clips.map(pick)).toEqual([
      [9, 33, 0, 0, 33, 0, 29], // holds back 29..32 for the cross-fade
      [9, 33, 28, 29, 61, 29, 57], // reference at 28 (not output), overlap 29..32, new 33..60
      [9, 33, 56, 57, 89, 57, 85],
      [5, 17, 84, 85, 101, 85, 100], // 3 new latent frames cover 89..100 (101 is past the end)
    ]);
    expect(clips.map((c) => [c.overlapLatents, c.overlapFrames])).toEqual([
      [0, 0],
      [1, 4],
      [1, 4],
      [1, 4],
    ]);
  });

  it('emits every frame exactly once, in order, for many lengths and overlaps', () => {
    for (const total of [1, 2, 5, 9, 33, 34, 37, 38, 64, 65, 200, 1001]) {
      for (const [maxFramesPerClip, overlapLatents] of [
        [33, 1],
        [33, 2],
        [9, 1],
        [81, 1],
        [81, 4],
      ] as const) {
        const clips = planRender(total, { maxFramesPerClip, temporalStride: 4, overlapLatents });
        let next = 0;
        clips.forEach((clip, k) => {
          expect(clip.emitStart).toBe(next);
          expect(clip.emitEnd).toBeGreaterThan(clip.emitStart);
          next = clip.emitEnd;
          expect(clip.frames).toBe(4 * (clip.latentFrames - 1) + 1);
          expect(clip.frames).toBeLessThanOrEqual(maxFramesPerClip);
          expect(clip.end).toBe(clip.origin + clip.frames);
          const prev = clips[k - 1];
          if (prev) {
            expect(clip.start).toBe(prev.end - 4 * overlapLatents);
            expect(clip.origin).toBe(clip.start - 1);
            // the cross-faded frames lie inside what this clip writes
            expect(clip.emitEnd - clip.emitStart).toBeGreaterThanOrEqual(clip.overlapFrames);
          }
        });
        expect(next).toBe(total);
        expect((clips[clips.length - 1] as RenderClip).end - total).toBeLessThan(4);
      }
    }
  });

  it('rejects impossible layouts, naming the field', () => {
    expect(fieldOf(() => planRender(0, opts))).toBe('totalFrames');
    expect(fieldOf(() => planRender(10, { maxFramesPerClip: 32, temporalStride: 4 }))).toBe(
      'maxFramesPerClip',
    );
    expect(fieldOf(() => planRender(10, { ...opts, overlapLatents: 5 }))).toBe('overlapLatents');
    expect(fieldOf(() => planRender(10, { maxFramesPerClip: 5, temporalStride: 4 }))).toBe(
      'overlapLatents',
    );
    expect(fieldOf(() => planRender(10, { ...opts, overlapLatents: -1 }))).toBe('overlapLatents');
    expect(() => planRender(1.5, opts)).toThrow(PipelineInputError);
  });
});

describe('latentFrameSpan', () => {
  it('puts latent 0 on one frame and the others on 4 frames each', () => {
    const [, second] = planRender(100, { maxFramesPerClip: 33, temporalStride: 4 }) as [
      RenderClip,
      RenderClip,
    ];
    expect(latentFrameSpan(second, 0, 4)).toEqual([28, 28]);
    expect(latentFrameSpan(second, 1, 4)).toEqual([29, 32]);
    expect(latentFrameSpan(second, 8, 4)).toEqual([57, 60]);
  });
});
