import { ProgressTracker, type RenderProgress } from './index';

describe('ProgressTracker', () => {
  it('counts preparation, steps, decodes and writes; fraction ends at 1', () => {
    const seen: RenderProgress[] = [];
    const p = new ProgressTracker(2, 3, (e) => seen.push(e));
    // units: 1 + 2 · (3 + 2) = 11
    expect(p.report('preparing', 0, 0).fraction).toBe(0);
    expect(p.report('preparing', 0, 0).etaSeconds).toBeNull();
    p.prepared();
    p.stepDone(100);
    const first = p.report('denoising', 0, 1);
    expect(first.fraction).toBeCloseTo(2 / 11, 10);
    // 5 steps left · 100 ms + 2 decodes + 2 writes at the step time until measured
    expect(first.etaSeconds).toBeCloseTo(0.9, 10);
    p.stepDone(300);
    p.stepDone(200);
    p.decoded(50);
    p.written(10);
    const clip0 = p.report('encoding', 0, 3);
    expect(clip0.fraction).toBeCloseTo(6 / 11, 10);
    // 3 steps · 200 ms mean + 1 decode · 50 + 1 write · 10
    expect(clip0.etaSeconds).toBeCloseTo(0.66, 10);
    for (let i = 0; i < 3; i++) p.stepDone(200);
    p.decoded(50);
    p.written(10);
    const end = p.report('encoding', 1, 3);
    expect(end.fraction).toBe(1);
    expect(end.etaSeconds).toBe(0);
    expect(seen).toHaveLength(5);
    expect(end).toMatchObject({ clip: 1, clips: 2, step: 3, steps: 3 });
  });

  it('counts resumed clips as done', () => {
    const p = new ProgressTracker(4, 10, undefined);
    p.skipClips(3);
    expect(p.report('preparing', 3, 0).fraction).toBeCloseTo(36 / 49, 10);
  });
});
